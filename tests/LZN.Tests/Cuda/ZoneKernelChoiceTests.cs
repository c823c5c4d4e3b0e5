using LZN.Native.Backends.Cuda;

namespace LZN.Tests.Cuda;

/// <summary>How LZN_ZONE_KERNELS names a version, and which path Auto takes per step (host only, no device).</summary>
public class ZoneKernelChoiceTests
{
    [TestCase("", ZoneKernelVersion.Auto)]
    [TestCase("auto", ZoneKernelVersion.Auto)]
    [TestCase(" V1 ", ZoneKernelVersion.V1)]
    [TestCase("v2", ZoneKernelVersion.V2)]
    [TestCase("GEMM", ZoneKernelVersion.Gemm)]
    [TestCase("gemm-dense", ZoneKernelVersion.GemmDense)]
    [TestCase("Gemm-3xTF32", ZoneKernelVersion.Gemm3xTf32)]
    public void NamesParse(string text, ZoneKernelVersion expected)
    {
        Assert.That(ZoneKernelVersions.TryParse(text, out var version), Is.True);
        Assert.That(version, Is.EqualTo(expected));
    }

    [TestCase("v3")]
    [TestCase("v1,v2")]
    [TestCase("gemmdense")]
    [TestCase("gemm-tf32")]
    public void OtherNamesDoNot(string text) => Assert.That(ZoneKernelVersions.TryParse(text, out _), Is.False);

    [TestCase(ZoneKernelVersion.GemmDense, "gemm-dense")]
    [TestCase(ZoneKernelVersion.Gemm3xTf32, "gemm-3xtf32")]
    [TestCase(ZoneKernelVersion.Gemm, "gemm")]
    [TestCase(ZoneKernelVersion.V2, "v2")]
    public void EachVersionPrintsTheNameThatParsesBack(ZoneKernelVersion version, string name)
    {
        Assert.That(ZoneKernelVersions.Name(version), Is.EqualTo(name));
        Assert.That(ZoneKernelVersions.TryParse(name, out var parsed) && parsed == version, Is.True);
    }

    // Training shapes stay on v1, as do the H200 points where v1 measured faster (250 x 2000 x 200, 1024 x 1024 x 64);
    // one unit either side of 2^27 pins the boundary. The gemm versions are gemm at any size, v1 and v2 never are.
    [TestCase(ZoneKernelVersion.Auto, 256, 256, 64, false)]
    [TestCase(ZoneKernelVersion.Auto, 250, 2000, 200, false)]
    [TestCase(ZoneKernelVersion.Auto, 1024, 1024, 64, false)]
    [TestCase(ZoneKernelVersion.Auto, 256, 2048, 255, false)]
    [TestCase(ZoneKernelVersion.Auto, 256, 2048, 256, true)]
    [TestCase(ZoneKernelVersion.Auto, 1024, 8192, 256, true)]
    [TestCase(ZoneKernelVersion.Auto, 32768, 32768, 256, true)]
    [TestCase(ZoneKernelVersion.Gemm, 1, 1, 1, true)]
    [TestCase(ZoneKernelVersion.GemmDense, 1, 1, 1, true)]
    [TestCase(ZoneKernelVersion.Gemm3xTf32, 1, 1, 1, true)]
    [TestCase(ZoneKernelVersion.V1, 32768, 32768, 256, false)]
    [TestCase(ZoneKernelVersion.V2, 32768, 32768, 256, false)]
    public void AutoTakesTheGemmPathFromTwoToThe27RowAnchorDims(ZoneKernelVersion version, int rows, int anchorCount, int dim, bool gemm) =>
        Assert.That(ZoneKernelVersions.UsesGemm(version, rows, anchorCount, dim), Is.EqualTo(gemm));
}

/// <summary>LZN_ZONE_KERNELS is read when a CUDA backend is created, so its refusal needs a device (or the emulated one).</summary>
[Category("GPU")]
public class ZoneKernelEnvironmentTests
{
    [OneTimeSetUp]
    public void RequireADevice() => CudaRequirement.CreateBackend().Dispose();

    [Test]
    public void AnUnknownValueIsOneLineNamingTheVariable()
    {
        var result = LZN.Tests.Cli.CliProcess.Run(new Dictionary<string, string?> { ["LZN_ZONE_KERNELS"] = "v3" }, "selftest", "--device", "cuda");
        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.Error.Trim(), Is.EqualTo("lzn: error: LZN_ZONE_KERNELS=v3: expected auto, v1, v2, gemm, gemm-dense or gemm-3xtf32."));
    }
}
