using System.Runtime.CompilerServices;
using LZN.Native.Interop.Cuda;

namespace LZN.Tests.Emulator;

/// <summary>
/// The driver resources as SafeHandles (Interop/Cuda/CudaHandles.cs): a resource its owner never disposes is released
/// by the finalizer, with its context made current there; a release restores the thread's own context; and a disposed
/// handle cannot reach the driver by accident.
/// </summary>
[Category("Emulator")]
public sealed class EmulatedHandleTests : EmulatedDeviceTest
{
    private const long LeakedBytes = 64L << 20;

    [Test]
    public void MemoryItsOwnerNeverDisposedIsFreedByTheFinalizer()
    {
        long free = DeviceMemoryInfo.Query().Free;
        Leak(Device.Backend.Context);
        Assert.That(DeviceMemoryInfo.Query().Free, Is.LessThanOrEqualTo(free - LeakedBytes), "the allocation is live until it is collected");

        GC.Collect();
        GC.WaitForPendingFinalizers();

        Assert.That(DeviceMemoryInfo.Query().Free, Is.EqualTo(free));
    }

    [Test]
    public void AReleaseOnAThreadWithoutAContextLeavesItWithout()
    {
        var cudaEvent = CudaEvent.Create(Device.Backend.Context);
        var current = new IntPtr(-1);
        var status = CUresult.CUDA_ERROR_UNKNOWN;
        var thread = new Thread(() =>
        {
            cudaEvent.Dispose();
            status = CudaDriver.cuCtxGetCurrent(out current);
        });
        thread.Start();
        thread.Join();

        Assert.That((status, current), Is.EqualTo((CUresult.CUDA_SUCCESS, IntPtr.Zero)));
        Assert.That(cudaEvent.IsClosed, Is.True);
    }

    [Test]
    public void ADisposedStreamCannotBeSynchronised()
    {
        var stream = CudaStream.Create(Device.Backend.Context);
        stream.Synchronize();
        stream.Dispose();

        // A raw handle would now be 0, the legacy default stream, and the call would succeed on the wrong stream.
        Assert.Throws<ObjectDisposedException>(stream.Synchronize);
    }

    /// <summary>Allocates in a frame of its own, so nothing on the test's stack keeps the allocation reachable.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Leak(PrimaryContext context) => _ = DeviceMemory.TryAllocate(context, LeakedBytes)!;
}
