using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LZN.Native.Interop.Cuda;

/// <summary>The cuBLAS functions the project calls; the exported <c>_v2</c> symbols that cublas_v2.h maps.</summary>
internal static unsafe partial class Cublas
{
    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial cublasStatus_t cublasCreate_v2(out IntPtr handle);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial cublasStatus_t cublasDestroy_v2(IntPtr handle);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial cublasStatus_t cublasGetVersion_v2(CublasHandle handle, out int version);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial cublasStatus_t cublasSetStream_v2(CublasHandle handle, CudaStream stream);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial cublasStatus_t cublasSetMathMode(CublasHandle handle, cublasMath_t mode);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial cublasStatus_t cublasGetMathMode(CublasHandle handle, out cublasMath_t mode);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial cublasStatus_t cublasSetWorkspace_v2(CublasHandle handle, ulong workspace, nuint bytes);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial cublasStatus_t cublasSgemm_v2(IntPtr handle, cublasOperation_t transa, cublasOperation_t transb,
        int m, int n, int k, float* alpha, ulong a, int lda, ulong b, int ldb, float* beta, ulong c, int ldc);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial cublasStatus_t cublasSgemmStridedBatched(IntPtr handle, cublasOperation_t transa,
        cublasOperation_t transb, int m, int n, int k, float* alpha, ulong a, int lda, long strideA,
        ulong b, int ldb, long strideB, float* beta, ulong c, int ldc, long strideC, int batchCount);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial cublasStatus_t cublasGemmEx(IntPtr handle, cublasOperation_t transa, cublasOperation_t transb,
        int m, int n, int k, void* alpha, ulong a, cudaDataType aType, int lda, ulong b, cudaDataType bType, int ldb,
        void* beta, ulong c, cudaDataType cType, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial byte* cublasGetStatusName(cublasStatus_t status);

    [LibraryImport(NativeLibraries.Cublas)]
    internal static partial byte* cublasGetStatusString(cublasStatus_t status);

    /// <summary>Throws <see cref="CublasException"/> naming the status and the call that returned it.</summary>
    internal static void ThrowIfFailed(cublasStatus_t status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != cublasStatus_t.CUBLAS_STATUS_SUCCESS)
            throw new CublasException(status, call);
    }

    internal static string StatusName(cublasStatus_t status)
    {
        byte* name = cublasGetStatusName(status);
        return name == null ? status.ToString() : Marshal.PtrToStringUTF8((IntPtr)name) ?? status.ToString();
    }

    internal static string StatusString(cublasStatus_t status)
    {
        byte* text = cublasGetStatusString(status);
        return text == null ? "" : Marshal.PtrToStringUTF8((IntPtr)text) ?? "";
    }
}
