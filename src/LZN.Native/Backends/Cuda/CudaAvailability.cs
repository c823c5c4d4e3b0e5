using LZN.Native.Interop;
using LZN.Native.Interop.Cuda;

namespace LZN.Native.Backends.Cuda;

/// <summary>
/// Why CUDA cannot be used: <see cref="Summary"/> in a few words for a notice, <see cref="Details"/> (every library load
/// attempt) for `lzn info` and --verbose; null when there is nothing more to say.
/// </summary>
internal sealed record CudaProblem(string Summary, string? Details = null)
{
    public override string ToString() => Details is null ? Summary : $"{Summary}: {Details}";
}

/// <summary>Why CUDA cannot be used here, checked cheaply in the order a user would fix things.</summary>
internal static class CudaAvailability
{
    /// <summary>Null when device <paramref name="ordinal"/> can be opened, else the exact reason it cannot.</summary>
    public static CudaProblem? Check(int ordinal)
    {
        var driver = NativeLibraries.TryLoad(NativeLibraries.Cuda);
        if (!driver.Loaded)
            return new("libcuda (the NVIDIA driver library) could not be loaded", Summarize(driver));
        try
        {
            var result = CudaDriver.cuInit(0);
            if (result != CUresult.CUDA_SUCCESS)
                return new($"cuInit failed: {CudaDriver.ErrorName(result)} ({CudaDriver.ErrorString(result)})");
            CudaDriver.ThrowIfFailed(CudaDriver.cuDeviceGetCount(out int count));
            if (count == 0)
                return new("the driver reports no CUDA device");
            if (ordinal < 0 || ordinal >= count)
                return new($"CUDA device ordinal {ordinal} is out of range: {count} device(s), ordinals 0..{count - 1}");
        }
        catch (CudaException ex)
        {
            return new(ex.Message);
        }
        catch (EntryPointNotFoundException ex)
        {
            return new($"libcuda at {driver.Path} lacks a required symbol (driver too old?)", ex.Message);
        }
        var nvrtc = NativeLibraries.TryLoad(NativeLibraries.Nvrtc);
        if (!nvrtc.Loaded)
            return new("NVRTC (libnvrtc, needed to compile the kernels) could not be loaded", Summarize(nvrtc));
        var cublas = NativeLibraries.TryLoad(NativeLibraries.Cublas);
        if (!cublas.Loaded)
            return new("cuBLAS (libcublas) could not be loaded", Summarize(cublas));
        return null;
    }

    /// <summary>The resolver's trace on one line: how many attempts, then each.</summary>
    public static string Summarize(LoadResult result) =>
        $"{result.Attempts.Count} attempt(s): {string.Join("; ", result.Attempts)}";
}
