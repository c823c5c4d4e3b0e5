using LZN.Native.Diagnostics;

namespace LZN.Native.Verification;

/// <summary>
/// Row-major GEMM and strided-batched GEMM against float64 (<see cref="ReferenceOps.Gemm"/>): every transpose
/// pair at degenerate, odd and multi-block shapes, alpha/beta variants, beta = 0 over a NaN C, k = 0. The row
/// padding of every matrix (ld beyond its width) holds NaN: reading it poisons C, and C's own must stay NaN.
/// </summary>
public static class GemmTable
{
    private const string Family = "gemm";

    /// <summary>(m, n, k): degenerate, odd, beyond one packing block in each dimension.</summary>
    private static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (7, 5, 3), (1, 33, 7), (33, 1, 129), (33, 17, 65), (129, 70, 33), (20, 40, 300), (100, 129, 257),
    ];

    public static IReadOnlyList<VerificationCase> Cases { get; } = [.. Build()];

    private static IEnumerable<VerificationCase> Build()
    {
        bool[] flags = [false, true];
        foreach (var (m, n, k) in Shapes)
        {
            foreach (bool transposeA in flags)
            {
                foreach (bool transposeB in flags)
                    yield return Gemm(transposeA, transposeB, m, n, k, alpha: 1.25f, beta: 0.5f, padding: 3);
            }
        }
        foreach (var (alpha, beta) in new[] { (1f, 0f), (1f, 1f), (-0.75f, 2f), (0f, 0.5f), (0f, 0f) })
        {
            yield return Gemm(false, false, 37, 41, 19, alpha, beta, padding: 0);
            yield return Gemm(true, true, 37, 41, 19, alpha, beta, padding: 2);
        }
        foreach (bool transposeA in flags)
        {
            foreach (bool transposeB in flags)
                yield return Gemm(transposeA, transposeB, 45, 38, 70, alpha: 1, beta: 0, padding: 4, nanC: true);
        }
        yield return Gemm(false, false, 5, 6, 0, alpha: 1, beta: 3, padding: 1);
        yield return Gemm(false, true, 5, 6, 0, alpha: 1, beta: 0, padding: 1, nanC: true);
        yield return Gemm(false, true, 3, 4200, 5, alpha: 1, beta: 0, padding: 0);
        yield return Gemm(true, false, 200, 96, 600, alpha: 0.5f, beta: 1, padding: 1);

        yield return StridedBatched(false, false, 4, 5, 3, 3, beta: -0.5f);
        yield return StridedBatched(true, false, 17, 9, 33, 4, beta: -0.5f);
        yield return StridedBatched(false, true, 64, 70, 80, 3, beta: -0.5f);
        yield return StridedBatched(true, true, 9, 130, 7, 5, beta: -0.5f);
        yield return StridedBatched(false, true, 33, 17, 40, 3, beta: 0);
    }

    private static string Transposes(bool transposeA, bool transposeB) => $"{(transposeA ? 'T' : 'N')}{(transposeB ? 'T' : 'N')}";

    private static VerificationCase Gemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, float beta,
        int padding, bool nanC = false)
    {
        string op = $"gemm {Transposes(transposeA, transposeB)}"
            + (alpha == 1.25f && beta == 0.5f ? "" : $" alpha {alpha} beta {beta}") + (nanC ? ", C NaN" : "");
        return new VerificationCase(Family, op, $"{m}x{n}x{k} ld+{padding}", run =>
        {
            int aRows = transposeA ? k : m, aCols = transposeA ? m : k;
            int bRows = transposeB ? n : k, bCols = transposeB ? k : n;
            int lda = Math.Max(aCols + padding, 1), ldb = Math.Max(bCols + padding, 1), ldc = n + padding;
            float[] a = Padded(run.Uniform(aRows * lda), aRows, aCols, lda); // [aRows, lda]
            float[] b = Padded(run.Uniform(bRows * ldb), bRows, bCols, ldb); // [bRows, ldb]
            float[] c = Padded(run.Uniform(m * ldc), m, n, ldc);             // [m, ldc]
            if (nanC)
            {
                for (int row = 0; row < m; row++)
                    Array.Fill(c, float.NaN, row * ldc, n);
            }
            var (expected, magnitudes) = ReferenceOps.Gemm(transposeA, transposeB, m, n, k, alpha, a, 0, lda, b, 0, ldb, beta, c, 0, ldc);
            var cBuffer = run.InOut(c); // [m, ldc]
            run.Backend.Gemm(transposeA, transposeB, m, n, k, alpha, run.Input(a), lda, run.Input(b), ldb, beta, cBuffer, ldc);
            run.Expect(cBuffer, expected, Bound(k), ErrorMeasure.PerElement(magnitudes), "C");
        });
    }

    private static VerificationCase StridedBatched(bool transposeA, bool transposeB, int m, int n, int k, int batchCount, float beta)
    {
        const float alpha = 0.75f;
        string op = $"gemm strided batched {Transposes(transposeA, transposeB)}" + (beta == 0 ? ", C NaN" : "");
        return new VerificationCase(Family, op, $"{batchCount}x{m}x{n}x{k}", run =>
        {
            int aRows = transposeA ? k : m, aCols = transposeA ? m : k;
            int bRows = transposeB ? n : k, bCols = transposeB ? k : n;
            int lda = aCols + 1, ldb = bCols + 2, ldc = n + 3;
            // Gaps between the batches too, all NaN.
            int strideA = aRows * lda + 7, strideB = bRows * ldb + 1, strideC = m * ldc + 5;
            float[] a = Batches(run.Uniform(strideA * batchCount), batchCount, strideA, aRows, aCols, lda); // [batchCount, strideA]
            float[] b = Batches(run.Uniform(strideB * batchCount), batchCount, strideB, bRows, bCols, ldb); // [batchCount, strideB]
            float[] c = Batches(run.Uniform(strideC * batchCount), batchCount, strideC, m, n, ldc);         // [batchCount, strideC]
            if (beta == 0)
            {
                for (int batch = 0; batch < batchCount; batch++)
                {
                    for (int row = 0; row < m; row++)
                        Array.Fill(c, float.NaN, batch * strideC + row * ldc, n);
                }
            }
            var expected = CaseRun.Widen(c);
            var magnitudes = new double[c.Length];
            for (int batch = 0; batch < batchCount; batch++)
            {
                var (values, batchMagnitudes) = ReferenceOps.Gemm(transposeA, transposeB, m, n, k, alpha, a, batch * strideA, lda,
                    b, batch * strideB, ldb, beta, c, batch * strideC, ldc);
                for (int row = 0; row < m; row++)
                {
                    int start = batch * strideC + row * ldc;
                    Array.Copy(values, start, expected, start, n);
                    Array.Copy(batchMagnitudes, start, magnitudes, start, n);
                }
            }
            var cBuffer = run.InOut(c); // [batchCount, strideC]
            run.Backend.GemmStridedBatched(transposeA, transposeB, m, n, k, alpha, run.Input(a), lda, strideA,
                run.Input(b), ldb, strideB, beta, cBuffer, ldc, strideC, batchCount);
            run.Expect(cBuffer, expected, Bound(k), ErrorMeasure.PerElement(magnitudes), "C");
        });
    }

    /// <summary>fp32 accumulation over k terms: ~8 sqrt(k) ulp of the term magnitudes, plus the final rounding of beta C.</summary>
    private static double Bound(int k) => 8 * Math.Sqrt(Math.Max(k, 1)) * 6e-8 + 1e-6;

    /// <summary>NaN in the ld padding of each row of [rows, ld] at offset: the op must never read it, and must leave C's alone.</summary>
    private static float[] Padded(float[] values, int rows, int cols, int ld, int offset = 0)
    {
        for (int row = 0; row < rows; row++)
            Array.Fill(values, float.NaN, offset + row * ld + cols, ld - cols);
        return values;
    }

    /// <summary>NaN everywhere in [batchCount, stride] outside each batch's [rows, cols] window of row stride ld.</summary>
    private static float[] Batches(float[] values, int batchCount, int stride, int rows, int cols, int ld)
    {
        for (int batch = 0; batch < batchCount; batch++)
        {
            Padded(values, rows, cols, ld, batch * stride);
            Array.Fill(values, float.NaN, batch * stride + rows * ld, stride - rows * ld);
        }
        return values;
    }
}
