using LZN.Native.Interop.Cuda;

namespace LZN.Native.Backends.Cuda;

// Row-major GEMM on column-major cuBLAS. A row-major matrix with row stride ld is the column-major
// transpose with leading dimension ld, so row-major C = op(A) op(B) is column-major
// C^T = op(B)^T op(A)^T: swap the operands and m with n, keep each operand's transpose flag.
public sealed partial class CudaBackend
{
    public unsafe void Gemm(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, FloatBuffer a, int lda, FloatBuffer b, int ldb,
        float beta, FloatBuffer c, int ldc)
    {
        ArgumentChecks.Gemm(transposeA, transposeB, m, n, k, a, lda, 0, b, ldb, 0, c, ldc, 0, batchCount: 1);
        if (m == 0 || n == 0)
            return;
        Bind();
        Cublas.ThrowIfFailed(Cublas.cublasSgemm_v2(_cublas.Handle, Operation(transposeB), Operation(transposeA),
            n, m, k, &alpha, Cast(b).Address, ldb, Cast(a).Address, lda, &beta, Cast(c).Address, ldc));
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
