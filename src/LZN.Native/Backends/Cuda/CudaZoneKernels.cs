namespace LZN.Native.Backends.Cuda;

/// <summary>The CUDA latent-zone launchers (kernels/latent_zone.cu); supplied by the zone-kernel branch.</summary>
internal sealed class CudaZoneKernels(CudaBackend backend) : IZoneKernels
{
    private readonly CudaBackend _backend = backend;

    public void Step(in ZoneStepArgs args) =>
        throw new NotSupportedException($"The CUDA zone kernels are not part of this build ({_backend.Description}).");

    public void StepBackward(in ZoneBackwardArgs args) =>
        throw new NotSupportedException($"The CUDA zone kernels are not part of this build ({_backend.Description}).");
}
