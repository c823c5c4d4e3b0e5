using System.Runtime.InteropServices;
using System.Text;

namespace LZN.Native.Interop.Cuda;

// Driver resources as SafeHandles, in ONNX Runtime's C# style: ReleaseHandle calls the driver's destroy or free, exactly
// once, when the owner disposes the handle or, if it never does, when the finalizer finds it unreachable; a handle passed
// to a binding is ref-counted for the call, so one disposed on another thread mid-call is released after the call returns.
//
// Order: every resource but the context holds a reference on its PrimaryContext (DangerousAddRef) until it is released,
// so the context goes last whatever order Dispose or the finalizer visits them in. The primary context's last release
// destroys everything created in it; a destroy after that would hand the driver a dangling handle.
//
// Threads: a destroy needs its context current. ContextBoundHandle makes it current for the call and restores the
// thread's previous context, so release works on any thread, the finalizer's included. There the driver's status is
// ignored, as in Dispose: after a sticky context error every release fails with the error the failing operation already
// reported, and the driver reclaims the resource with the context. Nothing in ReleaseHandle throws (an exception on the
// finalizer thread ends the process), and .NET runs no finalizers at process exit, so none runs after the driver is gone.

/// <summary>A retained primary context of one device; released (cuDevicePrimaryCtxRelease) after everything created in it.</summary>
internal sealed class PrimaryContext : SafeHandle
{
    private PrimaryContext(int device, IntPtr handle)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        Device = device;
        SetHandle(handle);
    }

    public int Device { get; }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Retains the primary context of the device at <paramref name="ordinal"/>.</summary>
    public static PrimaryContext Retain(int ordinal)
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuDeviceGet(out int device, ordinal));
        CudaDriver.ThrowIfFailed(CudaDriver.cuDevicePrimaryCtxRetain(out var handle, device));
        return new PrimaryContext(device, handle);
    }

    /// <summary>Makes this context current on the calling thread.</summary>
    public void MakeCurrent() => CudaDriver.ThrowIfFailed(CudaDriver.cuCtxSetCurrent(this));

    /// <summary>
    /// Makes this context current until the result is disposed, which restores the thread's previous context; no driver
    /// call when it is current already. Never throws: release paths use it, and a failure shows in the call it guards.
    /// </summary>
    internal Scope Enter()
    {
        if (CudaDriver.cuCtxGetCurrent(out var previous) != CUresult.CUDA_SUCCESS || previous == handle)
            return default;
        CudaDriver.cuCtxSetCurrentRaw(handle);
        return new Scope(previous, restore: true);
    }

    /// <summary>The context current before <see cref="Enter"/>, put back on dispose.</summary>
    internal readonly struct Scope(IntPtr previous, bool restore) : IDisposable
    {
        public void Dispose()
        {
            if (restore)
                CudaDriver.cuCtxSetCurrentRaw(previous);
        }
    }

    protected override bool ReleaseHandle() => CudaDriver.cuDevicePrimaryCtxRelease_v2(Device) == CUresult.CUDA_SUCCESS;
}

/// <summary>
/// A resource created in a <see cref="PrimaryContext"/>: it keeps the context alive until it is released, and releases
/// itself with that context current (the comment at the top of this file has the rules).
/// </summary>
internal abstract class ContextBoundHandle : SafeHandle
{
    private readonly PrimaryContext _context;

    protected ContextBoundHandle(PrimaryContext context, IntPtr value)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        ArgumentNullException.ThrowIfNull(context);
        bool added = false;
        context.DangerousAddRef(ref added);
        _context = context;
        SetHandle(value);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>
    /// The raw handle, for the hot paths whose bindings take it by value (launches, copies, GEMMs): their owner keeps this
    /// object alive and disposes it only after synchronising, so no call can race the release.
    /// </summary>
    public IntPtr Handle => handle;

    /// <summary>The driver's (or cuBLAS's) destroy of <paramref name="value"/>, called with its context current.</summary>
    protected abstract bool Destroy(IntPtr value);

    protected sealed override bool ReleaseHandle()
    {
        bool destroyed;
        using (_context.Enter())
            destroyed = Destroy(handle);
        _context.DangerousRelease();
        return destroyed;
    }
}

/// <summary>A loaded module (CUBIN or PTX image).</summary>
internal sealed unsafe class CudaModule : ContextBoundHandle
{
    private const int JitLogBytes = 16 * 1024;

    private CudaModule(PrimaryContext context, IntPtr handle)
        : base(context, handle)
    {
    }

    /// <summary>Loads an image into <paramref name="context"/> (current); a rejected image throws with the JIT's error log appended.</summary>
    public static CudaModule Load(PrimaryContext context, ReadOnlySpan<byte> image, string imageName)
    {
        var errorLog = new byte[JitLogBytes];
        var options = stackalloc CUjit_option[] { CUjit_option.CU_JIT_ERROR_LOG_BUFFER, CUjit_option.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES };
        fixed (byte* imagePointer = image)
        fixed (byte* logPointer = errorLog)
        {
            var values = stackalloc void*[] { logPointer, (void*)JitLogBytes };
            var result = CudaDriver.cuModuleLoadDataEx(out var handle, imagePointer, 2, options, values);
            if (result == CUresult.CUDA_SUCCESS)
                return new CudaModule(context, handle);
            string log = Encoding.UTF8.GetString(errorLog).TrimEnd('\0').Trim();
            throw new CudaException(result, $"cuModuleLoadDataEx({imageName}){(log.Length == 0 ? "" : ": " + log)}");
        }
    }

    public IntPtr Function(string name)
    {
        ObjectDisposedException.ThrowIf(IsClosed, this);
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* namePointer = utf8)
        {
            var result = CudaDriver.cuModuleGetFunction(out var function, this, namePointer);
            if (result != CUresult.CUDA_SUCCESS)
                throw new CudaException(result, $"cuModuleGetFunction({name})");
            return function;
        }
    }

    protected override bool Destroy(IntPtr value) => CudaDriver.cuModuleUnload(value) == CUresult.CUDA_SUCCESS;
}

/// <summary>A blocking stream (ordered with the legacy default stream).</summary>
internal sealed class CudaStream : ContextBoundHandle
{
    private CudaStream(PrimaryContext context, IntPtr handle)
        : base(context, handle)
    {
    }

    /// <summary>Creates a stream in <paramref name="context"/> (current).</summary>
    public static CudaStream Create(PrimaryContext context)
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuStreamCreate(out var handle, CUstream_flags.CU_STREAM_DEFAULT));
        return new CudaStream(context, handle);
    }

    public void Synchronize() => CudaDriver.ThrowIfFailed(CudaDriver.cuStreamSynchronize(this));

    protected override bool Destroy(IntPtr value) => CudaDriver.cuStreamDestroy_v2(value) == CUresult.CUDA_SUCCESS;
}

/// <summary>A timing event.</summary>
internal sealed class CudaEvent : ContextBoundHandle
{
    private CudaEvent(PrimaryContext context, IntPtr handle)
        : base(context, handle)
    {
    }

    /// <summary>Creates an event in <paramref name="context"/> (current).</summary>
    public static CudaEvent Create(PrimaryContext context)
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuEventCreate(out var handle, CUevent_flags.CU_EVENT_DEFAULT));
        return new CudaEvent(context, handle);
    }

    public void Record(CudaStream stream) => CudaDriver.ThrowIfFailed(CudaDriver.cuEventRecord(this, stream));

    public void Synchronize() => CudaDriver.ThrowIfFailed(CudaDriver.cuEventSynchronize(this));

    /// <summary>Milliseconds from <paramref name="start"/> to this event (both recorded and complete).</summary>
    public float MillisecondsSince(CudaEvent start)
    {
        CudaDriver.ThrowIfFailed(CudaDriver.cuEventElapsedTime_v2(out float milliseconds, start, this));
        return milliseconds;
    }

    protected override bool Destroy(IntPtr value) => CudaDriver.cuEventDestroy_v2(value) == CUresult.CUDA_SUCCESS;
}

/// <summary>A cuBLAS handle.</summary>
internal sealed class CublasHandle : ContextBoundHandle
{
    private CublasHandle(PrimaryContext context, IntPtr handle)
        : base(context, handle)
    {
    }

    /// <summary>Creates a handle in <paramref name="context"/> (current).</summary>
    public static CublasHandle Create(PrimaryContext context)
    {
        Cublas.ThrowIfFailed(Cublas.cublasCreate_v2(out var handle));
        return new CublasHandle(context, handle);
    }

    public int Version
    {
        get
        {
            Cublas.ThrowIfFailed(Cublas.cublasGetVersion_v2(this, out int version));
            return version;
        }
    }

    protected override bool Destroy(IntPtr value) => Cublas.cublasDestroy_v2(value) == cublasStatus_t.CUBLAS_STATUS_SUCCESS;
}

/// <summary>One driver allocation (cuMemAlloc).</summary>
internal sealed class DeviceMemory : ContextBoundHandle
{
    private DeviceMemory(PrimaryContext context, ulong address, long bytes)
        : base(context, (IntPtr)(long)address) => Bytes = bytes;

    /// <summary>The device address (CUdeviceptr).</summary>
    public ulong Address => (ulong)(long)Handle;

    public long Bytes { get; }

    /// <summary>Allocates in <paramref name="context"/> (current), or returns null when the device is out of memory (other errors throw).</summary>
    public static DeviceMemory? TryAllocate(PrimaryContext context, long bytes)
    {
        var result = CudaDriver.cuMemAlloc_v2(out ulong address, (nuint)bytes);
        if (result == CUresult.CUDA_ERROR_OUT_OF_MEMORY)
            return null;
        CudaDriver.ThrowIfFailed(result, $"cuMemAlloc_v2({bytes} bytes)");
        return new DeviceMemory(context, address, bytes);
    }

    protected override bool Destroy(IntPtr value) => CudaDriver.cuMemFree_v2((ulong)(long)value) == CUresult.CUDA_SUCCESS;
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
