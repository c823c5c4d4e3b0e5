namespace LZN.Native.Backends.Cuda;

/// <summary>
/// Which CUDA zone kernels a backend launches: V1 (kernels/latent_zone.cu, fused fp32 tiles), V2
/// (kernels/latent_zone_v2.cu, 3xTF32 tensor-core logits in the forward tiles, sm_80+; v1 where v2 has no configuration
/// for a dim or device) or Gemm (kernels/latent_zone_gemm.cu, fp32 cuBLAS products over chunks of rows with per-row
/// kernels between them). <c>LZN_ZONE_KERNELS=v1|v2|gemm</c> chooses when a backend is created. The default is V1, the
/// fastest of v1 and v2 measured on an H200 (docs/kernels.md); all three pass the same float64 tables.
/// </summary>
public enum ZoneKernelVersion
{
    V1,
    V2,
    Gemm,
}

internal static class ZoneKernelVersions
{
    public const string EnvironmentVariable = "LZN_ZONE_KERNELS";

    /// <summary>LZN_ZONE_KERNELS, or V1 when unset; any other value is an error naming the variable.</summary>
    public static ZoneKernelVersion FromEnvironment() => Parse(Environment.GetEnvironmentVariable(EnvironmentVariable));

    public static ZoneKernelVersion Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "v1" => ZoneKernelVersion.V1,
        "v2" => ZoneKernelVersion.V2,
        "gemm" => ZoneKernelVersion.Gemm,
        _ => throw new ArgumentException($"{EnvironmentVariable}={text}: expected v1, v2 or gemm."),
    };
}
