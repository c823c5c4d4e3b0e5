using LZN.Native.Backends;
using LZN.Tests.Reference;

namespace LZN.Tests.Backends;

[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class GemmTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    /// <summary>Shapes (m, n, k): degenerate, odd, beyond one packing block in each dimension.</summary>
    private static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (7, 5, 3), (1, 33, 7), (33, 1, 129), (33, 17, 65), (129, 70, 33), (20, 40, 300), (100, 129, 257),
    ];

    public static IEnumerable<TestCaseData> TransposeAndShapeCases()
    {
        foreach (var (m, n, k) in Shapes)
        {
            foreach (bool transposeA in new[] { false, true })
            {
                foreach (bool transposeB in new[] { false, true })
                    yield return new TestCaseData(transposeA, transposeB, m, n, k).SetArgDisplayNames($"{(transposeA ? "T" : "N")}{(transposeB ? "T" : "N")}", $"{m}x{n}x{k}");
            }
        }
    }

    [TestCaseSource(nameof(TransposeAndShapeCases))]
    public void MatchesFloat64ReferenceWithPaddedLeadingDimensions(bool transposeA, bool transposeB, int m, int n, int k) =>
        CheckGemm(transposeA, transposeB, m, n, k, alpha: 1.25f, beta: 0.5f, padding: 3);

    [TestCase(1f, 0f)]
    [TestCase(1f, 1f)]
    [TestCase(-0.75f, 2f)]
    [TestCase(0f, 0.5f)]
    [TestCase(0f, 0f)]
    public void HonoursAlphaAndBeta(float alpha, float beta)
    {
        CheckGemm(false, false, 37, 41, 19, alpha, beta, padding: 0);
        CheckGemm(true, true, 37, 41, 19, alpha, beta, padding: 2);
    }

    [Test]
    public void BetaZeroIgnoresNaNInC([Values] bool transposeA, [Values] bool transposeB) =>
        CheckGemm(transposeA, transposeB, 45, 38, 70, alpha: 1, beta: 0, padding: 4, initialC: float.NaN);

    [Test]
    public void EmptyDepthScalesCByBeta()
    {
        CheckGemm(false, false, 5, 6, 0, alpha: 1, beta: 3, padding: 1);
        CheckGemm(false, true, 5, 6, 0, alpha: 1, beta: 0, padding: 1, initialC: float.NaN);
    }

    [Test]
    public void WideAndDeepMatricesSpanSeveralBlocks()
    {
        CheckGemm(false, true, 3, 4200, 5, alpha: 1, beta: 0, padding: 0);
        CheckGemm(true, false, 200, 96, 600, alpha: 0.5f, beta: 1, padding: 1);
    }

    [TestCase(false, false, 4, 5, 3, 3)]
    [TestCase(true, false, 17, 9, 33, 4)]
    [TestCase(false, true, 64, 70, 80, 3)]
    [TestCase(true, true, 9, 130, 7, 5)]
    public void StridedBatchedMatchesPerBatchReference(bool transposeA, bool transposeB, int m, int n, int k, int batchCount)
    {
        int aRows = transposeA ? k : m, aCols = transposeA ? m : k;
        int bRows = transposeB ? n : k, bCols = transposeB ? k : n;
        int lda = aCols + 1, ldb = bCols + 2, ldc = n + 3;
        long strideA = aRows * lda + 7, strideB = bRows * ldb + 1, strideC = m * ldc + 5;
        var a = RandomValues((int)strideA * batchCount, seed: 1);
        var b = RandomValues((int)strideB * batchCount, seed: 2);
        var c = RandomValues((int)strideC * batchCount, seed: 3);
        var expected = Array.ConvertAll(c, v => (double)v);
        var magnitudes = new double[c.Length];
        for (int batch = 0; batch < batchCount; batch++)
        {
            var (values, batchMagnitudes) = BackendOracle.Gemm(transposeA, transposeB, m, n, k, 0.75, a, (int)(batch * strideA), lda,
                b, (int)(batch * strideB), ldb, -0.5, c, (int)(batch * strideC), ldc);
            for (int row = 0; row < m; row++)
            {
                int start = (int)(batch * strideC) + row * ldc;
                Array.Copy(values, start, expected, start, n);
                Array.Copy(batchMagnitudes, start, magnitudes, start, n);
            }
        }

        var (aOwner, aView) = UploadAsSlice(a);
        var (bOwner, bView) = UploadAsSlice(b);
        var (cOwner, cView) = UploadAsSlice(c);
        using (aOwner)
        using (bOwner)
        using (cOwner)
        {
            Backend.GemmStridedBatched(transposeA, transposeB, m, n, k, 0.75f, aView, lda, strideA, bView, ldb, strideB,
                -0.5f, cView, ldc, strideC, batchCount);
            AssertGemmClose(cView.ToArray(), expected, magnitudes, k, "strided batched C");
            AssertMarginsUntouched(cOwner);
        }
    }

    [Test]
    public void RejectsShortLeadingDimensionsAndBuffers()
    {
        using var a = Backend.AllocateFloat(12); // [3, 4]
        using var b = Backend.AllocateFloat(20); // [4, 5]
        using var c = Backend.AllocateFloat(15); // [3, 5]
        Assert.Multiple(() =>
        {
            Assert.That(() => Backend.Gemm(false, false, 3, 5, 4, 1, a, 3, b, 5, 0, c, 5), Throws.InstanceOf<ArgumentException>());
            Assert.That(() => Backend.Gemm(false, false, 3, 5, 4, 1, a, 4, b, 5, 0, c, 6), Throws.InstanceOf<ArgumentException>());
            Assert.That(() => Backend.Gemm(false, false, 4, 5, 4, 1, a, 4, b, 5, 0, c, 5), Throws.InstanceOf<ArgumentException>());
            Assert.That(() => Backend.GemmStridedBatched(false, false, 3, 5, 4, 1, a, 4, 0, b, 5, 0, 0, c, 5, 15, 2),
                Throws.InstanceOf<ArgumentException>());
        });
    }

    /// <summary>
    /// Runs one GEMM on slices with the padding between rows (and around the matrices) set to NaN, so a read
    /// outside op(A)/op(B) or a write outside C's window shows up, and compares with the float64 oracle.
    /// </summary>
    private void CheckGemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, float beta, int padding, float? initialC = null)
    {
        int aRows = transposeA ? k : m, aCols = transposeA ? m : k;
        int bRows = transposeB ? n : k, bCols = transposeB ? k : n;
        int lda = aCols + padding, ldb = bCols + padding, ldc = n + padding;
        var a = WithNaNPadding(RandomValues(Math.Max(aRows * lda, 1), seed: m * 31 + k), aRows, aCols, lda);
        var b = WithNaNPadding(RandomValues(Math.Max(bRows * ldb, 1), seed: n * 17 + k), bRows, bCols, ldb);
        var c = WithNaNPadding(RandomValues(m * ldc, seed: m + n), m, n, ldc);
        if (initialC is float fill)
        {
            for (int row = 0; row < m; row++)
                Array.Fill(c, fill, row * ldc, n);
        }
        var (expected, magnitudes) = BackendOracle.Gemm(transposeA, transposeB, m, n, k, alpha, a, 0, Math.Max(lda, 1), b, 0, Math.Max(ldb, 1), beta, c, 0, ldc);

        var (aOwner, aView) = UploadAsSlice(a);
        var (bOwner, bView) = UploadAsSlice(b);
        var (cOwner, cView) = UploadAsSlice(c);
        using (aOwner)
        using (bOwner)
        using (cOwner)
        {
            Backend.Gemm(transposeA, transposeB, m, n, k, alpha, aView, Math.Max(lda, 1), bView, Math.Max(ldb, 1), beta, cView, ldc);
            AssertGemmClose(cView.ToArray(), expected, magnitudes, k, $"C of {m}x{n}x{k}");
            AssertMarginsUntouched(cOwner);
        }
    }

    /// <summary>NaN in the ld padding of each row: the op must never read it (and must leave C's padding alone).</summary>
    private static float[] WithNaNPadding(float[] values, int rows, int cols, int ld)
    {
        for (int row = 0; row < rows; row++)
        {
            for (int col = cols; col < ld; col++)
                values[row * ld + col] = float.NaN;
        }
        return values;
    }

    /// <summary>Float32 accumulation over k terms: allow ~k^0.5 * 8 ulp of the term magnitudes (plus a floor for tiny sums).</summary>
    private static void AssertGemmClose(float[] actual, double[] expected, double[] magnitudes, int k, string what)
    {
        double relative = 8 * Math.Sqrt(Math.Max(k, 1)) * 6e-8;
        for (int i = 0; i < actual.Length; i++)
        {
            if (double.IsNaN(expected[i]))
            {
                if (!float.IsNaN(actual[i]))
                    Assert.Fail($"{what}: element {i} (padding) became {actual[i]:R}.");
                continue;
            }
            double tolerance = relative * magnitudes[i] + 1e-6 * Math.Abs(expected[i]) + 1e-30;
            if (!(Math.Abs(actual[i] - expected[i]) <= tolerance))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (tolerance {tolerance:G3}).");
        }
    }
}
