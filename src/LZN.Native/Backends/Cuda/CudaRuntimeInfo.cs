using LZN.Native.Interop;
using LZN.Native.Interop.Cuda;
using LZN.Native.Kernels;

namespace LZN.Native.Backends.Cuda;

/// <summary>Where a native library loaded from, or every place that was tried.</summary>
public sealed record NativeLibraryStatus(string LogicalName, bool Loaded, string? Path, IReadOnlyList<string> Attempts)
{
    internal static NativeLibraryStatus From(LoadResult result) =>
        new(result.LogicalName, result.Loaded, result.Path, result.Attempts);
}

/// <summary>
/// What <c>lzn info</c> reports about CUDA: the three libraries, driver/NVRTC/cuBLAS versions, the
/// architectures NVRTC can target, every device, or the reason CUDA is unavailable.
/// </summary>
public sealed record CudaRuntimeInfo(
    NativeLibraryStatus Driver,
    NativeLibraryStatus Nvrtc,
    NativeLibraryStatus Cublas,
    string? DriverVersion,
    string? NvrtcVersion,
    IReadOnlyList<int> NvrtcArchitectures,
    int? CublasVersion,
    IReadOnlyList<CudaDeviceProperties> Devices,
    string? UnavailableReason,
    IReadOnlyList<string> Problems)
{
    public bool Available => UnavailableReason is null;

    /// <summary>Probes everything it can; never throws for a missing or broken CUDA installation.</summary>
    public static CudaRuntimeInfo Probe()
    {
        var problems = new List<string>();
        var driver = NativeLibraryStatus.From(NativeLibraries.TryLoad(NativeLibraries.Cuda));
        var nvrtc = NativeLibraryStatus.From(NativeLibraries.TryLoad(NativeLibraries.Nvrtc));
        var cublas = NativeLibraryStatus.From(NativeLibraries.TryLoad(NativeLibraries.Cublas));
        string? nvrtcVersion = null;
        IReadOnlyList<int> architectures = [];
        if (nvrtc.Loaded)
        {
            Attempt(problems, "NVRTC", () =>
            {
                var (major, minor) = KernelCompiler.NvrtcVersion;
                nvrtcVersion = $"{major}.{minor}";
                architectures = KernelCompiler.SupportedArchitectures;
            });
        }
        string? driverVersion = null;
        int? cublasVersion = null;
        var devices = new List<CudaDeviceProperties>();
        string? reason = CudaAvailability.Check(0)?.Summary;
        if (driver.Loaded)
        {
            Attempt(problems, "driver", () =>
            {
                if (CudaDriver.cuInit(0) != CUresult.CUDA_SUCCESS)
                    return;
                CudaDriver.ThrowIfFailed(CudaDriver.cuDriverGetVersion(out int version));
                driverVersion = $"{version / 1000}.{version % 1000 / 10}";
                CudaDriver.ThrowIfFailed(CudaDriver.cuDeviceGetCount(out int count));
                for (int ordinal = 0; ordinal < count; ordinal++)
                    devices.Add(CudaDeviceProperties.Query(ordinal));
            });
        }
        if (reason is null)
            Attempt(problems, "cuBLAS", () => cublasVersion = QueryCublasVersion());
        return new CudaRuntimeInfo(driver, nvrtc, cublas, driverVersion, nvrtcVersion, architectures, cublasVersion,
            devices, reason, problems);
    }

    // cuBLAS reports its version through a handle, and a handle needs a current context.
    private static int QueryCublasVersion()
    {
        using var context = PrimaryContext.Retain(0);
        context.MakeCurrent();
        using var handle = CublasHandle.Create(context);
        return handle.Version;
    }

    private static void Attempt(List<string> problems, string what, Action probe)
    {
        try
        {
            probe();
        }
        catch (Exception ex) when (ex is CudaException or NvrtcException or CublasException or DllNotFoundException or EntryPointNotFoundException)
        {
            problems.Add($"{what}: {ex.Message}");
        }
    }
}
