using LZN.Native.Interop.Cuda;

namespace LZN.Native.Backends.Cuda;

/// <summary>The device facts kernels size their launches by (read once from the driver).</summary>
public sealed record CudaDeviceProperties(
    int Ordinal,
    string Name,
    int MultiprocessorCount,
    int ComputeCapabilityMajor,
    int ComputeCapabilityMinor,
    int MaxThreadsPerBlock,
    int MaxSharedMemoryPerBlockOptin,
    int SharedMemoryPerMultiprocessor,
    int WarpSize,
    long L2CacheBytes,
    long TotalMemoryBytes)
{
    /// <summary>major * 10 + minor, e.g. 90 for an H100/H200 (sm_90).</summary>
    public int Architecture => ComputeCapabilityMajor * 10 + ComputeCapabilityMinor;

    /// <summary>Reads the properties of device <paramref name="ordinal"/>; the driver must be initialised.</summary>
    internal static CudaDeviceProperties Query(int ordinal)
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuDeviceGet(out int device, ordinal));
        int Attribute(CUdevice_attribute attribute)
        {
            var result = CudaDriver.cuDeviceGetAttribute(out int value, attribute, device);
            if (result != CUresult.CUDA_SUCCESS)
                throw new CudaException(result, $"cuDeviceGetAttribute({attribute})");
            return value;
        }

        CudaDriver.ThrowIfFailed(CudaDriver.cuDeviceTotalMem_v2(out nuint totalBytes, device));
        return new CudaDeviceProperties(
            ordinal,
            DeviceNames.Get(device),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_WARP_SIZE),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE),
            (long)totalBytes);
    }
}
