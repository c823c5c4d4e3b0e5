using LZN.Native.Backends;
using LZN.Native.Diagnostics;

namespace LZN.Native.Verification;

/// <summary>
/// The <see cref="INnKernels"/> ops against float64 (<see cref="NnReference"/>): convolution geometries with
/// stride, padding and a kernel larger than the image; normalisations from one value per group to past the CPU's
/// parallel threshold; accumulating parameter gradients start from non-zero values.
/// </summary>
public static class NnTable
{
    private const string Family = "nn";

    private const float Epsilon = 1e-5f;

    private static readonly (int BatchSize, ConvGeometry Geometry)[] Geometries =
    [
        (2, new ConvGeometry(3, 7, 6, 3, 1, 1)),
        (3, new ConvGeometry(2, 9, 8, 3, 2, 1)),
        (2, new ConvGeometry(4, 5, 5, 2, 2, 0)),
        (1, new ConvGeometry(1, 4, 4, 5, 1, 2)),
        (16, new ConvGeometry(8, 16, 16, 3, 1, 1)),
    ];

    public static IReadOnlyList<VerificationCase> Cases { get; } = [.. Build()];

    private static IEnumerable<VerificationCase> Build()
    {
        foreach (var (batchSize, g) in Geometries)
        {
            string size = $"{batchSize}x{g.Channels}x{g.Height}x{g.Width} k{g.KernelSize} s{g.Stride} p{g.Padding}";
            int columnLength = g.ColumnRows * batchSize * g.OutputPixels;
            yield return Case("im2col", size, run =>
            {
                float[] input = run.Uniform(batchSize * g.InputSize); // [batchSize, C, H, W]
                var columns = run.Output("columns", columnLength);     // [C k k, batchSize P]
                run.Backend.Nn.Im2Col(run.Input(input), batchSize, g, columns);
                run.Expect(columns, NnReference.Im2Col(input, batchSize, g), 0);
            });
            yield return Case("col2im", size, run =>
            {
                float[] columns = run.Uniform(columnLength);            // [C k k, batchSize P]
                var image = run.Output("image", batchSize * g.InputSize); // [batchSize, C, H, W]
                run.Backend.Nn.Col2Im(run.Input(columns), batchSize, g, image);
                run.Expect(image, NnReference.Col2Im(columns, batchSize, g), 1e-6);
            });
        }

        foreach (var (outer, middle, inner) in new[] { (3, 4, 5), (1, 7, 1), (64, 32, 49) })
        {
            yield return Case("transpose leading axes", $"{outer}x{middle}x{inner}", run =>
            {
                float[] x = run.Uniform(outer * middle * inner); // [outer, middle, inner]
                var y = run.Output("y", x.Length);               // [middle, outer, inner]
                run.Backend.Nn.TransposeLeadingAxes(run.Input(x), outer, middle, inner, y);
                run.Expect(y, [.. Enumerable.Range(0, x.Length).Select(e =>
                    (double)x[(e / inner % outer * middle + e / (outer * inner)) * inner + e % inner])], 0);
            });
        }

        // (batchSize, channels, spatial, groups); layer norm is groups = 1, spatial = 1 over rows = batchSize.
        foreach (var (rows, dim) in new[] { (5, 16), (3, 37), (33, 70), (256, 300) })
        {
            yield return NormForward(rows, dim, 1, 1);
            yield return NormBackward(rows, dim, 1, 1);
        }
        foreach (var (batchSize, channels, spatial, groups) in new[] { (2, 4, 9, 2), (3, 6, 1, 3), (1, 5, 13, 1), (4, 12, 25, 3), (32, 32, 196, 8) })
        {
            yield return NormForward(batchSize, channels, spatial, groups);
            yield return NormBackward(batchSize, channels, spatial, groups);
        }

        foreach (var (planes, height, width) in new[] { (3, 2, 5), (64, 14, 14) })
        {
            string size = $"{planes}x{height}x{width}";
            yield return Case("upsample 2x", size, run =>
            {
                float[] x = run.Uniform(planes * height * width); // [planes, H, W]
                var y = run.Output("y", 4 * x.Length);             // [planes, 2H, 2W]
                run.Backend.Nn.Upsample2x(run.Input(x), planes, height, width, y);
                run.Expect(y, NnReference.Upsample2x(x, planes, height, width), 0);
            });
            yield return Case("upsample 2x backward", size, run =>
            {
                float[] dy = run.Uniform(4 * planes * height * width); // [planes, 2H, 2W]
                var dx = run.Output("dx", planes * height * width);     // [planes, H, W]
                run.Backend.Nn.Upsample2xBackward(run.Input(dy), planes, height, width, dx);
                run.Expect(dx, NnReference.Upsample2xBackward(dy, planes, height, width), 1e-6);
            });
        }

        foreach (var (batchSize, channels, spatial) in new[] { (2, 3, 5), (7, 13, 1), (64, 32, 100) })
        {
            string size = $"{batchSize}x{channels}x{spatial}";
            yield return Case("channel bias", size, run =>
            {
                float[] x = run.Uniform(batchSize * channels * spatial), bias = run.Uniform(channels); // [N, C, S], [C]
                var xBuffer = run.InOut(x); // [N, C, S]
                run.Backend.Nn.AddChannelBias(xBuffer, run.Input(bias), batchSize, channels, spatial);
                run.Expect(xBuffer, [.. x.Select((v, i) => v + (double)bias[i / spatial % channels])], 1e-7, output: "x");
            });
            yield return Case("channel bias backward", size, run =>
            {
                float[] dy = run.Uniform(batchSize * channels * spatial), start = run.Uniform(channels); // [N, C, S], [C]
                var dbias = run.InOut(start); // [C], accumulated
                run.Backend.Nn.ChannelBiasBackward(run.Input(dy), batchSize, channels, spatial, dbias);
                var expected = new double[channels];
                for (int i = 0; i < dy.Length; i++)
                    expected[i / spatial % channels] += dy[i];
                // Sums of signed terms cancel: each against sqrt(terms) (the rounding's growth), or itself when larger.
                run.ExpectIncrement(dbias, start, expected, 1e-6, ErrorMeasure.Relative(floor: Math.Sqrt(batchSize * spatial)));
            });
        }

        foreach (float timeScale in new[] { 1000f, 1f })
        {
            const int dim = 32;
            yield return Case("sinusoidal embedding", $"17x{dim} scale {timeScale}", run =>
            {
                // The ends of [0, 1] and random times between.
                float[] times = [0f, 0.001f, 0.25f, 0.5f, 0.999f, 1f, .. run.Uniform(11).Select(t => 0.5f + 0.5f * t)];
                var embedding = run.Output("embedding", times.Length * dim); // [rows, dim]
                run.Backend.Nn.SinusoidalEmbedding(run.Input(times), times.Length, dim, timeScale, 10000f, embedding);
                // The argument s t f is rounded to float (|arg| <= 1000): ~1e-4 absolute at the largest.
                run.Expect(embedding, NnReference.Sinusoidal(times, dim, timeScale, 10000), 2e-4);
            });
        }

        yield return CopyColumns(17, 9, 3, 13, 6, 5);
        yield return CopyColumns(5, 7, 2, 2, 0, 2);
        yield return CopyColumns(5, 4, 0, 7, 3, 4);

        foreach (var (rows, sourceRows, columns) in new[] { (5, 6, 5), (17, 10, 32) })
        {
            yield return Case("gather rows", $"{rows} of {sourceRows}x{columns}", run =>
            {
                float[] source = run.Uniform(sourceRows * columns); // [sourceRows, columns]
                int[] indices = run.Integers(rows, sourceRows);     // [rows]
                var destination = run.Output("destination", rows * columns); // [rows, columns]
                run.Backend.Nn.GatherRows(run.Input(source), sourceRows, run.Input(indices), rows, columns, destination);
                run.Expect(destination, [.. Enumerable.Range(0, rows * columns).Select(e => (double)source[indices[e / columns] * columns + e % columns])], 0);
            });
        }
        foreach (var (rows, classes) in new[] { (5, 4), (17, 10) })
        {
            yield return Case("one-hot", $"{rows}x{classes}", run =>
            {
                int[] labels = run.Integers(rows, classes);          // [rows]
                var oneHot = run.Output("oneHot", rows * classes);   // [rows, classes]
                run.Backend.Nn.OneHot(run.Input(labels), rows, classes, oneHot);
                run.Expect(oneHot, [.. Enumerable.Range(0, rows * classes).Select(e => labels[e / classes] == e % classes ? 1.0 : 0.0)], 0);
            });
        }
    }

    private static VerificationCase Case(string op, string size, Action<CaseRun> body) => new(Family, op, size, body);

    private static string NormName(int groups, int spatial) => groups == 1 && spatial == 1 ? "layer norm" : "group norm";

    private static string NormSize(int batchSize, int channels, int spatial, int groups) => groups == 1 && spatial == 1
        ? $"{batchSize}x{channels}"
        : $"{batchSize}x{channels}x{spatial}, {groups} groups";

    private static VerificationCase NormForward(int batchSize, int channels, int spatial, int groups) =>
        Case(NormName(groups, spatial), NormSize(batchSize, channels, spatial, groups), run =>
        {
            var (x, gamma, beta) = NormInputs(run, batchSize, channels, spatial);
            var (expectedY, expectedMean, expectedRstd) = NnReference.GroupNormForward(x, gamma, beta, batchSize, channels, spatial, groups, Epsilon);
            var y = run.Output("y", x.Length);                         // [batchSize, channels, spatial]
            var mean = run.Output("mean", batchSize * groups);         // [batchSize, groups]
            var rstd = run.Output("rstd", batchSize * groups);         // [batchSize, groups]
            if (groups == 1 && spatial == 1)
                run.Backend.Nn.LayerNormForward(run.Input(x), run.Input(gamma), run.Input(beta), batchSize, channels, Epsilon, y, mean, rstd);
            else
                run.Backend.Nn.GroupNormForward(run.Input(x), run.Input(gamma), run.Input(beta), batchSize, channels, spatial, groups, Epsilon, y, mean, rstd);
            // fp32 rounds x - mean relative to |x|, and rstd (1/std, up to 1/sqrt(eps) for a group of nearly equal
            // values) magnifies that: every statistic is measured against the size of the terms it is formed from.
            double largest = x.Max(v => Math.Abs((double)v));
            int perGroup = channels / groups * spatial;
            double terms = Enumerable.Range(0, x.Length).Max(e => Math.Abs(x[e]) * expectedRstd[e / perGroup] * Math.Abs(gamma[e / spatial % channels]));
            run.Expect(y, expectedY, 1e-5, ErrorMeasure.Relative(floor: terms));
            run.Expect(mean, expectedMean, 1e-5, ErrorMeasure.Relative(floor: largest));
            run.Expect(rstd, expectedRstd, 1e-5, ErrorMeasure.PerElement([.. expectedRstd.Select(r => r * (1 + largest * r))]));
        });

    private static VerificationCase NormBackward(int batchSize, int channels, int spatial, int groups) =>
        Case(NormName(groups, spatial) + " backward", NormSize(batchSize, channels, spatial, groups), run =>
        {
            var (x, gamma, _) = NormInputs(run, batchSize, channels, spatial);
            float[] dy = run.Uniform(x.Length), gammaStart = run.Uniform(channels), betaStart = run.Uniform(channels);
            // The saved statistics come from the reference, so this case holds the backward alone.
            var (_, mean, rstd) = NnReference.GroupNormForward(x, gamma, new float[channels], batchSize, channels, spatial, groups, Epsilon);
            var (expectedDx, dgammaIncrement, dbetaIncrement) = NnReference.GroupNormBackward(x, gamma, dy, batchSize, channels, spatial, groups, Epsilon);
            float[] savedMean = [.. mean.Select(v => (float)v)], savedRstd = [.. rstd.Select(v => (float)v)]; // [batchSize, groups]
            var dx = run.Output("dx", x.Length);    // [batchSize, channels, spatial]
            var dgamma = run.InOut(gammaStart);     // [channels], accumulated
            var dbeta = run.InOut(betaStart);       // [channels], accumulated
            if (groups == 1 && spatial == 1)
            {
                run.Backend.Nn.LayerNormBackward(run.Input(x), run.Input(gamma), run.Input(savedMean), run.Input(savedRstd), run.Input(dy),
                    batchSize, channels, dx, dgamma, dbeta);
            }
            else
            {
                run.Backend.Nn.GroupNormBackward(run.Input(x), run.Input(gamma), run.Input(savedMean), run.Input(savedRstd), run.Input(dy),
                    batchSize, channels, spatial, groups, dx, dgamma, dbeta);
            }
            // dx cancels (a group of two values normalises to +-1 whatever x is): each element against the size of
            // the terms it is formed from, rstd |dy gamma|.
            int perGroup = channels / groups * spatial;
            double terms = Enumerable.Range(0, x.Length).Max(e => rstd[e / perGroup] * Math.Abs(dy[e] * gamma[e / spatial % channels]));
            run.Expect(dx, expectedDx, 1e-5, ErrorMeasure.Relative(floor: terms));
            run.ExpectIncrement(dgamma, gammaStart, dgammaIncrement, 1e-4);
            run.ExpectIncrement(dbeta, betaStart, dbetaIncrement, 1e-5);
        });

    /// <summary>x [batchSize, channels, spatial] off centre and wider than 1, gamma and beta [channels].</summary>
    private static (float[] X, float[] Gamma, float[] Beta) NormInputs(CaseRun run, int batchSize, int channels, int spatial) =>
        ([.. run.Uniform(batchSize * channels * spatial, 3).Select(v => v + 0.5f)], run.Uniform(channels), run.Uniform(channels));

    private static VerificationCase CopyColumns(int rows, int sourceColumns, int sourceOffset, int destinationColumns, int destinationOffset, int count) =>
        Case("copy columns", $"{rows}x{sourceColumns}[{sourceOffset}..+{count}] -> {rows}x{destinationColumns}[{destinationOffset}..]", run =>
        {
            float[] source = run.Uniform(rows * sourceColumns), start = run.Uniform(rows * destinationColumns); // [rows, sourceColumns], [rows, destinationColumns]
            var destination = run.InOut(start); // [rows, destinationColumns]
            run.Backend.Nn.CopyColumns(run.Input(source), rows, sourceColumns, sourceOffset, destination, destinationColumns, destinationOffset, count);
            double[] expected = CaseRun.Widen(start);
            for (int r = 0; r < rows; r++)
            {
                for (int j = 0; j < count; j++)
                    expected[r * destinationColumns + destinationOffset + j] = source[r * sourceColumns + sourceOffset + j];
            }
            // Columns outside the block keep their values.
            run.Expect(destination, expected, 0, output: "destination");
        });
}
