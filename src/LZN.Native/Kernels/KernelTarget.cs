namespace LZN.Native.Kernels;

/// <summary>What NVRTC produces: PTX for a virtual architecture, or a CUBIN for a real one.</summary>
public enum KernelImageKind
{
    Ptx,
    Cubin,
}

/// <summary>An architecture (major * 10 + minor, e.g. 90 for sm_90) and the image kind to build for it.</summary>
public readonly record struct KernelTarget(int Architecture, KernelImageKind Kind)
{
    /// <summary>NVRTC's option: <c>--gpu-architecture=sm_XY</c> for CUBIN, <c>compute_XY</c> for PTX.</summary>
    public string ArchitectureOption => Kind == KernelImageKind.Cubin
        ? $"--gpu-architecture=sm_{Architecture}"
        : $"--gpu-architecture=compute_{Architecture}";

    public override string ToString() => Kind == KernelImageKind.Cubin ? $"sm_{Architecture}" : $"compute_{Architecture}";
}
