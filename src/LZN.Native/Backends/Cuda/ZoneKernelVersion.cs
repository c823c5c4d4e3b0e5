namespace LZN.Native.Backends.Cuda;

/// <summary>
/// Which CUDA zone forward tiles a backend launches: V1 (kernels/latent_zone.cu, fp32 FMA logits) or V2
/// (kernels/latent_zone_v2.cu, 3xTF32 tensor-core logits, sm_80+; v1 where v2 has no configuration for a dim
/// or device). <c>LZN_ZONE_KERNELS=v1|v2</c> chooses when a backend is created; the default is V2, which passes the
/// same float64 tables as V1 on every emulated architecture; V1 stays selectable for side-by-side measurement.
/// </summary>
public enum ZoneKernelVersion
{
    V1,
    V2,
}

internal static class ZoneKernelVersions
{
    public const string EnvironmentVariable = "LZN_ZONE_KERNELS";

    /// <summary>LZN_ZONE_KERNELS, or V2 when unset; any other value is an error naming the variable.</summary>
    public static ZoneKernelVersion FromEnvironment() => Parse(Environment.GetEnvironmentVariable(EnvironmentVariable));

    public static ZoneKernelVersion Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "v1" => ZoneKernelVersion.V1,
        null or "" or "v2" => ZoneKernelVersion.V2,
        _ => throw new ArgumentException($"{EnvironmentVariable}={text}: expected v1 or v2."),
    };
}
