namespace LZN.Native.Backends.Cuda;

/// <summary>Launchers for kernels/optim.cu (the CPU mirror is CpuOptimizerKernels).</summary>
internal sealed class CudaOptimizerKernels(CudaBackend backend) : IOptimizerKernels
{
    private const int Block = CudaBackend.GridStrideThreads;

    private readonly CudaBackend _backend = backend;

    public unsafe void AdamStep(in AdamStepArgs args)
    {
        args.CheckLengths();
        var s = args.Scalars();
        ulong p = CudaBackend.Pointer(args.Parameters), grad = CudaBackend.Pointer(args.Gradients);
        ulong m = CudaBackend.Pointer(args.FirstMoments), v = CudaBackend.Pointer(args.SecondMoments);
        long n = args.Parameters.Length;
        float stepSize = s.StepSize, inverseSqrt = s.InverseSqrtSecondCorrection, beta1 = s.Beta1, oneMinusBeta1 = s.OneMinusBeta1;
        float beta2 = s.Beta2, oneMinusBeta2 = s.OneMinusBeta2, eps = s.Epsilon, coupled = s.CoupledDecay;
        float shrink = s.DecoupledShrink, gradScale = s.GradientScale;
        void** arguments = stackalloc void*[]
        {
            &p, &grad, &m, &v, &n, &stepSize, &inverseSqrt, &beta1, &oneMinusBeta1, &beta2, &oneMinusBeta2, &eps,
            &coupled, &shrink, &gradScale,
        };
        LaunchGridStride("adam_step", n, arguments);
    }

    public unsafe void EmaUpdate(FloatBuffer shadow, FloatBuffer value, double decay)
    {
        ArgumentChecks.Ema(shadow, value, decay);
        ulong shadows = CudaBackend.Pointer(shadow), values = CudaBackend.Pointer(value);
        long n = shadow.Length;
        float weight = (float)(1 - decay);
        void** arguments = stackalloc void*[] { &shadows, &values, &n, &weight };
        LaunchGridStride("ema_update", n, arguments);
    }

    private unsafe void LaunchGridStride(string functionName, long count, void** arguments)
    {
        if (count == 0)
            return;
        var kernel = _backend.Kernel("optim.cu", functionName);
        long blocks = Math.Min((count + Block - 1) / Block, kernel.ResidentGrid(Block, _backend.Properties.MultiprocessorCount));
        _backend.Launch(kernel, ((uint)blocks, 1, 1), (Block, 1, 1), 0, arguments);
    }
}
