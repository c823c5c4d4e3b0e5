using LZN.Native.Backends.Cuda;
using LZN.Native.Interop;

namespace LZN.Tests.Cuda;

public class CudaAvailabilityTests
{
    [Test]
    public void WithoutLibcudaTryCreateFailsNamingLibcudaAndTheAttempts()
    {
        var driver = NativeLibraries.TryLoad(NativeLibraries.Cuda);
        if (driver.Loaded)
            Assert.Ignore($"libcuda loads here ({driver.Path}); this test covers machines without the driver.");

        bool created = CudaBackend.TryCreate(0, out var backend, out string? reason);

        Assert.That(created, Is.False);
        Assert.That(backend, Is.Null);
        Assert.That(reason, Does.Contain("libcuda"));
        Assert.That(reason, Does.Contain(driver.Attempts[0]));
    }

    [Test]
    public void TheRuntimeProbeNeverThrowsAndAgreesWithTheResolver()
    {
        var info = CudaRuntimeInfo.Probe();

        Assert.That(info.Driver.Loaded, Is.EqualTo(NativeLibraries.TryLoad(NativeLibraries.Cuda).Loaded));
        Assert.That(info.Nvrtc.Loaded, Is.EqualTo(NativeLibraries.TryLoad(NativeLibraries.Nvrtc).Loaded));
        Assert.That(info.Cublas.Loaded, Is.EqualTo(NativeLibraries.TryLoad(NativeLibraries.Cublas).Loaded));
        if (!info.Driver.Loaded)
        {
            Assert.That(info.Available, Is.False);
            Assert.That(info.UnavailableReason, Does.Contain("libcuda"));
            Assert.That(info.Devices, Is.Empty);
        }
        if (info.Nvrtc.Loaded)
        {
            Assert.That(info.NvrtcVersion, Does.Match(@"^\d+\.\d+$"));
            Assert.That(info.NvrtcArchitectures, Is.Not.Empty);
        }
        TestContext.Out.WriteLine($"driver {info.DriverVersion ?? "-"}, NVRTC {info.NvrtcVersion ?? "-"}, devices {info.Devices.Count}, reason: {info.UnavailableReason ?? "none"}");
    }

    [TestCase(1, 512)]
    [TestCase(512, 512)]
    [TestCase(513, 640)]
    [TestCase(1024, 1024)]
    [TestCase(1025, 1280)]
    [TestCase(3 << 20, 3 << 20)]
    [TestCase((3 << 20) + 1, (7 << 19))]
    public void SizeClassesRoundUpToAQuarterOfAPowerOfTwo(long bytes, long expected) =>
        Assert.That(CudaAllocator.SizeClass(bytes), Is.EqualTo(expected));

    [Test]
    public void SizeClassesWasteAtMostAQuarter()
    {
        for (long bytes = 513; bytes < 1 << 22; bytes = bytes * 17 / 16 + 3)
        {
            long size = CudaAllocator.SizeClass(bytes);
            Assert.That(size, Is.GreaterThanOrEqualTo(bytes));
            Assert.That(size, Is.LessThanOrEqualTo(bytes * 1.25 + 1), $"{bytes} bytes");
            Assert.That(CudaAllocator.SizeClass(size), Is.EqualTo(size), "a class is its own class");
        }
    }
}
