using LZN.Native.Interop.Cuda;

namespace LZN.Tests.Emulator;

/// <summary>
/// The emulated cuBLAS (GEMMs on OpenBLAS): cuBLAS's own argument checks, column-major strided batches
/// against a float64 reference, beta = 0 never reading C, TF32 math rounding its inputs, and an operand
/// reaching past its allocation reported as the illegal address a real GEMM kernel would cause.
/// </summary>
[Category("Emulator")]
public sealed unsafe class EmulatedCublasTests : EmulatedDeviceTest
{
    private CublasHandle? _handle;

    private IntPtr Handle => _handle?.Handle ?? throw new InvalidOperationException("created in SetUp");

    [SetUp]
    public void CreateHandle() => _handle = CublasHandle.Create(Device.Backend.Context);

    [TearDown]
    public void DestroyHandle() => _handle?.Dispose();

    private DeviceMemory Upload(float[] values) => Device.Upload(values);

    private static float[] Download(DeviceMemory memory, int length) => EmulatedDevice.Download(memory, length);

    private static float[] Random(int length, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => 2 * random.NextSingle() - 1)];
    }

    private cublasStatus_t Sgemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, DeviceMemory a, int lda,
        DeviceMemory b, int ldb, float beta, DeviceMemory c, int ldc) =>
        Cublas.cublasSgemm_v2(Handle, ta, tb, m, n, k, &alpha, a.Address, lda, b.Address, ldb, &beta, c.Address, ldc);

    [TestCase(cublasOperation_t.CUBLAS_OP_N, 4, 8, 8, "lda below m")]
    [TestCase(cublasOperation_t.CUBLAS_OP_T, 3, 8, 8, "lda below k for a transposed A")]
    [TestCase(cublasOperation_t.CUBLAS_OP_N, 8, 3, 8, "ldb below k")]
    [TestCase(cublasOperation_t.CUBLAS_OP_N, 8, 8, 3, "ldc below m")]
    public void LeadingDimensionsBelowTheStoredRowsAreInvalid(cublasOperation_t transposeA, int lda, int ldb, int ldc, string what)
    {
        using var a = Upload(new float[64]);
        using var b = Upload(new float[64]);
        using var c = Upload(new float[64]);
        Assert.That(Sgemm(transposeA, cublasOperation_t.CUBLAS_OP_N, 8, 8, 8, 1, a, lda, b, ldb, 0, c, ldc),
            Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_INVALID_VALUE), what);
        Assert.That(Sgemm(transposeA, cublasOperation_t.CUBLAS_OP_N, 8, 8, 8, 1, a, 8, b, 8, 0, c, 8),
            Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_SUCCESS), "the same call with every leading dimension 8");
    }

    [Test]
    public void NegativeSizesUnknownTransposesAndNoHandleAreRefused()
    {
        using var a = Upload(new float[64]);
        Assert.That(Sgemm(cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N, -1, 8, 8, 1, a, 8, a, 8, 0, a, 8), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_INVALID_VALUE));
        Assert.That(Sgemm((cublasOperation_t)7, cublasOperation_t.CUBLAS_OP_N, 8, 8, 8, 1, a, 8, a, 8, 0, a, 8), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_INVALID_VALUE));
        float one = 1;
        Assert.That(Cublas.cublasSgemmStridedBatched(Handle, cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N, 2, 2, 2, &one, a.Address, 2, 4,
            a.Address, 2, 4, &one, a.Address, 2, 4, -1), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_INVALID_VALUE));
        Assert.That(Cublas.cublasSgemm_v2(IntPtr.Zero, cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N, 2, 2, 2, &one, a.Address, 2, a.Address, 2, &one,
            a.Address, 2), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_NOT_INITIALIZED));
        Assert.That(Cublas.cublasGemmEx(Handle, cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N, 2, 2, 2, &one, a.Address, cudaDataType.CUDA_R_16F, 2,
            a.Address, cudaDataType.CUDA_R_16F, 2, &one, a.Address, cudaDataType.CUDA_R_32F, 2, cublasComputeType_t.CUBLAS_COMPUTE_32F,
            cublasGemmAlgo_t.CUBLAS_GEMM_DEFAULT), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_NOT_SUPPORTED));
    }

    [TestCase(cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N)]
    [TestCase(cublasOperation_t.CUBLAS_OP_T, cublasOperation_t.CUBLAS_OP_N)]
    [TestCase(cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_T)]
    [TestCase(cublasOperation_t.CUBLAS_OP_T, cublasOperation_t.CUBLAS_OP_T)]
    public void StridedBatchesMatchAColumnMajorFloat64Reference(cublasOperation_t ta, cublasOperation_t tb)
    {
        const int m = 7, n = 5, k = 6, batches = 3;
        bool transposeA = ta == cublasOperation_t.CUBLAS_OP_T, transposeB = tb == cublasOperation_t.CUBLAS_OP_T;
        // Column-major: A is [rowsA x colsA] with leading dimension lda (padded), likewise B and C.
        int rowsA = transposeA ? k : m, colsA = transposeA ? m : k, rowsB = transposeB ? n : k, colsB = transposeB ? k : n;
        int lda = rowsA + 2, ldb = rowsB + 1, ldc = m + 3;
        long strideA = lda * colsA + 5, strideB = ldb * colsB + 1, strideC = ldc * n + 2;
        float[] a = Random((int)strideA * batches, 1), b = Random((int)strideB * batches, 2), c = Random((int)strideC * batches, 3);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = Upload(c);
        float alpha = 0.75f, beta = -0.5f;
        Assert.That(Cublas.cublasSgemmStridedBatched(Handle, ta, tb, m, n, k, &alpha, da.Address, lda, strideA, db.Address, ldb, strideB,
            &beta, dc.Address, ldc, strideC, batches), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_SUCCESS));
        var actual = Download(dc, c.Length);
        for (int batch = 0; batch < batches; batch++)
        {
            for (int j = 0; j < n; j++)
            {
                for (int i = 0; i < m; i++)
                {
                    double sum = 0;
                    for (int p = 0; p < k; p++)
                    {
                        double av = transposeA ? a[batch * strideA + i * lda + p] : a[batch * strideA + p * lda + i];
                        double bv = transposeB ? b[batch * strideB + p * ldb + j] : b[batch * strideB + j * ldb + p];
                        sum += av * bv;
                    }
                    long e = batch * strideC + j * ldc + i;
                    double expected = alpha * sum + beta * c[e];
                    Assert.That(actual[e], Is.EqualTo(expected).Within(1e-5), $"batch {batch}, C[{i},{j}]");
                }
            }
        }
        // Padding between columns and batches is never written.
        for (long e = 0; e < c.Length; e++)
        {
            long inBatch = e % strideC;
            if (e >= batches * strideC || inBatch >= ldc * n || inBatch % ldc >= m)
                Assert.That(actual[e], Is.EqualTo(c[e]), $"padding element {e}");
        }
    }

    [Test]
    public void BetaZeroNeverReadsC()
    {
        using var a = Upload(Random(16, 4));
        using var b = Upload(Random(16, 5));
        using var c = Upload([.. Enumerable.Repeat(float.NaN, 16)]);
        Assert.That(Sgemm(cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N, 4, 4, 4, 1, a, 4, b, 4, 0, c, 4), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_SUCCESS));
        Assert.That(Download(c, 16), Has.None.NaN);
        Assert.That(Sgemm(cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N, 4, 4, 0, 1, a, 4, b, 1, 0, c, 4), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_SUCCESS));
        Assert.That(Download(c, 16), Is.All.Zero, "k = 0 and beta = 0 give zeros");
    }

    [Test]
    public void Tf32MathRoundsTheInputsToTenMantissaBits()
    {
        // 1 + 2^-12 is not a TF32 number (10 mantissa bits): it rounds to 1.
        float x = 1 + MathF.Pow(2, -12);
        using var a = Upload([x]);
        using var b = Upload([1f]);
        using var c = Upload([0f]);
        Assert.That(Sgemm(cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N, 1, 1, 1, 1, a, 1, b, 1, 0, c, 1), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_SUCCESS));
        Assert.That(Download(c, 1)[0], Is.EqualTo(x), "fp32 math keeps the bit");
        Cublas.ThrowIfFailed(Cublas.cublasSetMathMode(_handle!, cublasMath_t.CUBLAS_TF32_TENSOR_OP_MATH));
        Assert.That(Sgemm(cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N, 1, 1, 1, 1, a, 1, b, 1, 0, c, 1), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_SUCCESS));
        Assert.That(Download(c, 1)[0], Is.EqualTo(1f), "TF32 math drops it");
    }

    [Test]
    public void AnOperandPastItsAllocationIsAnIllegalAddressAtTheNextSynchronisation()
    {
        using var a = Upload(new float[15]);
        using var b = Upload(new float[16]);
        using var c = Upload(new float[16]);
        Assert.That(Sgemm(cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N, 4, 4, 4, 1, a, 4, b, 4, 0, c, 4), Is.EqualTo(cublasStatus_t.CUBLAS_STATUS_SUCCESS));
        var fault = Assert.Throws<CudaException>(() => CudaDriver.ThrowIfFailed(CudaDriver.cuCtxSynchronize()))!;
        Assert.That(fault.Result, Is.EqualTo(CUresult.CUDA_ERROR_ILLEGAL_ADDRESS));
        Assert.That(fault.Message, Does.Contain("cublasSgemm_v2: matrix A (4 x 4, ld 4)").And.Contain("4 byte(s) past the end of the 60-byte allocation"));
    }
}
