using LZN.Native.Backends;
using LZN.Native.Diagnostics;
using LZN.Tests.Backends;

namespace LZN.Tests.Nn;

/// <summary>Every <see cref="INnKernels"/> op against its float64 reference, on each backend (CUDA in category GPU).</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class NnKernelTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private static readonly TestCaseData[] Geometries =
    [
        Geometry(2, new ConvGeometry(3, 7, 6, 3, 1, 1)),
        Geometry(3, new ConvGeometry(2, 9, 8, 3, 2, 1)),
        Geometry(2, new ConvGeometry(4, 5, 5, 2, 2, 0)),
        Geometry(1, new ConvGeometry(1, 4, 4, 5, 1, 2)),
        Geometry(16, new ConvGeometry(8, 16, 16, 3, 1, 1)), // above the CPU parallel threshold
    ];

    private static TestCaseData Geometry(int batchSize, ConvGeometry g) =>
        new TestCaseData(batchSize, g).SetArgDisplayNames($"{batchSize}x{g.Channels}x{g.Height}x{g.Width} k{g.KernelSize} s{g.Stride} p{g.Padding}");

    [TestCaseSource(nameof(Geometries))]
    public void Im2ColMatchesReference(int batchSize, ConvGeometry geometry)
    {
        var input = RandomValues(batchSize * geometry.InputSize, seed: 1);
        var (owner, view) = UploadAsSlice(input);
        using (owner)
        using (var columns = Backend.AllocateFloat((long)geometry.ColumnRows * batchSize * geometry.OutputPixels))
        {
            Backend.Fill(columns, float.NaN);
            Backend.Nn.Im2Col(view, batchSize, geometry, columns);
            AssertClose(columns.ToArray(), NnReference.Im2Col(input, batchSize, geometry), 0, 0, "columns");
        }
    }

    [TestCaseSource(nameof(Geometries))]
    public void Col2ImIsTheAdjointOfIm2Col(int batchSize, ConvGeometry geometry)
    {
        var columns = RandomValues(geometry.ColumnRows * batchSize * geometry.OutputPixels, seed: 2);
        var (owner, view) = UploadAsSlice(new float[batchSize * geometry.InputSize]);
        using (owner)
        using (var columnBuffer = Backend.FromHost(columns))
        {
            Backend.Fill(view, float.NaN);
            Backend.Nn.Col2Im(columnBuffer, batchSize, geometry, view);
            AssertClose(view.ToArray(), NnReference.Col2Im(columns, batchSize, geometry), 1e-6, 1e-6, "image");
            AssertMarginsUntouched(owner);
        }
    }

    [TestCase(3, 4, 5)]
    [TestCase(1, 7, 1)]
    [TestCase(64, 32, 49)]
    public void TransposeLeadingAxesSwapsTheFirstTwoAxes(int outer, int middle, int inner)
    {
        var x = RandomValues(outer * middle * inner, seed: 3);
        var expected = new double[x.Length];
        for (int o = 0; o < outer; o++)
        for (int m = 0; m < middle; m++)
        for (int e = 0; e < inner; e++)
            expected[(m * outer + o) * inner + e] = x[(o * middle + m) * inner + e];
        using var input = Backend.FromHost(x);
        using var output = Backend.AllocateFloat(x.Length);
        Backend.Nn.TransposeLeadingAxes(input, outer, middle, inner, output);
        AssertClose(output.ToArray(), expected, 0, 0, "y");
    }

    [TestCase(5, 16)]
    [TestCase(3, 37)]
    [TestCase(256, 300)]
    public void LayerNormForwardAndBackwardMatchReference(int rows, int dim)
    {
        var x = Shifted(RandomValues(rows * dim, seed: 4), 0.5f);
        var gamma = RandomValues(dim, seed: 5);
        var beta = RandomValues(dim, seed: 6);
        var dy = RandomValues(rows * dim, seed: 7);
        var start = RandomValues(dim, seed: 8);
        var (y, mean, rstd) = NnReference.GroupNormForward(x, gamma, beta, rows, dim, 1, 1, 1e-5);
        var (dx, dgamma, dbeta) = NnReference.GroupNormBackward(x, gamma, dy, rows, dim, 1, 1, 1e-5);
        using var xs = Backend.FromHost(x);
        using var gammas = Backend.FromHost(gamma);
        using var betas = Backend.FromHost(beta);
        using var ys = Backend.AllocateFloat(x.Length);
        using var means = Backend.AllocateFloat(rows);
        using var rstds = Backend.AllocateFloat(rows);
        using var dys = Backend.FromHost(dy);
        using var dxs = Backend.AllocateFloat(x.Length);
        using var dgammas = Backend.FromHost(start);
        using var dbetas = Backend.FromHost(start);
        Backend.Nn.LayerNormForward(xs, gammas, betas, rows, dim, 1e-5f, ys, means, rstds);
        Backend.Nn.LayerNormBackward(xs, gammas, means, rstds, dys, rows, dim, dxs, dgammas, dbetas);
        AssertClose(ys.ToArray(), y, 1e-5, 1e-5, "y");
        AssertClose(means.ToArray(), mean, 1e-6, 1e-6, "mean");
        AssertClose(rstds.ToArray(), rstd, 1e-5, 0, "rstd");
        AssertClose(dxs.ToArray(), dx, 1e-4, 1e-4, "dx");
        AssertClose(dgammas.ToArray(), Plus(start, dgamma), 1e-4, 1e-4, "dgamma");
        AssertClose(dbetas.ToArray(), Plus(start, dbeta), 1e-4, 1e-4, "dbeta");
    }

    [TestCase(2, 4, 9, 2)]
    [TestCase(3, 6, 1, 3)]
    [TestCase(1, 5, 13, 1)]
    [TestCase(32, 32, 196, 8)]
    public void GroupNormForwardAndBackwardMatchReference(int batchSize, int channels, int spatial, int groups)
    {
        int length = batchSize * channels * spatial;
        var x = Shifted(RandomValues(length, seed: 9), -0.3f);
        var gamma = RandomValues(channels, seed: 10);
        var beta = RandomValues(channels, seed: 11);
        var dy = RandomValues(length, seed: 12);
        var start = RandomValues(channels, seed: 13);
        var (y, mean, rstd) = NnReference.GroupNormForward(x, gamma, beta, batchSize, channels, spatial, groups, 1e-5);
        var (dx, dgamma, dbeta) = NnReference.GroupNormBackward(x, gamma, dy, batchSize, channels, spatial, groups, 1e-5);
        using var xs = Backend.FromHost(x);
        using var gammas = Backend.FromHost(gamma);
        using var betas = Backend.FromHost(beta);
        using var ys = Backend.AllocateFloat(length);
        using var means = Backend.AllocateFloat(batchSize * groups);
        using var rstds = Backend.AllocateFloat(batchSize * groups);
        using var dys = Backend.FromHost(dy);
        using var dxs = Backend.AllocateFloat(length);
        using var dgammas = Backend.FromHost(start);
        using var dbetas = Backend.FromHost(start);
        Backend.Nn.GroupNormForward(xs, gammas, betas, batchSize, channels, spatial, groups, 1e-5f, ys, means, rstds);
        Backend.Nn.GroupNormBackward(xs, gammas, means, rstds, dys, batchSize, channels, spatial, groups, dxs, dgammas, dbetas);
        AssertClose(ys.ToArray(), y, 1e-5, 1e-5, "y");
        AssertClose(means.ToArray(), mean, 1e-6, 1e-6, "mean");
        AssertClose(rstds.ToArray(), rstd, 1e-5, 0, "rstd");
        AssertClose(dxs.ToArray(), dx, 1e-4, 1e-4, "dx");
        AssertClose(dgammas.ToArray(), Plus(start, dgamma), 1e-4, 1e-3, "dgamma");
        AssertClose(dbetas.ToArray(), Plus(start, dbeta), 1e-4, 1e-3, "dbeta");
    }

    [TestCase(3, 2, 5)]
    [TestCase(64, 14, 14)]
    public void Upsample2xAndBackwardMatchReference(int planes, int height, int width)
    {
        var x = RandomValues(planes * height * width, seed: 14);
        var dy = RandomValues(4 * x.Length, seed: 15);
        using var xs = Backend.FromHost(x);
        using var ys = Backend.AllocateFloat(dy.Length);
        using var dys = Backend.FromHost(dy);
        using var dxs = Backend.AllocateFloat(x.Length);
        Backend.Nn.Upsample2x(xs, planes, height, width, ys);
        Backend.Nn.Upsample2xBackward(dys, planes, height, width, dxs);
        AssertClose(ys.ToArray(), NnReference.Upsample2x(x, planes, height, width), 0, 0, "y");
        AssertClose(dxs.ToArray(), NnReference.Upsample2xBackward(dy, planes, height, width), 1e-6, 1e-6, "dx");
    }

    [TestCase(2, 3, 5)]
    [TestCase(7, 13, 1)]
    [TestCase(128, 32, 196)]
    public void ChannelBiasAddAndBackwardMatchReference(int batchSize, int channels, int spatial)
    {
        int length = batchSize * channels * spatial;
        var x = RandomValues(length, seed: 16);
        var bias = RandomValues(channels, seed: 17);
        var start = RandomValues(channels, seed: 18);
        var expected = new double[length];
        var expectedGrad = start.Select(value => (double)value).ToArray();
        for (int i = 0; i < length; i++)
        {
            int c = i / spatial % channels;
            expected[i] = (double)x[i] + bias[c];
            expectedGrad[c] += x[i];
        }
        var (owner, view) = UploadAsSlice(x);
        using (owner)
        using (var biases = Backend.FromHost(bias))
        using (var grads = Backend.FromHost(start))
        {
            Backend.Nn.ChannelBiasBackward(view, batchSize, channels, spatial, grads);
            Backend.Nn.AddChannelBias(view, biases, batchSize, channels, spatial);
            AssertClose(view.ToArray(), expected, 1e-7, 1e-7, "x + bias");
            AssertClose(grads.ToArray(), expectedGrad, 1e-5, 1e-4, "dbias");
            AssertMarginsUntouched(owner);
        }
    }

    [TestCase(1000f)]
    [TestCase(1f)]
    public void SinusoidalEmbeddingMatchesReference(float timeScale)
    {
        float[] times = [0f, 0.001f, 0.25f, 0.5f, 0.999f, 1f];
        const int dim = 32;
        using var t = Backend.FromHost(times);
        using var output = Backend.AllocateFloat(times.Length * dim);
        Backend.Nn.SinusoidalEmbedding(t, times.Length, dim, timeScale, 10000f, output);
        // The argument s t f is rounded to float (|arg| <= 1000 here), so the absolute error is ~1e-4 at the largest.
        AssertClose(output.ToArray(), NnReference.Sinusoidal(times, dim, timeScale, 10000), 0, 2e-4, "embedding");
    }

    [Test]
    public void CopyColumnsJoinsAndSplitsBlocks()
    {
        const int rows = 5, colsA = 3, colsB = 4;
        var a = RandomValues(rows * colsA, seed: 19);
        var b = RandomValues(rows * colsB, seed: 20);
        using var bufferA = Backend.FromHost(a);
        using var bufferB = Backend.FromHost(b);
        using var joined = Backend.AllocateFloat(rows * (colsA + colsB));
        Backend.Nn.CopyColumns(bufferA, rows, colsA, 0, joined, colsA + colsB, 0, colsA);
        Backend.Nn.CopyColumns(bufferB, rows, colsB, 0, joined, colsA + colsB, colsA, colsB);
        var expected = new double[rows * (colsA + colsB)];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < colsA; j++) expected[r * 7 + j] = a[r * colsA + j];
            for (int j = 0; j < colsB; j++) expected[r * 7 + colsA + j] = b[r * colsB + j];
        }
        AssertClose(joined.ToArray(), expected, 0, 0, "joined");

        using var middle = Backend.AllocateFloat(rows * 2);
        Backend.Nn.CopyColumns(joined, rows, colsA + colsB, 2, middle, 2, 0, 2);
        var expectedMiddle = new double[rows * 2];
        for (int r = 0; r < rows; r++)
        {
            expectedMiddle[r * 2] = expected[r * 7 + 2];
            expectedMiddle[r * 2 + 1] = expected[r * 7 + 3];
        }
        AssertClose(middle.ToArray(), expectedMiddle, 0, 0, "split");
        Assert.Throws<ArgumentOutOfRangeException>(() => Backend.Nn.CopyColumns(joined, rows, 7, 6, middle, 2, 0, 2));
    }

    [Test]
    public void GatherRowsAndOneHotMatchReference()
    {
        const int sourceRows = 6, columns = 5, classes = 4;
        int[] indices = [5, 0, 3, 3, 1];
        var source = RandomValues(sourceRows * columns, seed: 21);
        using var sourceBuffer = Backend.FromHost(source);
        using var indexBuffer = Backend.FromHost(indices);
        using var gathered = Backend.AllocateFloat(indices.Length * columns);
        Backend.Nn.GatherRows(sourceBuffer, sourceRows, indexBuffer, indices.Length, columns, gathered);
        var expected = indices.SelectMany(row => source.Skip(row * columns).Take(columns).Select(value => (double)value)).ToArray();
        AssertClose(gathered.ToArray(), expected, 0, 0, "gathered");

        int[] labels = [2, 0, 3, 1, 2];
        using var labelBuffer = Backend.FromHost(labels);
        using var oneHot = Backend.AllocateFloat(labels.Length * classes);
        Backend.Fill(oneHot, 7f);
        Backend.Nn.OneHot(labelBuffer, labels.Length, classes, oneHot);
        var expectedOneHot = new double[labels.Length * classes];
        for (int r = 0; r < labels.Length; r++)
            expectedOneHot[r * classes + labels[r]] = 1;
        AssertClose(oneHot.ToArray(), expectedOneHot, 0, 0, "one-hot");
    }

    [Test]
    public void ShapeMismatchesAreRejected()
    {
        using var x = Backend.AllocateFloat(24);
        using var y = Backend.AllocateFloat(23);
        using var small = Backend.AllocateFloat(4);
        Assert.Throws<ArgumentException>(() => Backend.Nn.TransposeLeadingAxes(x, 2, 3, 4, y));
        Assert.Throws<ArgumentException>(() => Backend.Nn.GroupNormForward(x, small, small, 1, 4, 6, 3, 1e-5f, x, small, small));
        Assert.Throws<ArgumentException>(() => Backend.Nn.Im2Col(x, 1, new ConvGeometry(1, 4, 6, 3, 1, 1), y));
    }

    private static float[] Shifted(float[] values, float shift) => values.Select(value => value + shift).ToArray();

    private static double[] Plus(float[] start, double[] increment) => start.Select((value, i) => value + increment[i]).ToArray();
}
