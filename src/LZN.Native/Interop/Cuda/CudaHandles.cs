using System.Runtime.InteropServices;
using System.Text;

namespace LZN.Native.Interop.Cuda;

// Owners of driver resources. None has a finalizer: a finalizer thread has no current context and
// may run after the context is gone, so release happens only in Dispose, on the owner's thread.
// Teardown ignores the driver's status: after a sticky context error every release fails with the
// error that the failing operation has already reported.

/// <summary>A retained primary context of one device.</summary>
internal sealed class PrimaryContext : IDisposable
{
    private bool _disposed;

    private PrimaryContext(int device, IntPtr handle)
    {
        Device = device;
        Handle = handle;
    }

    public int Device { get; }

    public IntPtr Handle { get; }

    /// <summary>Retains the primary context of the device at <paramref name="ordinal"/>.</summary>
    public static PrimaryContext Retain(int ordinal)
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuDeviceGet(out int device, ordinal));
        CudaDriver.ThrowIfFailed(CudaDriver.cuDevicePrimaryCtxRetain(out var handle, device));
        return new PrimaryContext(device, handle);
    }

    /// <summary>Makes this context current on the calling thread.</summary>
    public void MakeCurrent() => CudaDriver.ThrowIfFailed(CudaDriver.cuCtxSetCurrent(Handle));

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        CudaDriver.cuDevicePrimaryCtxRelease_v2(Device);
    }
}

/// <summary>A loaded module (CUBIN or PTX image).</summary>
internal sealed unsafe class CudaModule : IDisposable
{
    private const int JitLogBytes = 16 * 1024;
    private IntPtr _handle;

    private CudaModule(IntPtr handle) => _handle = handle;

    /// <summary>Loads an image; a rejected image throws with the JIT's error log appended.</summary>
    public static CudaModule Load(ReadOnlySpan<byte> image, string imageName)
    {
        var errorLog = new byte[JitLogBytes];
        var options = stackalloc CUjit_option[] { CUjit_option.CU_JIT_ERROR_LOG_BUFFER, CUjit_option.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES };
        fixed (byte* imagePointer = image)
        fixed (byte* logPointer = errorLog)
        {
            var values = stackalloc void*[] { logPointer, (void*)JitLogBytes };
            var result = CudaDriver.cuModuleLoadDataEx(out var handle, imagePointer, 2, options, values);
            if (result == CUresult.CUDA_SUCCESS)
                return new CudaModule(handle);
            string log = Encoding.UTF8.GetString(errorLog).TrimEnd('\0').Trim();
            throw new CudaException(result, $"cuModuleLoadDataEx({imageName}){(log.Length == 0 ? "" : ": " + log)}");
        }
    }

    public IntPtr Function(string name)
    {
        ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this);
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* namePointer = utf8)
        {
            var result = CudaDriver.cuModuleGetFunction(out var function, _handle, namePointer);
            if (result != CUresult.CUDA_SUCCESS)
                throw new CudaException(result, $"cuModuleGetFunction({name})");
            return function;
        }
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero)
            return;
        CudaDriver.cuModuleUnload(_handle);
        _handle = IntPtr.Zero;
    }
}

/// <summary>A blocking stream (ordered with the legacy default stream).</summary>
internal sealed class CudaStream : IDisposable
{
    private CudaStream(IntPtr handle) => Handle = handle;

    public IntPtr Handle { get; private set; }

    public static CudaStream Create()
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuStreamCreate(out var handle, CUstream_flags.CU_STREAM_DEFAULT));
        return new CudaStream(handle);
    }

    public void Synchronize() => CudaDriver.ThrowIfFailed(CudaDriver.cuStreamSynchronize(Handle));

    public void Dispose()
    {
        if (Handle == IntPtr.Zero)
            return;
        CudaDriver.cuStreamDestroy_v2(Handle);
        Handle = IntPtr.Zero;
    }
}

/// <summary>A timing event.</summary>
internal sealed class CudaEvent : IDisposable
{
    private CudaEvent(IntPtr handle) => Handle = handle;

    public IntPtr Handle { get; private set; }

    public static CudaEvent Create()
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuEventCreate(out var handle, CUevent_flags.CU_EVENT_DEFAULT));
        return new CudaEvent(handle);
    }

    public void Record(CudaStream stream) => CudaDriver.ThrowIfFailed(CudaDriver.cuEventRecord(Handle, stream.Handle));

    public void Synchronize() => CudaDriver.ThrowIfFailed(CudaDriver.cuEventSynchronize(Handle));

    /// <summary>Milliseconds from <paramref name="start"/> to this event (both recorded and complete).</summary>
    public float MillisecondsSince(CudaEvent start)
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuEventElapsedTime_v2(out float milliseconds, start.Handle, Handle));
        return milliseconds;
    }

    public void Dispose()
    {
        if (Handle == IntPtr.Zero)
            return;
        CudaDriver.cuEventDestroy_v2(Handle);
        Handle = IntPtr.Zero;
    }
}

/// <summary>A cuBLAS handle.</summary>
internal sealed class CublasHandle : IDisposable
{
    private CublasHandle(IntPtr handle) => Handle = handle;

    public IntPtr Handle { get; private set; }

    public static CublasHandle Create()
    {
        Cublas.ThrowIfFailed(Cublas.cublasCreate_v2(out var handle));
        return new CublasHandle(handle);
    }

    public int Version
    {
        get
        {
            Cublas.ThrowIfFailed(Cublas.cublasGetVersion_v2(Handle, out int version));
            return version;
        }
    }

    public void Dispose()
    {
        if (Handle == IntPtr.Zero)
            return;
        Cublas.cublasDestroy_v2(Handle);
        Handle = IntPtr.Zero;
    }
}

/// <summary>One driver allocation (cuMemAlloc).</summary>
internal sealed class DeviceMemory : IDisposable
{
    private DeviceMemory(ulong address, long bytes)
    {
        Address = address;
        Bytes = bytes;
    }

    public ulong Address { get; private set; }

    public long Bytes { get; }

    /// <summary>Allocates, or returns null when the device is out of memory (other errors throw).</summary>
    public static DeviceMemory? TryAllocate(long bytes)
    {
        var result = CudaDriver.cuMemAlloc_v2(out ulong address, (nuint)bytes);
        if (result == CUresult.CUDA_ERROR_OUT_OF_MEMORY)
            return null;
        CudaDriver.ThrowIfFailed(result, $"cuMemAlloc_v2({bytes} bytes)");
        return new DeviceMemory(address, bytes);
    }

    public void Dispose()
    {
        if (Address == 0)
            return;
        CudaDriver.cuMemFree_v2(Address);
        Address = 0;
    }
}

/// <summary>Device memory as the driver reports it.</summary>
internal static class DeviceMemoryInfo
{
    public static (long Free, long Total) Query()
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuMemGetInfo_v2(out nuint free, out nuint total));
        return ((long)free, (long)total);
    }
}

/// <summary>Reads a NUL-terminated device name.</summary>
internal static unsafe class DeviceNames
{
    public static string Get(int device)
    {
        byte* name = stackalloc byte[256];
        CudaDriver.ThrowIfFailed(CudaDriver.cuDeviceGetName(name, 256, device));
        return Marshal.PtrToStringUTF8((IntPtr)name) ?? "";
    }
}
