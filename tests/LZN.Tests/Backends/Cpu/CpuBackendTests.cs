using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Interop;

namespace LZN.Tests.Backends.Cpu;

/// <summary>What is particular to the CPU backend: provider choice, descriptions, OpenBLAS introspection.</summary>
public sealed class CpuBackendTests
{
    [Test]
    public void ForcedManagedGemmSaysSo()
    {
        using var backend = new CpuBackend(CpuGemmProvider.Managed);
        TestContext.Out.WriteLine(backend.Description);
        Assert.That(backend.GemmProvider, Is.EqualTo(CpuGemmProvider.Managed));
        Assert.That(backend.Description, Does.StartWith("CPU (managed SIMD GEMM, Vector"));
        Assert.That(backend.Description, Does.Contain($"{Environment.ProcessorCount} threads"));
    }

    [Test]
    public void AutoPicksOpenBlasWhenItLoads()
    {
        using var backend = new CpuBackend();
        var expected = OpenBlasInfo.IsAvailable ? CpuGemmProvider.OpenBlas : CpuGemmProvider.Managed;
        Assert.That(backend.GemmProvider, Is.EqualTo(expected));
    }

    [Test]
    public void OpenBlasInfoReportsVersionCoreAndThreads()
    {
        if (!OpenBlasInfo.IsAvailable)
            Assert.Ignore(OpenBlasInfo.Describe());
        using var backend = new CpuBackend(CpuGemmProvider.OpenBlas);
        Assert.Multiple(() =>
        {
            Assert.That(OpenBlasInfo.Load.Path, Is.Not.Null.And.Not.Empty);
            Assert.That(OpenBlasInfo.Config, Does.StartWith("OpenBLAS "));
            Assert.That(OpenBlasInfo.Version, Does.Match(@"^\d+\.\d+\.\d+"));
            Assert.That(OpenBlasInfo.CoreName, Is.Not.Null.And.Not.Empty);
            Assert.That(OpenBlasInfo.Threads, Is.GreaterThanOrEqualTo(1));
            Assert.That(backend.Description, Is.EqualTo(
                $"CPU (OpenBLAS {OpenBlasInfo.Version} {OpenBlasInfo.CoreName}, {OpenBlasInfo.Threads} threads)"));
            Assert.That(OpenBlasInfo.Describe(), Does.Contain(OpenBlasInfo.Load.Path!));
        });
    }

    [Test]
    public void OpenBlasThreadCountCanBeSet()
    {
        if (!OpenBlasInfo.IsAvailable)
            Assert.Ignore(OpenBlasInfo.Describe());
        int before = OpenBlasInfo.Threads;
        try
        {
            OpenBlasInfo.SetThreads(1);
            Assert.That(OpenBlasInfo.Threads, Is.EqualTo(1));
        }
        finally
        {
            OpenBlasInfo.SetThreads(before);
        }
    }

    [Test]
    public void DisposedBuffersAndLengthMismatchesAreRejected()
    {
        using var backend = new CpuBackend(CpuGemmProvider.Managed);
        var disposed = backend.AllocateFloat(4);
        disposed.Dispose();
        using var live = backend.AllocateFloat(4);
        Assert.That(() => backend.Fill(disposed, 1f), Throws.InstanceOf<ObjectDisposedException>());
        Assert.That(() => backend.Upload(new float[3], live), Throws.ArgumentException);
    }
}
