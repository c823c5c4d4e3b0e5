using LZN.Native.Backends.Cuda;
using LZN.Native.Verification;
using LZN.Tests.Cuda;

namespace LZN.Tests.Verification;

/// <summary>
/// The zone verification table on the CUDA backend with the v1 tiles (fp32 FMA logits), which stay selectable beside
/// the default v2 (the other CUDA fixtures run v2), held to the same float64 bounds.
/// </summary>
[Category("GPU")]
public sealed class ZoneKernelsV1Tests
{
    private CudaBackend? _backend;

    private CudaBackend Backend => _backend ?? throw new InvalidOperationException("opened in OneTimeSetUp");

    [OneTimeSetUp]
    public void OpenDevice()
    {
        _backend = CudaRequirement.CreateBackend();
        _backend.UseZoneKernels(ZoneKernelVersion.V1);
    }

    [OneTimeTearDown]
    public void CloseDevice() => _backend?.Dispose();

    public static IEnumerable<TestCaseData> Cases() => ZoneTable.Cases.Select(verificationCase =>
        new TestCaseData(verificationCase).SetArgDisplayNames($"{verificationCase.Family}: {verificationCase.Name}"));

    [TestCaseSource(nameof(Cases))]
    public void Verify(VerificationCase verificationCase)
    {
        Assert.That(Backend.ZoneKernels, Is.EqualTo(ZoneKernelVersion.V1));
        var result = verificationCase.Run(Backend, TableTests.Seed);
        TestContext.Out.WriteLine($"{Backend.Description}, zone kernels v1: error {result.Error:0.00e+00}, bound {result.Bound:0.#e+00}");
        if (!result.Passed)
            Assert.Fail(result.Failure!);
    }
}
