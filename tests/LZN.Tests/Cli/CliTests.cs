namespace LZN.Tests.Cli;

public class CliTests
{
    [Test]
    public void SelftestOnTheCpuPassesAndPrintsTheTable()
    {
        var result = CliProcess.Run("selftest", "--device", "cpu", "--seed", "7");
        Assert.That(result.ExitCode, Is.Zero, result.Output + result.Error);
        Assert.That(result.Output, Does.Contain("gemm NT").And.Contain("philox normal").And.Contain("max rel err"));
        Assert.That(result.Output, Does.Match(@"selftest: \d+ passed, 0 failed"));
    }

    [Test]
    public void AnUnknownDeviceIsAClearError()
    {
        var result = CliProcess.Run("selftest", "--device", "tpu");
        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Error, Does.Contain("Unknown device 'tpu'"));
    }

    [Test]
    public void AutoFallsBackToTheCpuAndSaysWhy()
    {
        if (LZN.Native.Backends.Cuda.CudaBackend.TryCreate(0, out var cuda, out _))
        {
            cuda.Dispose();
            Assert.Ignore("a CUDA device is present; auto picks it");
        }
        var result = CliProcess.Run(new Dictionary<string, string?> { ["LZN_DEVICE"] = null }, "selftest", "--seed", "3");
        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.Error, Does.Contain("device: auto -> CPU").And.Contain("CUDA unavailable"));
    }
}
