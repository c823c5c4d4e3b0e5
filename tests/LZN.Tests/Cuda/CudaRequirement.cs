using LZN.Native.Backends.Cuda;

namespace LZN.Tests.Cuda;

/// <summary>
/// A CUDA device is optional on a developer machine and required where LZN_REQUIRE_CUDA=1 (CI sets it and
/// hands the GPU fixtures the emulated device), so a missing or broken device fails there instead of skipping.
/// </summary>
internal static class CudaRequirement
{
    public static bool Required => Environment.GetEnvironmentVariable("LZN_REQUIRE_CUDA") == "1";

    /// <summary>CUDA device 0, or Assert.Fail / Assert.Ignore with the reason there is none.</summary>
    public static CudaBackend CreateBackend()
    {
        if (CudaBackend.TryCreate(0, out var cuda, out string? reason))
            return cuda;
        if (Required)
            Assert.Fail($"LZN_REQUIRE_CUDA=1 but no CUDA device could be opened: {reason}");
        Assert.Ignore($"no CUDA device: {reason}");
        throw new InvalidOperationException("unreachable");
    }
}

/// <summary>A fixture whose tests share one CUDA backend (<see cref="CudaRequirement.CreateBackend"/>), opened once.</summary>
public abstract class CudaFixture
{
    private CudaBackend? _backend;

    protected CudaBackend Backend => _backend ?? throw new InvalidOperationException("opened in OneTimeSetUp");

    [OneTimeSetUp]
    public void OpenDevice() => _backend = CudaRequirement.CreateBackend();

    [OneTimeTearDown]
    public void CloseDevice() => _backend?.Dispose();
}
