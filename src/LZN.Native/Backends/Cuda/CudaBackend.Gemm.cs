using LZN.Native.Interop.Cuda;

namespace LZN.Native.Backends.Cuda;

// Row-major GEMM on column-major cuBLAS. A row-major matrix with row stride ld is the column-major
// transpose with leading dimension ld, so row-major C = op(A) op(B) is column-major
// C^T = op(B)^T op(A)^T: swap the operands and m with n, keep each operand's transpose flag.
public sealed partial class CudaBackend
{
    public void Gemm(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, FloatBuffer a, int lda, FloatBuffer b, int ldb,
        float beta, FloatBuffer c, int ldc) =>
        SingleGemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, fastTf32: false);

    /// <summary>
    /// <see cref="Gemm"/> with cuBLAS's TF32 tensor-core math (CUBLAS_COMPUTE_32F_FAST_TF32): A and B converted to TF32,
    /// products accumulated in fp32. Only for operands prepared for it, such as the zone gemm path's 3xTF32 split;
    /// plain fp32 operands lose 13 mantissa bits.
    /// </summary>
    internal void GemmFastTf32(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, FloatBuffer a, int lda, FloatBuffer b, int ldb,
        float beta, FloatBuffer c, int ldc) =>
        SingleGemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, fastTf32: true);

    private unsafe void SingleGemm(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, FloatBuffer a, int lda, FloatBuffer b, int ldb,
        float beta, FloatBuffer c, int ldc, bool fastTf32)
    {
        ArgumentChecks.Gemm(transposeA, transposeB, m, n, k, a, lda, 0, b, ldb, 0, c, ldc, 0, batchCount: 1);
        if (m == 0 || n == 0)
            return;
        Bind();
        ulong aAddress = Cast(a).Address, bAddress = Cast(b).Address, cAddress = Cast(c).Address;
        Cublas.ThrowIfFailed(fastTf32
            ? Cublas.cublasGemmEx(_cublas.Handle, Operation(transposeB), Operation(transposeA), n, m, k,
                &alpha, bAddress, cudaDataType.CUDA_R_32F, ldb, aAddress, cudaDataType.CUDA_R_32F, lda,
                &beta, cAddress, cudaDataType.CUDA_R_32F, ldc, cublasComputeType_t.CUBLAS_COMPUTE_32F_FAST_TF32,
                cublasGemmAlgo_t.CUBLAS_GEMM_DEFAULT)
            : Cublas.cublasSgemm_v2(_cublas.Handle, Operation(transposeB), Operation(transposeA),
                n, m, k, &alpha, bAddress, ldb, aAddress, lda, &beta, cAddress, ldc));
    }

    public unsafe void GemmStridedBatched(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, FloatBuffer a, int lda, long strideA, FloatBuffer b, int ldb, long strideB,
        float beta, FloatBuffer c, int ldc, long strideC, int batchCount)
    {
        ArgumentChecks.Gemm(transposeA, transposeB, m, n, k, a, lda, strideA, b, ldb, strideB, c, ldc, strideC, batchCount);
        if (m == 0 || n == 0 || batchCount == 0)
            return;
        Bind();
        Cublas.ThrowIfFailed(Cublas.cublasSgemmStridedBatched(_cublas.Handle, Operation(transposeB), Operation(transposeA),
            n, m, k, &alpha, Cast(b).Address, ldb, strideB, Cast(a).Address, lda, strideA,
            &beta, Cast(c).Address, ldc, strideC, batchCount));
    }

    private static cublasOperation_t Operation(bool transpose) =>
        transpose ? cublasOperation_t.CUBLAS_OP_T : cublasOperation_t.CUBLAS_OP_N;
}
