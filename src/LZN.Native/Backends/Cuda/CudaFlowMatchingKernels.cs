namespace LZN.Native.Backends.Cuda;

/// <summary>Launchers for kernels/flow_matching.cu (the CPU mirror is CpuFlowMatchingKernels).</summary>
internal sealed class CudaFlowMatchingKernels(CudaBackend backend) : IFlowMatchingKernels
{
    private const int Block = CudaBackend.GridStrideThreads;

    /// <summary>Most first-pass blocks of a reduction, i.e. partial sums the second pass adds (its block size).</summary>
    private const int MaxPartials = 1024;

    private readonly CudaBackend _backend = backend;

    public unsafe void BuildTrainingPair(int rows, int rowLength, FloatBuffer data, FloatBuffer noise, FloatBuffer times,
        FloatBuffer noisy, FloatBuffer target)
    {
        ArgumentChecks.TrainingPair(rows, rowLength, data, noise, times, noisy, target);
        long n = (long)rows * rowLength;
        if (n == 0)
            return;
        ulong x1 = CudaBackend.Pointer(data), x0 = CudaBackend.Pointer(noise), t = CudaBackend.Pointer(times);
        ulong xt = CudaBackend.Pointer(noisy), velocity = CudaBackend.Pointer(target);
        long length = rowLength;
        void** arguments = stackalloc void*[] { &x1, &x0, &t, &xt, &velocity, &length, &n };
        var kernel = _backend.Kernel("flow_matching.cu", "rf_training_pair");
        long blocks = Math.Min((n + Block - 1) / Block, kernel.ResidentGrid(Block, _backend.Properties.MultiprocessorCount));
        _backend.Launch(kernel, ((uint)blocks, 1, 1), (Block, 1, 1), 0, arguments);
    }

    public unsafe void MeanSquaredError(FloatBuffer prediction, FloatBuffer target, FloatBuffer loss, FloatBuffer? predictionGrad, float lossScale = 1f)
    {
        ArgumentChecks.MeanSquaredError(prediction, target, loss, predictionGrad);
        long n = prediction.Length;
        ulong pred = CudaBackend.Pointer(prediction), goal = CudaBackend.Pointer(target), grad = CudaBackend.Pointer(predictionGrad);
        float gradScale = n == 0 ? 0f : (float)(2.0 * lossScale / n);
        float meanScale = n == 0 ? 0f : (float)(1.0 / n);
        using var partials = _backend.AllocateFloat(MaxPartials); // [MaxPartials]
        ulong partialsAddress = CudaBackend.Pointer(partials);
        void** first = stackalloc void*[] { &pred, &goal, &grad, &n, &gradScale, &partialsAddress };
        Reduce("rf_squared_error_partials", n, first, partialsAddress, meanScale, loss);
    }

    public unsafe void ScaledSquaredErrorSum(FloatBuffer error, FloatBuffer y0, FloatBuffer y1, float relativeTolerance,
        float absoluteTolerance, FloatBuffer result)
    {
        ArgumentChecks.ScaledErrorSum(error, y0, y1, result);
        long n = error.Length;
        ulong err = CudaBackend.Pointer(error), start = CudaBackend.Pointer(y0), end = CudaBackend.Pointer(y1);
        using var partials = _backend.AllocateFloat(MaxPartials); // [MaxPartials]
        ulong partialsAddress = CudaBackend.Pointer(partials);
        void** first = stackalloc void*[] { &err, &start, &end, &n, &relativeTolerance, &absoluteTolerance, &partialsAddress };
        Reduce("rf_scaled_error_partials", n, first, partialsAddress, 1f, result);
    }

    // Two passes in a fixed order: per-block partials (ceil-div blocks, at most MaxPartials), then one block.
    // The partials buffer returns to the caching allocator right after queuing; the single stream orders its reuse.
    private unsafe void Reduce(string firstPass, long n, void** firstArguments, ulong partials, float scale, FloatBuffer result)
    {
        int partialCount = (int)Math.Min((n + Block - 1) / Block, MaxPartials);
        if (partialCount > 0)
            _backend.Launch(_backend.Kernel("flow_matching.cu", firstPass), ((uint)partialCount, 1, 1), (Block, 1, 1), 0, firstArguments);
        ulong output = CudaBackend.Pointer(result);
        void** second = stackalloc void*[] { &partials, &partialCount, &scale, &output };
        _backend.Launch(_backend.Kernel("flow_matching.cu", "rf_sum_partials"), (1, 1, 1), (MaxPartials, 1, 1), 0, second);
    }
}
