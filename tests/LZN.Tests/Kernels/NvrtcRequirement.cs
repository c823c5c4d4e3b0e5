using LZN.Native.Interop;

namespace LZN.Tests.Kernels;

/// <summary>NVRTC is optional on a developer machine and required in CI (LZN_REQUIRE_NVRTC=1).</summary>
internal static class NvrtcRequirement
{
    public static void EnsureLoaded()
    {
        var result = NativeLibraries.TryLoad(NativeLibraries.Nvrtc);
        if (result.Loaded)
            return;
        string trace = string.Join(Environment.NewLine, result.Attempts);
        if (Environment.GetEnvironmentVariable("LZN_REQUIRE_NVRTC") == "1")
            Assert.Fail($"LZN_REQUIRE_NVRTC=1 but NVRTC could not be loaded:{Environment.NewLine}{trace}");
        Assert.Ignore($"NVRTC is not installed here:{Environment.NewLine}{trace}");
    }
}
