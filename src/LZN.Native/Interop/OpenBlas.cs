using System.Runtime.InteropServices;

namespace LZN.Native.Interop;

/// <summary>[LibraryImport] bindings to OpenBLAS (cblas.h, openblas_config.h); blasint is 32-bit (LP64 build).</summary>
internal static unsafe partial class OpenBlas
{
    /// <summary>CBLAS_ORDER / CBLAS_TRANSPOSE values from cblas.h.</summary>
    public const int CblasRowMajor = 101;
    public const int CblasNoTrans = 111;
    public const int CblasTrans = 112;

    [LibraryImport(NativeLibraries.OpenBlas)]
    public static partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(NativeLibraries.OpenBlas)]
    public static partial int openblas_get_num_threads();

    [LibraryImport(NativeLibraries.OpenBlas)]
    public static partial void openblas_set_num_threads(int threadCount);

    // The returned strings are static storage inside OpenBLAS: read them, never free them.
    [LibraryImport(NativeLibraries.OpenBlas)]
    public static partial byte* openblas_get_config();

    [LibraryImport(NativeLibraries.OpenBlas)]
    public static partial byte* openblas_get_corename();
}

/// <summary>
/// What OpenBLAS this process uses (for `lzn info` and the CPU backend's description): where it loaded
/// from, or every failed attempt; its build configuration, the core kernel it picked, and its thread count.
/// </summary>
public static unsafe class OpenBlasInfo
{
    /// <summary>Loads OpenBLAS once (no exception) and reports where from, or why not.</summary>
    public static LoadResult Load => NativeLibraries.TryLoad(NativeLibraries.OpenBlas);

    public static bool IsAvailable => Load.Loaded;

    /// <summary>The build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"; null when missing.</summary>
    public static string? Config => IsAvailable ? Marshal.PtrToStringUTF8((IntPtr)OpenBlas.openblas_get_config()) : null;

    /// <summary>The kernel family chosen for this CPU, e.g. "Haswell" or "SkylakeX"; null when missing.</summary>
    public static string? CoreName => IsAvailable ? Marshal.PtrToStringUTF8((IntPtr)OpenBlas.openblas_get_corename()) : null;

    /// <summary>The version token of <see cref="Config"/> ("0.3.21"); null when missing or unparseable.</summary>
    public static string? Version
    {
        get
        {
            string[] words = (Config ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return words.Length > 1 && words[0] == "OpenBLAS" ? words[1] : null;
        }
    }

    /// <summary>Threads OpenBLAS runs a large GEMM on; 0 when missing.</summary>
    public static int Threads => IsAvailable ? OpenBlas.openblas_get_num_threads() : 0;

    /// <summary>Sets OpenBLAS's thread count for the whole process.</summary>
    public static void SetThreads(int threadCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threadCount, 1);
        NativeLibraries.Require(NativeLibraries.OpenBlas);
        OpenBlas.openblas_set_num_threads(threadCount);
    }

    /// <summary>One line: "OpenBLAS 0.3.21 (Haswell, 2 threads) from /path" or "not loaded: attempt; attempt".</summary>
    public static string Describe()
    {
        var load = Load;
        return load.Loaded
            ? $"OpenBLAS {Version ?? "?"} ({CoreName}, {Threads} threads) from {load.Path}; config: {Config}"
            : "OpenBLAS not loaded: " + string.Join("; ", load.Attempts);
    }
}
