namespace LZN.Native.Backends.Cpu;

/// <summary>CPU mirror of kernels/latent_zone.cu.</summary>
internal sealed class CpuZoneKernels(CpuBackend backend) : IZoneKernels
{
    private readonly CpuBackend _backend = backend;

    public void Step(in ZoneStepArgs args) => throw new NotSupportedException($"Zone kernels are not built yet on {_backend.Description}.");

    public void StepBackward(in ZoneBackwardArgs args) => throw new NotSupportedException($"Zone kernels are not built yet on {_backend.Description}.");
}
