namespace LZN.Native.Backends.Cuda;

/// <summary>
/// Which CUDA zone kernels a backend launches: V1 (kernels/latent_zone.cu, fused fp32 tiles), V2
/// (kernels/latent_zone_v2.cu, 3xTF32 tensor-core logits in the forward tiles, sm_80+; v1's tiles where v2 has no
/// configuration for a dim or device), Gemm (kernels/latent_zone_gemm.cu, fp32 cuBLAS products over chunks of rows
/// with per-row kernels between them) or Auto, the default: per step, v1 below
/// <see cref="ZoneKernelVersions.AutoGemmPairs"/> row-anchor pairs and gemm from there (docs/kernels.md has the H200
/// measurements behind it). <c>LZN_ZONE_KERNELS=auto|v1|v2|gemm</c> chooses when a backend is created; all pass the
/// same float64 tables.
/// </summary>
public enum ZoneKernelVersion
{
    V1,
    V2,
    Gemm,
    Auto,
}

public static class ZoneKernelVersions
{
    public const string EnvironmentVariable = "LZN_ZONE_KERNELS";

    /// <summary>
    /// Rows x anchors of a step from which Auto takes the gemm path: 2^20, between the H200's 250 x 2000 (0.5 M pairs,
    /// where v1's forward was 16% faster and gemm's forward + backward 6%) and 1024 x 8192 (8.4 M, gemm 1.2x forward,
    /// 1.9x forward + backward); at training shapes (128 to 256 rows and anchors) v1 was 1.5x faster.
    /// </summary>
    public const long AutoGemmPairs = 1L << 20;

    /// <summary>The accepted names, for messages.</summary>
    public const string Names = "auto, v1, v2 or gemm";

    /// <summary>LZN_ZONE_KERNELS, or Auto when unset; any other value is an error naming the variable.</summary>
    public static ZoneKernelVersion FromEnvironment() =>
        TryParse(Environment.GetEnvironmentVariable(EnvironmentVariable) ?? "", out var version)
            ? version
            : throw new ArgumentException($"{EnvironmentVariable}={Environment.GetEnvironmentVariable(EnvironmentVariable)}: expected {Names}.");

    /// <summary>A version name (empty: Auto), case and surrounding spaces ignored.</summary>
    public static bool TryParse(string text, out ZoneKernelVersion version)
    {
        ArgumentNullException.ThrowIfNull(text);
        ZoneKernelVersion? parsed = text.Trim().ToLowerInvariant() switch
        {
            "" or "auto" => ZoneKernelVersion.Auto,
            "v1" => ZoneKernelVersion.V1,
            "v2" => ZoneKernelVersion.V2,
            "gemm" => ZoneKernelVersion.Gemm,
            _ => null,
        };
        version = parsed ?? default;
        return parsed is not null;
    }

    /// <summary>Whether a step of <paramref name="rows"/> x <paramref name="anchorCount"/> runs on the gemm path.</summary>
    public static bool UsesGemm(ZoneKernelVersion version, int rows, int anchorCount) =>
        version == ZoneKernelVersion.Gemm || (version == ZoneKernelVersion.Auto && (long)rows * anchorCount >= AutoGemmPairs);
}
