using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LZN.Native.Interop.Cuda;

/// <summary>
/// The CUDA driver API functions the project calls. Symbols are the exported names of CUDA 13's cuda.h
/// (the <c>_v2</c> ones where the header maps the plain name). Handles are opaque pointers;
/// CUdeviceptr is 64-bit; size_t is <see cref="nuint"/>.
/// </summary>
internal static unsafe partial class CudaDriver
{
    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuInit(uint flags);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuDriverGetVersion(out int driverVersion);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuDeviceGetCount(out int count);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuDeviceGet(out int device, int ordinal);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuDeviceGetName(byte* name, int length, int device);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuDeviceGetAttribute(out int value, CUdevice_attribute attribute, int device);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuDeviceTotalMem_v2(out nuint bytes, int device);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuDevicePrimaryCtxRetain(out IntPtr context, int device);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuDevicePrimaryCtxRelease_v2(int device);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuCtxSetCurrent(PrimaryContext context);

    /// <summary>cuCtxSetCurrent with a raw context (or null), for restoring the one a thread had.</summary>
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuCtxSetCurrent")]
    internal static partial CUresult cuCtxSetCurrentRaw(IntPtr context);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuCtxGetCurrent(out IntPtr context);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuCtxSynchronize();

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemAlloc_v2(out ulong pointer, nuint bytes);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemFree_v2(ulong pointer);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemAllocAsync(out ulong pointer, nuint bytes, IntPtr stream);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemFreeAsync(ulong pointer, IntPtr stream);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemGetInfo_v2(out nuint free, out nuint total);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemAllocHost_v2(out IntPtr pointer, nuint bytes);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemFreeHost(IntPtr pointer);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemcpyHtoD_v2(ulong destination, void* source, nuint bytes);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemcpyDtoH_v2(void* destination, ulong source, nuint bytes);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemcpyDtoD_v2(ulong destination, ulong source, nuint bytes);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemcpyHtoDAsync_v2(ulong destination, void* source, nuint bytes, IntPtr stream);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemcpyDtoHAsync_v2(void* destination, ulong source, nuint bytes, IntPtr stream);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemcpyDtoDAsync_v2(ulong destination, ulong source, nuint bytes, IntPtr stream);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemsetD8_v2(ulong destination, byte value, nuint count);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemsetD32_v2(ulong destination, uint value, nuint count);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuMemsetD32Async(ulong destination, uint value, nuint count, IntPtr stream);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuModuleLoadData(out IntPtr module, void* image);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuModuleLoadDataEx(out IntPtr module, void* image, uint optionCount,
        CUjit_option* options, void** optionValues);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuModuleUnload(IntPtr module);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuModuleGetFunction(out IntPtr function, CudaModule module, byte* name);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuFuncGetAttribute(out int value, CUfunction_attribute attribute, IntPtr function);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuFuncSetAttribute(IntPtr function, CUfunction_attribute attribute, int value);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuLaunchKernel(IntPtr function,
        uint gridDimX, uint gridDimY, uint gridDimZ, uint blockDimX, uint blockDimY, uint blockDimZ,
        uint sharedMemBytes, IntPtr stream, void** kernelParams, void** extra);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuStreamCreate(out IntPtr stream, CUstream_flags flags);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuStreamDestroy_v2(IntPtr stream);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuStreamSynchronize(CudaStream stream);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuEventCreate(out IntPtr cudaEvent, CUevent_flags flags);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuEventRecord(CudaEvent cudaEvent, CudaStream stream);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuEventSynchronize(CudaEvent cudaEvent);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuEventElapsedTime_v2(out float milliseconds, CudaEvent start, CudaEvent end);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuEventDestroy_v2(IntPtr cudaEvent);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuGetErrorName(CUresult error, out byte* name);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuGetErrorString(CUresult error, out byte* description);

    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(out int blockCount, IntPtr function,
        int blockSize, nuint dynamicSharedMemoryBytes);

    /// <summary>Throws <see cref="CudaException"/> naming the driver's error and the call that returned it.</summary>
    internal static void ThrowIfFailed(CUresult result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(result, call);
    }

    /// <summary>The driver's name for a status (e.g. CUDA_ERROR_OUT_OF_MEMORY), falling back to the enum's.</summary>
    internal static string ErrorName(CUresult result)
    {
        try
        {
            if (cuGetErrorName(result, out byte* name) == CUresult.CUDA_SUCCESS && name != null)
                return Marshal.PtrToStringUTF8((IntPtr)name) ?? result.ToString();
        }
        catch (DllNotFoundException)
        {
        }
        return Enum.IsDefined(result) ? result.ToString() : $"CUresult {(int)result}";
    }

    /// <summary>The driver's description of a status, or an empty string when it has none.</summary>
    internal static string ErrorString(CUresult result)
    {
        try
        {
            if (cuGetErrorString(result, out byte* description) == CUresult.CUDA_SUCCESS && description != null)
                return Marshal.PtrToStringUTF8((IntPtr)description) ?? "";
        }
        catch (DllNotFoundException)
        {
        }
        return "";
    }
}
