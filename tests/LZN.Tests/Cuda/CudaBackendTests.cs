using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Backends.Cuda;
using LZN.Native.Interop.Cuda;

namespace LZN.Tests.Cuda;

/// <summary>
/// What only the CUDA backend has: device memory round trips, cuBLAS's math mode, the caching allocator, the
/// internal kernel API. Its ops are held against float64 by the verification tables, like every backend's.
/// </summary>
[Category("GPU")]
public class CudaBackendTests
{
    private CudaBackend? _cuda;

    private CudaBackend Cuda => _cuda ?? throw new InvalidOperationException("No CUDA backend.");

    [OneTimeSetUp]
    public void OpenDevice()
    {
        _cuda = CudaRequirement.CreateBackend();
        TestContext.Out.WriteLine(_cuda.Description);
    }

    [OneTimeTearDown]
    public void CloseDevice() => _cuda?.Dispose();

    [Test]
    public void UploadDownloadCopyAndSlicesRoundTrip()
    {
        var cuda = Cuda;
        float[] values = [.. Enumerable.Range(0, 1001).Select(i => i * 0.5f - 7)];
        using var buffer = cuda.FromHost(values);
        Assert.That(buffer.ToArray(), Is.EqualTo(values));
        using var copy = cuda.AllocateFloat(values.Length);
        Assert.That(copy.ToArray(), Is.All.EqualTo(0f), "allocations are zeroed");
        cuda.Copy(buffer, copy);
        Assert.That(copy.ToArray(), Is.EqualTo(values));
        var view = copy.Slice(17, 100);
        Assert.That(view.ToArray(), Is.EqualTo(values[17..117]));
        cuda.Fill(view, 3.5f);
        float[] after = copy.ToArray();
        Assert.That(after[16], Is.EqualTo(values[16]));
        Assert.That(after[17..117], Is.All.EqualTo(3.5f));
        Assert.That(after[117], Is.EqualTo(values[117]));
        int[] integers = [.. Enumerable.Range(-5, 333)];
        using var intBuffer = cuda.FromHost(integers);
        Assert.That(intBuffer.ToArray(), Is.EqualTo(integers));
        cuda.Fill(intBuffer.Slice(1, 331), 42);
        int[] filled = intBuffer.ToArray();
        Assert.That((filled[0], filled[1], filled[331], filled[332]), Is.EqualTo((-5, 42, 42, 327)));
    }

    [Test]
    public void ScratchSkipsZeroingAndIsPoisonedWhereTheTestsAskForIt()
    {
        string? before = Environment.GetEnvironmentVariable("LZN_CUDA_POISON_SCRATCH");
        Environment.SetEnvironmentVariable("LZN_CUDA_POISON_SCRATCH", "1");
        try
        {
            using var poisoned = CudaRequirement.CreateBackend();
            using var scratch = poisoned.AllocateScratch(1000);
            Assert.That(scratch.ToArray(), Is.All.NaN, "an element a kernel forgets to write reads as NaN");
        }
        finally
        {
            Environment.SetEnvironmentVariable("LZN_CUDA_POISON_SCRATCH", before);
        }
    }

    [Test]
    public void CublasComputesInPureFp32() =>
        Assert.That(Cuda.CublasMathMode, Is.EqualTo(cublasMath_t.CUBLAS_DEFAULT_MATH));

    [Test]
    public void TheAllocatorReusesFreedBlocksAndTracksMemory()
    {
        var cuda = Cuda;
        cuda.AllocateFloat(12_345).Dispose();
        long driverCalls = cuda.Allocator.DriverAllocations;
        var before = cuda.Memory;
        for (int i = 0; i < 10; i++)
        {
            using var buffer = cuda.AllocateFloat(12_345);
            Assert.That(cuda.Memory.CurrentBytes, Is.EqualTo(before.CurrentBytes + 12_345 * sizeof(float)));
        }
        Assert.That(cuda.Allocator.DriverAllocations, Is.EqualTo(driverCalls), "a warm cache calls no cuMemAlloc");
        Assert.That(cuda.Memory.CurrentBytes, Is.EqualTo(before.CurrentBytes));
        Assert.That(cuda.Memory.PeakBytes, Is.GreaterThanOrEqualTo(before.CurrentBytes + 12_345 * sizeof(float)));
        cuda.Allocator.ReleaseCached();
        Assert.That(cuda.Allocator.CachedBytes, Is.Zero);
    }

    [Test]
    public unsafe void TheInternalKernelApiWorks()
    {
        var cuda = Cuda;
        Assert.That(cuda.Properties.ComputeCapabilityMajor, Is.GreaterThanOrEqualTo(5));
        var kernel = cuda.Kernel("elementwise.cu", "scale_shift");
        Assert.That(kernel, Is.SameAs(cuda.Kernel("elementwise.cu", "scale_shift")));
        Assert.That(kernel.MaxThreadsPerBlock, Is.GreaterThan(0));
        Assert.That(kernel.ActiveBlocksPerMultiprocessor(256, 0), Is.GreaterThan(0));
        using var buffer = cuda.FromHost(new float[] { 1, 2, 3 });
        ulong address = CudaBackend.Pointer(buffer);
        long count = 3;
        float alpha = 2, shift = 1;
        void** arguments = stackalloc void*[] { &address, &count, &alpha, &shift };
        float milliseconds = cuda.TimeMilliseconds(() => cuda.Launch(kernel, (1, 1, 1), (32, 1, 1), 0, arguments));
        Assert.That(buffer.ToArray(), Is.EqualTo(new float[] { 3, 5, 7 }));
        Assert.That(milliseconds, Is.GreaterThanOrEqualTo(0));
        Assert.That(CudaBackend.Pointer(buffer.Slice(1, 2)), Is.EqualTo(address + sizeof(float)));
        Assert.That(CudaBackend.Pointer((FloatBuffer?)null), Is.Zero);
        using var cpu = new CpuBackend();
        using var cpuBuffer = cpu.AllocateFloat(1);
        Assert.Throws<ArgumentException>(() => CudaBackend.Pointer(cpuBuffer));
    }
}
