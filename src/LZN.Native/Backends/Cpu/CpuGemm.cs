using System.Numerics.Tensors;
using LZN.Native.Interop;

namespace LZN.Native.Backends.Cpu;

/// <summary>GEMM entry points: the shared argument checks, BLAS beta semantics, then OpenBLAS or the managed GEMM.</summary>
public sealed partial class CpuBackend
{
    /// <summary>Below this many multiply-adds per matrix, batches run in parallel instead of inside one GEMM.</summary>
    private const long SmallGemmVolume = 1L << 18;

    public void Gemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, FloatBuffer a, int lda,
        FloatBuffer b, int ldb, float beta, FloatBuffer c, int ldc)
    {
        var (ca, cb, cc) = CheckGemm(transposeA, transposeB, m, n, k, a, lda, 0, b, ldb, 0, c, ldc, 0, batchCount: 1);
        GemmCore(transposeA, transposeB, m, n, k, alpha, ca.Array, ca.Offset, lda, cb.Array, cb.Offset, ldb,
            beta, cc.Array, cc.Offset, ldc, allowParallel: true);
    }

    public void GemmStridedBatched(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
        FloatBuffer a, int lda, long strideA, FloatBuffer b, int ldb, long strideB,
        float beta, FloatBuffer c, int ldc, long strideC, int batchCount)
    {
        var (ca, cb, cc) = CheckGemm(transposeA, transposeB, m, n, k, a, lda, strideA, b, ldb, strideB, c, ldc, strideC, batchCount);
        void Batch(int batch, bool allowParallel) => GemmCore(transposeA, transposeB, m, n, k, alpha,
            ca.Array, checked(ca.Offset + (int)(batch * strideA)), lda,
            cb.Array, checked(cb.Offset + (int)(batch * strideB)), ldb,
            beta, cc.Array, checked(cc.Offset + (int)(batch * strideC)), ldc, allowParallel);

        // OpenBLAS threads each call itself; small managed GEMMs gain more from one batch per core.
        // Batches whose C matrices overlap must run in order.
        bool parallelOverBatches = GemmProvider == CpuGemmProvider.Managed && batchCount > 1
            && (long)m * n * k < SmallGemmVolume && strideC >= (long)(m - 1) * ldc + n;
        if (parallelOverBatches)
        {
            Parallel.For(0, batchCount, batch => Batch(batch, allowParallel: false));
            return;
        }
        for (int batch = 0; batch < batchCount; batch++)
            Batch(batch, allowParallel: true);
    }

    private unsafe void GemmCore(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb,
        float beta, float[] c, int cOffset, int ldc, bool allowParallel)
    {
        if (m == 0 || n == 0)
            return;
        if (k == 0 || alpha == 0)
        {
            ScaleMatrix(c, cOffset, m, n, ldc, beta);
            return;
        }
        if (GemmProvider == CpuGemmProvider.OpenBlas)
        {
            // OpenBLAS honours beta == 0 by overwriting C (NaN does not leak); the tests hold it to that.
            fixed (float* pa = a)
            fixed (float* pb = b)
            fixed (float* pc = c)
            {
                OpenBlas.cblas_sgemm(OpenBlas.CblasRowMajor,
                    transposeA ? OpenBlas.CblasTrans : OpenBlas.CblasNoTrans,
                    transposeB ? OpenBlas.CblasTrans : OpenBlas.CblasNoTrans,
                    m, n, k, alpha, pa + aOffset, lda, pb + bOffset, ldb, beta, pc + cOffset, ldc);
            }
            return;
        }
        ScaleMatrix(c, cOffset, m, n, ldc, beta);
        var opA = transposeA ? new StridedMatrix(a, aOffset, 1, lda) : new StridedMatrix(a, aOffset, lda, 1);
        var opB = transposeB ? new StridedMatrix(b, bOffset, 1, ldb) : new StridedMatrix(b, bOffset, ldb, 1);
        ManagedGemm.MultiplyAdd(m, n, k, alpha, opA, opB, c, cOffset, ldc, allowParallel);
    }

    /// <summary>C[rows, cols] *= beta, where beta == 0 overwrites with zeros (BLAS: C's old contents, NaN included, are ignored).</summary>
    private static void ScaleMatrix(float[] c, int offset, int rows, int cols, int ldc, float beta)
    {
        if (beta == 1)
            return;
        for (int row = 0; row < rows; row++)
        {
            var span = c.AsSpan(offset + row * ldc, cols);
            if (beta == 0)
                span.Clear();
            else
                TensorPrimitives.Multiply(span, beta, span);
        }
    }

    /// <summary>The shared checks (<see cref="ArgumentChecks.Gemm"/>), then the operands as CPU buffers.</summary>
    private static (CpuFloatBuffer A, CpuFloatBuffer B, CpuFloatBuffer C) CheckGemm(bool transposeA, bool transposeB,
        int m, int n, int k, FloatBuffer a, int lda, long strideA, FloatBuffer b, int ldb, long strideB,
        FloatBuffer c, int ldc, long strideC, int batchCount)
    {
        ArgumentChecks.Gemm(transposeA, transposeB, m, n, k, a, lda, strideA, b, ldb, strideB, c, ldc, strideC, batchCount);
        return (Cast(a), Cast(b), Cast(c));
    }
}
