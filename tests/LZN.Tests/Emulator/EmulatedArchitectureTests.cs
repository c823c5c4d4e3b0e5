using LZN.Tests.Cli;

namespace LZN.Tests.Emulator;

/// <summary>
/// Every architecture the emulated device models (LZN_EMULATED_CC), in a child `lzn` each (a process's
/// device does not change): `lzn info` shows it with its limits, and `lzn selftest --device cuda` runs the
/// verification tables on it: sm_80 to sm_90 with the default (auto: v1 tiles at the tables' sizes) (sm_86/sm_89 take the anchors backward with
/// one dim-tile slot, their 99 KB holding no more), sm_75 with the gemm path, since the tiles' cp.async needs sm_80.
/// </summary>
[Category("Emulator")]
public sealed class EmulatedArchitectureTests
{
    [OneTimeSetUp]
    public void RequireTheEmulator() => EmulatedDevice.Open().Dispose();

    private static CliProcess.Result Lzn(string architecture, params string[] arguments) =>
        CliProcess.Run(new Dictionary<string, string?> { ["LZN_EMULATED_CC"] = architecture }, arguments);

    [TestCase("7.5", 65536)]
    [TestCase("8.0", 166912)]
    [TestCase("8.6", 101376)]
    [TestCase("8.9", 101376)]
    [TestCase("9.0", 232448)]
    public void EachArchitectureIsListedAndRunsTheTablesWhereTheKernelsFit(string architecture, int optinBytes)
    {
        var result = Lzn(architecture, "info");
        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.Output, Does.Match($@"device 0: [^\n]*emulator[^\n]*, compute capability {architecture.Replace(".", @"\.", StringComparison.Ordinal)}"));
        string code = architecture.Replace(".", "", StringComparison.Ordinal);
        var selftest = Lzn(architecture, "selftest", "--device", "cuda", "--seed", "5");
        TestContext.Out.WriteLine(selftest.Output + selftest.Error);
        Assert.That(result.Output, Does.Contain($"{optinBytes} B"));
        Assert.That(result.Output.Contains("zone kernels: gemm whatever LZN_ZONE_KERNELS says", StringComparison.Ordinal), Is.EqualTo(code == "75"));
        Assert.That(selftest.ExitCode, Is.Zero, selftest.Error);
        Assert.That(selftest.Output, Does.Contain($"sm_{code}").And.Contain(code == "75" ? "zone kernels gemm" : "zone kernels auto")
            .And.Contain("zone step backward").And.Not.Match("(?m) fail$"));
    }

    [TestCase("8.0")]
    [TestCase("8.6")]
    [TestCase("8.9")]
    [TestCase("9.0")]
    public void ZoneKernelsV2PassTheTablesToo(string architecture)
    {
        // v2 where it has a configuration (sm_80: one anchor stage at d = 256, v1 above; sm_90: two stages to d = 256;
        // sm_86/sm_89, 99 KB: v2 at d <= 64, v1 above, one-slot anchors backward).
        var selftest = CliProcess.Run(new Dictionary<string, string?> { ["LZN_EMULATED_CC"] = architecture, ["LZN_ZONE_KERNELS"] = "v2" },
            "selftest", "--device", "cuda", "--seed", "6");
        TestContext.Out.WriteLine(selftest.Output + selftest.Error);
        Assert.That(selftest.ExitCode, Is.Zero, selftest.Error);
        Assert.That(selftest.Output, Does.Contain("zone kernels v2").And.Contain("zone step backward").And.Not.Match("(?m) fail$"));
    }

    [Test]
    public void AnArchitectureTheEmulatorDoesNotModelIsAClearReason()
    {
        var result = Lzn("7.0", "info");
        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.Output, Does.Contain("LZN_EMULATED_CC=7.0 is not an emulated architecture (7.5, 8.0, 8.6, 8.9, 9.0)"));
    }
}
