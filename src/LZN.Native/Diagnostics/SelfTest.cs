using LZN.Native.Backends;

namespace LZN.Native.Diagnostics;

/// <summary>One line of a self-test: an op at a size, its error against the reference, and the bound it must meet.</summary>
public sealed record SelfTestRow(string Op, string Size, double MaxRelativeError, double Tolerance)
{
    public bool Passed => MaxRelativeError <= Tolerance;
}

/// <summary>
/// Runs every kernel of a backend on fresh random inputs (outputs poisoned with NaN first) and compares
/// each with its float64 reference. Used by `lzn selftest` and by the tests.
/// </summary>
public static partial class SelfTest
{
    /// <summary>fp32 kernels with O(k) accumulation against a float64 reference.</summary>
    private const double Fp32Tolerance = 1e-5;

    public static IReadOnlyList<SelfTestRow> Run(IBackend backend, int seed)
    {
        var context = new Context(backend, new Random(seed));
        var rows = new List<SelfTestRow>();
        rows.AddRange(Gemms(context));
        rows.AddRange(Elementwise(context));
        rows.AddRange(Reductions(context));
        rows.AddRange(RandomNumbers(backend, (ulong)seed));
        rows.AddRange(Nn(context));
        rows.AddRange(Zones(context));
        rows.AddRange(Training(context));
        return rows;
    }

    /// <summary>The backend under test and a host generator for inputs.</summary>
    private sealed class Context(IBackend backend, Random random)
    {
        public IBackend Backend { get; } = backend;

        public float[] Uniform(int length, float scale = 1)
        {
            var values = new float[length];
            for (int i = 0; i < length; i++)
                values[i] = scale * (2 * random.NextSingle() - 1);
            return values;
        }

        public int Next(int maxExclusive) => random.Next(maxExclusive);

        /// <summary>A device buffer filled with NaN, so an op that skips an element is caught.</summary>
        public FloatBuffer Poisoned(long length)
        {
            var buffer = Backend.AllocateFloat(length);
            Backend.Fill(buffer, float.NaN);
            return buffer;
        }
    }

    private static IEnumerable<SelfTestRow> Gemms(Context context)
    {
        var backend = context.Backend;
        const int m = 129, n = 65, k = 97;
        foreach (bool transposeA in new[] { false, true })
        {
            foreach (bool transposeB in new[] { false, true })
            {
                // Padded leading dimensions exercise lda/ldb > stored width.
                int lda = (transposeA ? m : k) + 3, ldb = (transposeB ? k : n) + 5;
                float[] a = context.Uniform((transposeA ? k : m) * lda);
                float[] b = context.Uniform((transposeB ? n : k) * ldb);
                float[] c = context.Uniform(m * n);
                using var da = backend.FromHost(a);
                using var db = backend.FromHost(b);
                using var dc = backend.FromHost(c);
                backend.Gemm(transposeA, transposeB, m, n, k, 0.75f, da, lda, db, ldb, 0.5f, dc, n);
                double[] expected = ReferenceOps.Gemm(transposeA, transposeB, m, n, k, 0.75, a, lda, b, ldb, 0.5, c, n);
                string name = $"gemm {(transposeA ? 'T' : 'N')}{(transposeB ? 'T' : 'N')}";
                yield return new SelfTestRow(name, $"{m}x{n}x{k}", ReferenceOps.MaxRelativeError(dc.ToArray(), expected), Fp32Tolerance);
            }
        }

        const int batches = 3, bm = 33, bn = 17, bk = 40;
        float[] ba = context.Uniform(batches * bm * bk), bb = context.Uniform(batches * bn * bk);
        using var dba = backend.FromHost(ba);
        using var dbb = backend.FromHost(bb);
        using var dbc = context.Poisoned(batches * bm * bn);
        backend.GemmStridedBatched(false, true, bm, bn, bk, 1, dba, bk, bm * bk, dbb, bk, bn * bk, 0, dbc, bn, bm * bn, batches);
        var batchedExpected = new List<double>();
        for (int batch = 0; batch < batches; batch++)
        {
            batchedExpected.AddRange(ReferenceOps.Gemm(false, true, bm, bn, bk, 1,
                ba.AsSpan(batch * bm * bk), bk, bb.AsSpan(batch * bn * bk), bk, 0, default, bn));
        }
        yield return new SelfTestRow("gemm strided batched NT", $"{batches}x{bm}x{bn}x{bk}",
            ReferenceOps.MaxRelativeError(dbc.ToArray(), batchedExpected.ToArray()), Fp32Tolerance);
    }

    private static IEnumerable<SelfTestRow> Elementwise(Context context)
    {
        var backend = context.Backend;
        const int length = 100_003;
        string size = length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        float[] x = context.Uniform(length, 4), y = context.Uniform(length, 4);
        using var dx = backend.FromHost(x);

        using (var dy = backend.FromHost(y))
        {
            backend.Axpby(1.5f, dx, -0.25f, dy);
            yield return Row("axpby", size, dy, x.Select((v, i) => 1.5 * v - 0.25 * y[i]).ToArray());
        }
        using (var dy = backend.FromHost(y))
        using (var dz = context.Poisoned(length))
        {
            backend.Multiply(dx, dy, dz);
            yield return Row("multiply", size, dz, x.Select((v, i) => (double)v * y[i]).ToArray());
        }
        using (var dz = backend.FromHost(x))
        {
            backend.ScaleShift(dz, -2f, 0.5f);
            yield return Row("scale-shift", size, dz, x.Select(v => -2.0 * v + 0.5).ToArray());
        }
        foreach (var kind in Enum.GetValues<ActivationKind>())
        {
            using var forward = context.Poisoned(length);
            backend.Activation(kind, dx, forward);
            yield return Row($"activation {kind}", size, forward, x.Select(v => ReferenceOps.Activation(kind, v)).ToArray());

            using var dy = backend.FromHost(y);
            using var backward = context.Poisoned(length);
            backend.ActivationBackward(kind, dx, dy, backward);
            // The reference derivative is a float64 central difference: its own error is ~1e-9.
            yield return Row($"activation {kind} backward", size, backward,
                x.Select((v, i) => y[i] * ReferenceOps.ActivationDerivative(kind, v)).ToArray(), 1e-5);
        }

        const int rows = 301, cols = 77;
        float[] matrix = context.Uniform(rows * cols), vector = context.Uniform(cols);
        using (var dm = backend.FromHost(matrix))
        using (var dv = backend.FromHost(vector))
        {
            backend.AddRowVector(dm, dv, rows, cols, 0.5f);
            yield return Row("add row vector", $"{rows}x{cols}", dm, matrix.Select((v, i) => v + 0.5 * vector[i % cols]).ToArray());
        }
    }

    private static IEnumerable<SelfTestRow> Reductions(Context context)
    {
        var backend = context.Backend;
        const int rows = 513, cols = 203;
        float[] x = context.Uniform(rows * cols, 3);
        using var dx = backend.FromHost(x);
        using (var result = context.Poisoned(1))
        {
            backend.Sum(dx, result);
            yield return Row("sum", $"{rows * cols}", result, [x.Sum(v => (double)v)], 1e-4);
            backend.SumOfSquares(dx, result);
            yield return Row("sum of squares", $"{rows * cols}", result, [x.Sum(v => (double)v * v)]);
        }
        using (var columns = context.Poisoned(cols))
        {
            backend.ColumnSums(dx, rows, cols, columns);
            yield return Row("column sums", $"{rows}x{cols}", columns,
                Enumerable.Range(0, cols).Select(c => Enumerable.Range(0, rows).Sum(r => (double)x[r * cols + c])).ToArray());
        }
        using (var rowSums = context.Poisoned(rows))
        {
            backend.RowSums(dx, rows, cols, rowSums);
            yield return Row("row sums", $"{rows}x{cols}", rowSums,
                Enumerable.Range(0, rows).Select(r => Enumerable.Range(0, cols).Sum(c => (double)x[r * cols + c])).ToArray());
        }
        using (var softmax = context.Poisoned(rows * cols))
        {
            backend.SoftmaxRows(dx, rows, cols, softmax);
            yield return Row("softmax rows", $"{rows}x{cols}", softmax, ReferenceOps.SoftmaxRows(x, rows, cols));
        }
    }

    private static IEnumerable<SelfTestRow> RandomNumbers(IBackend backend, ulong seed)
    {
        const int length = 65_537;
        const ulong offset = 1_000_003;
        using var buffer = backend.AllocateFloat(length);
        backend.Fill(buffer, float.NaN);
        backend.FillNormal(buffer, seed, offset, 0.5f, 2f);
        var expected = new double[length];
        for (int i = 0; i < length; i++)
            expected[i] = 0.5 + 2.0 * Philox.Normal(seed, offset + (ulong)i);
        yield return Row("philox normal", $"{length}", buffer, expected);

        backend.Fill(buffer, float.NaN);
        backend.FillUniform(buffer, seed, offset, -1f, 3f);
        for (int i = 0; i < length; i++)
            expected[i] = -1.0 + 4.0 * Philox.Uniform(seed, offset + (ulong)i);
        yield return Row("philox uniform", $"{length}", buffer, expected);

        backend.Fill(buffer, float.NaN);
        backend.FillBernoulli(buffer, seed, offset, 0.3f, 1f / 0.3f);
        for (int i = 0; i < length; i++)
            expected[i] = Philox.Uniform(seed, offset + (ulong)i) < 0.3f ? 1f / 0.3f : 0.0;
        yield return Row("philox bernoulli", $"{length}", buffer, expected);
    }

    private static SelfTestRow Row(string op, string size, FloatBuffer actual, double[] expected, double tolerance = Fp32Tolerance) =>
        new(op, size, ReferenceOps.MaxRelativeError(actual.ToArray(), expected), tolerance);
}
