namespace LZN.Native.Backends.Cuda;

/// <summary>
/// Which CUDA zone kernels a backend launches: V1 (kernels/latent_zone.cu, fused fp32 tiles), V2
/// (kernels/latent_zone_v2.cu, 3xTF32 tensor-core logits in the forward tiles, sm_80+; v1's tiles where v2 has no
/// configuration for a dim or device), Gemm (kernels/latent_zone_gemm.cu, fp32 cuBLAS products over chunks of rows
/// with per-row kernels between them) or Auto, the default: per step, v1 below
/// <see cref="ZoneKernelVersions.AutoGemmWork"/> rows x anchors x dim and gemm from there (docs/kernels.md has the H200
/// measurements behind it). The gemm path skips the zero products of chunks whose softmax has underflowed (at small t);
/// GemmDense is the gemm path without that, for measuring it. Gemm3xTf32 is the gemm path with its logits' product
/// x_i . a_j on TF32 tensor cores in the 3xTF32 split (hi.hi + hi.lo + lo.hi, fp32 accuracy); opt-in until a device
/// has timed it. <c>LZN_ZONE_KERNELS=auto|v1|v2|gemm|gemm-dense|gemm-3xtf32</c> chooses when a backend is created;
/// all pass the same float64 tables.
/// </summary>
public enum ZoneKernelVersion
{
    V1,
    V2,
    Gemm,
    Auto,
    GemmDense,
    Gemm3xTf32,
}

public static class ZoneKernelVersions
{
    public const string EnvironmentVariable = "LZN_ZONE_KERNELS";

    /// <summary>
    /// Rows x anchors x dim of a step from which Auto takes the gemm path: 2^27. Measured on an H200 (docs/kernels.md),
    /// gemm's forward + backward was faster from 256 x 2048 x 256 (2^27: 26% faster, its forward 7% slower) up, and v1
    /// was faster at 250 x 2000 x 200 (forward 16%; gemm's forward + backward 6% faster), at 1024 x 1024 x 64 (both) and
    /// at training shapes (128 to 256 rows and anchors, 1.5x).
    /// </summary>
    public const long AutoGemmWork = 1L << 27;

    /// <summary>The accepted names, for messages.</summary>
    public const string Names = "auto, v1, v2, gemm, gemm-dense or gemm-3xtf32";

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
            "gemm-dense" => ZoneKernelVersion.GemmDense,
            "gemm-3xtf32" => ZoneKernelVersion.Gemm3xTf32,
            _ => null,
        };
        version = parsed ?? default;
        return parsed is not null;
    }

    /// <summary>Whether a step of <paramref name="rows"/> x <paramref name="anchorCount"/> x <paramref name="dim"/> runs on the gemm path.</summary>
    public static bool UsesGemm(ZoneKernelVersion version, int rows, int anchorCount, int dim) =>
        IsGemm(version) || (version == ZoneKernelVersion.Auto && (long)rows * anchorCount * dim >= AutoGemmWork);

    /// <summary>Whether the version is the gemm path at every size (Gemm, GemmDense, Gemm3xTf32).</summary>
    public static bool IsGemm(ZoneKernelVersion version) =>
        version is ZoneKernelVersion.Gemm or ZoneKernelVersion.GemmDense or ZoneKernelVersion.Gemm3xTf32;

    /// <summary>The name LZN_ZONE_KERNELS and --kernels take for a version.</summary>
    public static string Name(ZoneKernelVersion version) => version switch
    {
        ZoneKernelVersion.GemmDense => "gemm-dense",
        ZoneKernelVersion.Gemm3xTf32 => "gemm-3xtf32",
        _ => version.ToString().ToLowerInvariant(),
    };
}
