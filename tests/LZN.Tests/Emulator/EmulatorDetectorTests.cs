using System.Runtime.InteropServices;
using LZN.Native.Backends;
using LZN.Native.Interop.Cuda;
using LZN.Tests.Cuda;

namespace LZN.Tests.Emulator;

/// <summary>
/// Each bug detector of the emulated device, shown by a planted fault (kernels/planted_faults.cu beside this
/// file): the fault is caught, reported with the driver's status at the next synchronisation, and named by
/// kernel and block; where a correct twin exists, the detector stays quiet on it.
/// </summary>
[Category("Emulator")]
public sealed class EmulatorDetectorTests : EmulatedDeviceTest
{
    private static void AssertFault(CudaException fault, CUresult result, params string[] parts)
    {
        Assert.That(fault.Result, Is.EqualTo(result), fault.Message);
        foreach (string part in parts)
            Assert.That(fault.Message, Does.Contain(part));
    }

    [Test]
    public void AWriteOutOfBoundsIsCaught()
    {
        using var memory = DeviceMemory.TryAllocate(Device.Backend.Context, 100 * sizeof(float))!;
        Device.Launch(Device.Planted("write_n"), 1, 128, 0, memory.Address, 101L, 1f);
        AssertFault(Device.Fault(), CUresult.CUDA_ERROR_ILLEGAL_ADDRESS,
            "kernel write_n, block (0,0,0), thread (100,0,0)", "write of 4 bytes", "past the end of the 400-byte allocation");
    }

    [Test]
    public void AReadOutOfBoundsIsCaught()
    {
        using var input = DeviceMemory.TryAllocate(Device.Backend.Context, 64 * sizeof(float))!;
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, 200 * sizeof(float))!;
        Device.Launch(Device.Planted("copy_n"), 1, 256, 0, input.Address, output.Address, 200L);
        AssertFault(Device.Fault(), CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, "kernel copy_n, block (0,0,0), thread (64,0,0)", "read of 4 bytes",
            "past the end of the 256-byte allocation");
    }

    [Test]
    public void ReadingDynamicSharedMemoryPastTheLaunchedSizeIsCaught()
    {
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, 64 * sizeof(float))!;
        var fault = Device.QuietThenFault("read_dynamic_shared", 1, 64, 64 * sizeof(float), [output.Address, 63], [output.Address, 64]);
        AssertFault(fault, CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, "kernel read_dynamic_shared, block (0,0,0)",
            "read of 4 bytes at offset 256 of dynamic shared memory, but the launch has 256 bytes");
    }

    [Test]
    public void FreedMemoryUsedAsADevicePointerIsCaught()
    {
        var memory = DeviceMemory.TryAllocate(Device.Backend.Context, 256 * sizeof(float))!;
        ulong address = memory.Address;
        memory.Dispose();
        Device.Launch(Device.Planted("write_n"), 1, 256, 0, address, 256L, 1f);
        AssertFault(Device.Fault(), CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, "kernel write_n, block (0,0,0)", "which was freed");
    }

    [Test]
    public void HostMemoryUsedAsADevicePointerIsCaught()
    {
        var host = new float[256];
        var pinned = GCHandle.Alloc(host, GCHandleType.Pinned);
        try
        {
            Device.Launch(Device.Planted("write_n"), 1, 256, 0, (ulong)pinned.AddrOfPinnedObject(), 256L, 1f);
            AssertFault(Device.Fault(), CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, "kernel write_n, block (0,0,0)", "not device memory");
        }
        finally
        {
            pinned.Free();
        }
        Assert.That(host, Is.All.Zero, "the emulator stopped the write before it happened");
    }

    [Test]
    public void AMisalignedVectorLoadIsCaught()
    {
        using var input = DeviceMemory.TryAllocate(Device.Backend.Context, 16 * sizeof(float))!;
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, sizeof(float))!;
        var fault = Device.QuietThenFault("load_vector", 1, 1, 0, [input.Address, output.Address, 4], [input.Address, output.Address, 1]);
        AssertFault(fault, CUresult.CUDA_ERROR_MISALIGNED_ADDRESS, "kernel load_vector, block (0,0,0)", "read of 16 bytes",
            "not 16-byte aligned");
    }

    [Test]
    public void ThreadsThatExitBeforeABarrierOthersWaitAtAreCaught()
    {
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, 256 * sizeof(float))!;
        var fault = Device.QuietThenFault("exit_before_barrier", 1, 256, 0, [output.Address, 256], [output.Address, 200]);
        AssertFault(fault, CUresult.CUDA_ERROR_LAUNCH_FAILED, "kernel exit_before_barrier, block (0,0,0)",
            "barrier divergence: thread (200,0,0) has exited while 200 thread(s) wait at the barrier at planted_faults.cu:");
    }

    [Test]
    public void ThreadsWaitingAtDifferentBarriersAreCaught()
    {
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, 64 * sizeof(float))!;
        Device.Launch(Device.Planted("split_barriers"), 1, 64, 0, output.Address);
        AssertFault(Device.Fault(), CUresult.CUDA_ERROR_LAUNCH_FAILED, "kernel split_barriers, block (0,0,0)", "barrier divergence",
            "waits at the barrier at planted_faults.cu:");
    }

    [Test]
    public void AShuffleWhoseMaskNamesAnExitedLaneIsCaught()
    {
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, 64 * sizeof(float))!;
        var fault = Device.QuietThenFault("shuffle_after_exit", 1, 64, 0, [output.Address, 32], [output.Address, 30]);
        AssertFault(fault, CUresult.CUDA_ERROR_LAUNCH_FAILED, "kernel shuffle_after_exit, block (0,0,0)",
            "__shfl_xor_sync at planted_faults.cu:", "waits for lane 30 of warp 0", "which has exited (inactive lane)");
    }

    [Test]
    public void AShuffleReadingALaneOutsideItsMaskIsCaught()
    {
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, 32 * sizeof(float))!;
        Device.Launch(Device.Planted("shuffle_outside_mask"), 1, 32, 0, output.Address);
        AssertFault(Device.Fault(), CUresult.CUDA_ERROR_LAUNCH_FAILED, "kernel shuffle_outside_mask, block (0,0,0)",
            "lane 0 reads lane 16, which is not in the mask (inactive lane)");
    }

    [Test]
    public void AFullWarpReductionIsExact()
    {
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, 96 * sizeof(float))!;
        Device.Launch(Device.Planted("warp_sums"), 1, 96, 0, output.Address);
        var sums = new float[96];
        Download(output, sums);
        for (int i = 0; i < 96; i++)
        {
            int warp = i / 32;
            Assert.That(sums[i], Is.EqualTo(Enumerable.Range(32 * warp, 32).Sum()), $"lane {i}");
        }
    }

    [Test]
    public void AKernelThatTrapsFailsTheLaunch()
    {
        AssertFault(Device.QuietThenFault("trap_if", 3, 32, 0, [0], [1]), CUresult.CUDA_ERROR_LAUNCH_FAILED, "kernel trap_if", "__trap() at planted_faults.cu:");
    }

    [Test]
    public void AFaultSticksToTheContextUntilItsLastBackendIsGone()
    {
        Device.Launch(Device.Planted("trap_if"), 1, 32, 0, 1);
        Device.Fault();
        var again = Assert.Throws<CudaException>(() => Device.Backend.AllocateFloat(10).Dispose())!;
        Assert.That(again.Result, Is.EqualTo(CUresult.CUDA_ERROR_LAUNCH_FAILED));
        Reopen();
        using var fresh = Device.Backend.AllocateFloat(10);
        Assert.That(fresh.ToArray(), Is.All.Zero);
    }

    [TestCase(RaceCheck.Reverse)]
    [TestCase(RaceCheck.Shuffle)]
    public void AThreadReadingSharedMemoryBeforeTheBarrierIsARace(RaceCheck order)
    {
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, 2 * 128 * sizeof(float))!;
        EmulatedDevice.SetRaceCheck(order, seed: 7);
        AssertFault(Device.QuietThenFault("read_neighbour", 2, 128, 0, [output.Address, 1], [output.Address, 0]), CUresult.CUDA_ERROR_LAUNCH_FAILED, "kernel read_neighbour: race: the output differs between the forward and the",
            "written by block (");
    }

    [Test]
    public void BlocksWritingOneElementAreARaceNamingTheWriters()
    {
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, sizeof(float))!;
        EmulatedDevice.SetRaceCheck(RaceCheck.Reverse);
        Device.Launch(Device.Planted("blocks_write_one_element"), 3, 32, 0, output.Address);
        AssertFault(Device.Fault(), CUresult.CUDA_ERROR_LAUNCH_FAILED, "kernel blocks_write_one_element: race",
            $"at 0x{output.Address + 3:x} (offset 3 of the 4-byte allocation", "written by block (0,0,0) thread (0,0,0); block (1,0,0) thread (0,0,0); block (2,0,0) thread (0,0,0)");
    }

    [Test]
    public void ACopyReadBeforeItsWaitSeesStaleSharedMemory()
    {
        float[] values = [.. Enumerable.Range(1, 64).Select(i => (float)i)];
        using var input = DeviceMemory.TryAllocate(Device.Backend.Context, 64 * sizeof(float))!;
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, 64 * sizeof(float))!;
        Upload(values, input);
        var result = new float[64];
        Device.Launch(Device.Planted("staged_copy"), 1, 64, 64 * sizeof(float), input.Address, output.Address, 1);
        Download(output, result);
        Assert.That(result, Is.EqualTo(values), "waiting first, the copy has landed");
        Device.Launch(Device.Planted("staged_copy"), 1, 64, 64 * sizeof(float), input.Address, output.Address, 0);
        Download(output, result);
        Assert.That(result, Is.All.NaN, "read before the wait: the queued copy has not landed (shared memory starts poisoned)");
    }

    private static double Tf32(float value) => Tf32Values.RoundToNearest(value);

    private (float[] A, float[] B, DeviceMemory DeviceA, DeviceMemory DeviceB) MmaOperands()
    {
        var random = new Random(17);
        float[] a = [.. Enumerable.Range(0, 16 * 8).Select(_ => 2 * random.NextSingle() - 1)]; // [16, 8]
        float[] b = [.. Enumerable.Range(0, 8 * 8).Select(_ => 2 * random.NextSingle() - 1)];  // [8, 8], b[k * 8 + n]
        var deviceA = DeviceMemory.TryAllocate(Device.Backend.Context, a.Length * sizeof(float))!;
        var deviceB = DeviceMemory.TryAllocate(Device.Backend.Context, b.Length * sizeof(float))!;
        Upload(a, deviceA);
        Upload(b, deviceB);
        return (a, b, deviceA, deviceB);
    }

    [Test]
    public void TheTensorCoreProductFollowsThePtxFragmentLayouts()
    {
        var (a, b, deviceA, deviceB) = MmaOperands();
        using (deviceA)
        using (deviceB)
        using (var d = DeviceMemory.TryAllocate(Device.Backend.Context, 16 * 8 * sizeof(float))!)
        {
            Device.Launch(Device.Planted("mma_tile"), 1, 32, 0, deviceA.Address, deviceB.Address, d.Address, 0, 0);
            var actual = new float[16 * 8];
            Download(d, actual);
            // The exact product of the TF32-rounded operands, rounded once to float.
            var worst = 0.0;
            for (int row = 0; row < 16; row++)
            {
                for (int col = 0; col < 8; col++)
                {
                    double expected = 0;
                    for (int k = 0; k < 8; k++)
                        expected += Tf32(a[row * 8 + k]) * Tf32(b[k * 8 + col]);
                    Assert.That(actual[row * 8 + col], Is.EqualTo((float)expected), $"D[{row},{col}]");
                    double unrounded = 0;
                    for (int k = 0; k < 8; k++)
                        unrounded += (double)a[row * 8 + k] * b[k * 8 + col];
                    worst = Math.Max(worst, Math.Abs(actual[row * 8 + col] - unrounded));
                }
            }
            Assert.That(worst, Is.GreaterThan(1e-5).And.LessThan(1e-2), "TF32 operands lose bits against an fp32 product, and no more");

            // The planted layout error (a1 and a2 exchanged) gives another product: a test against float64 fails.
            Device.Launch(Device.Planted("mma_tile"), 1, 32, 0, deviceA.Address, deviceB.Address, d.Address, 1, 0);
            var swapped = new float[16 * 8];
            Download(d, swapped);
            Assert.That(swapped.Zip(actual).Count(pair => Math.Abs(pair.First - pair.Second) > 1e-3), Is.GreaterThan(64));
        }
    }

    [Test]
    public void MmaOperandsThatWereNotConvertedToTf32AreCaught()
    {
        var (_, _, deviceA, deviceB) = MmaOperands();
        using (deviceA)
        using (deviceB)
        using (var d = DeviceMemory.TryAllocate(Device.Backend.Context, 16 * 8 * sizeof(float))!)
        {
            Device.Launch(Device.Planted("mma_tile"), 1, 32, 0, deviceA.Address, deviceB.Address, d.Address, 0, 1);
            AssertFault(Device.Fault(), CUresult.CUDA_ERROR_LAUNCH_FAILED, "kernel mma_tile, block (0,0,0)",
                "mma.sync.m16n8k8.tf32 at ptx.cuh:", "is not a TF32 value (low mantissa bits set); convert it with cvt.rna.tf32.f32");
        }
    }

    private static unsafe void Upload(float[] values, DeviceMemory memory)
    {
        fixed (float* host = values)
            CudaDriver.ThrowIfFailed(CudaDriver.cuMemcpyHtoD_v2(memory.Address, host, (nuint)(values.Length * sizeof(float))));
    }

    private static unsafe void Download(DeviceMemory memory, float[] values)
    {
        fixed (float* host = values)
            CudaDriver.ThrowIfFailed(CudaDriver.cuMemcpyDtoH_v2(host, memory.Address, (nuint)(values.Length * sizeof(float))));
    }
}
