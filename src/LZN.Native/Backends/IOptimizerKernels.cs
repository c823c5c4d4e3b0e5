namespace LZN.Native.Backends;

/// <summary>
/// Fused optimiser updates (kernels/optim.cu; CPU mirror Backends/Cpu/CpuOptimizerKernels.cs): one pass over a
/// parameter tensor per call, so an optimiser step reads each gradient once and writes each state once.
/// </summary>
public interface IOptimizerKernels
{
    /// <summary>
    /// One Adam step in PyTorch's formulation, per element, with g = GradientScale * grad:
    /// g += WeightDecay * p (Adam, coupled) or p *= 1 - LearningRate * WeightDecay (AdamW, decoupled);
    /// m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
    /// p -= (LearningRate / (1 - beta1^n)) * m / (sqrt(v) / sqrt(1 - beta2^n) + eps).
    /// </summary>
    void AdamStep(in AdamStepArgs args);

    /// <summary>shadow += (1 - decay) (value - shadow): an exponential moving average, written as a lerp so a
    /// decay near 1 (0.999999) keeps its weight 1 - decay exact instead of rounding decay to float.</summary>
    void EmaUpdate(FloatBuffer shadow, FloatBuffer value, double decay);
}

/// <summary>Arguments of <see cref="IOptimizerKernels.AdamStep"/> for one parameter tensor of any shape.</summary>
public readonly record struct AdamStepArgs
{
    public AdamStepArgs()
    {
    }

    /// <summary>p [n], updated in place.</summary>
    public required FloatBuffer Parameters { get; init; }

    /// <summary>dL/dp [n], read only.</summary>
    public required FloatBuffer Gradients { get; init; }

    /// <summary>m [n], the first-moment estimate, updated in place.</summary>
    public required FloatBuffer FirstMoments { get; init; }

    /// <summary>v [n], the second-moment estimate, updated in place.</summary>
    public required FloatBuffer SecondMoments { get; init; }

    public required double LearningRate { get; init; }
    public required double Beta1 { get; init; }
    public required double Beta2 { get; init; }
    public required double Epsilon { get; init; }
    public double WeightDecay { get; init; }

    /// <summary>True: AdamW (decay applied to p directly); false: Adam (decay added to the gradient).</summary>
    public bool DecoupledWeightDecay { get; init; }

    /// <summary>n &gt;= 1, this step's number for the bias corrections 1 - beta^n.</summary>
    public required long Step { get; init; }

    /// <summary>Multiplies the gradient before anything else (global-norm clipping passes min(1, max / norm)).</summary>
    public float GradientScale { get; init; } = 1f;

    /// <summary>The scalars the kernels take, each formed in double and rounded once.</summary>
    internal AdamScalars Scalars()
    {
        if (Step < 1)
            throw new ArgumentOutOfRangeException(nameof(Step), Step, "Adam steps are numbered from 1.");
        if (!(Beta1 is >= 0 and < 1) || !(Beta2 is >= 0 and < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta1), $"betas must lie in [0, 1); got {Beta1}, {Beta2}.");
        double firstCorrection = 1 - Math.Pow(Beta1, Step);
        double secondCorrection = 1 - Math.Pow(Beta2, Step);
        return new AdamScalars(
            StepSize: (float)(LearningRate / firstCorrection),
            InverseSqrtSecondCorrection: (float)(1 / Math.Sqrt(secondCorrection)),
            Beta1: (float)Beta1,
            OneMinusBeta1: (float)(1 - Beta1),
            Beta2: (float)Beta2,
            OneMinusBeta2: (float)(1 - Beta2),
            Epsilon: (float)Epsilon,
            CoupledDecay: DecoupledWeightDecay ? 0f : (float)WeightDecay,
            DecoupledShrink: DecoupledWeightDecay ? (float)(1 - LearningRate * WeightDecay) : 1f,
            GradientScale: GradientScale);
    }

    internal void CheckLengths()
    {
        long length = Parameters.Length;
        if (Gradients.Length != length || FirstMoments.Length != length || SecondMoments.Length != length)
        {
            throw new ArgumentException(
                $"Adam buffers differ in length: parameters {length}, gradients {Gradients.Length}, m {FirstMoments.Length}, v {SecondMoments.Length}.");
        }
    }
}

/// <summary>The float scalars of one Adam step, shared by the CPU loop and the CUDA launch.</summary>
internal readonly record struct AdamScalars(
    float StepSize, float InverseSqrtSecondCorrection, float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2,
    float Epsilon, float CoupledDecay, float DecoupledShrink, float GradientScale);
