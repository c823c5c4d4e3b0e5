namespace LZN.Native.Backends.Cuda;

/// <summary>
/// The block size and dynamic shared memory the launchers give each kernel, for reports that size occupancy
/// without running anything (<see cref="Kernels.KernelReport"/>). Each family's launcher owns its numbers.
/// </summary>
internal static class CudaLaunchShapes
{
    public static (int Threads, int DynamicSharedBytes) For(string file, string kernel) => file switch
    {
        "latent_zone.cu" or "latent_zone_v2.cu" or "latent_zone_gemm.cu" => CudaZoneKernels.LaunchShape(kernel),
        "reduce.cu" => (CudaBackend.ReductionThreads(kernel), 0),
        _ => (CudaBackend.GridStrideThreads, 0),
    };
}
