using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>
/// Flow time t [batchSize] -> [batchSize, dim]: the sinusoidal features of timeScale * t (dim of them),
/// then Linear(dim, dim) -> SiLU -> Linear(dim, dim). Times are inputs, not learnt, so Backward returns
/// nothing; it only accumulates the MLP's parameter gradients.
/// </summary>
public sealed class TimeEmbedding : Module
{
    private readonly Workspace _features;
    private readonly Sequential _mlp;
    private int _batchSize;

    public TimeEmbedding(IBackend backend, string name, int dim, ulong seed, float timeScale = 1000f, float maxPeriod = 10000f)
        : base(backend, name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (dim % 2 != 0)
            throw new ArgumentException($"The time-embedding dimension {dim} must be even.", nameof(dim));
        Dim = dim;
        TimeScale = timeScale;
        MaxPeriod = maxPeriod;
        _features = new Workspace(backend);
        _mlp = new Sequential(backend, name,
            new Linear(backend, ChildName(name, "linear1"), dim, dim, seed),
            new Activation(backend, ChildName(name, "silu"), ActivationKind.Silu, dim),
            new Linear(backend, ChildName(name, "linear2"), dim, dim, seed, WeightInit.Xavier));
    }

    public int Dim { get; }

    /// <summary>t is multiplied by this before the sinusoids (t in [0, 1] then spans ~1000 diffusion-style steps).</summary>
    public float TimeScale { get; }

    public float MaxPeriod { get; }

    public override IEnumerable<Parameter> Parameters => _mlp.Parameters;

    /// <summary>times [batchSize] -> embedding [batchSize, dim] (module-owned).</summary>
    public FloatBuffer Forward(FloatBuffer times, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        _batchSize = batchSize;
        var features = _features.Get((long)batchSize * Dim); // [batchSize, dim]
        Backend.Nn.SinusoidalEmbedding(times, batchSize, Dim, TimeScale, MaxPeriod, features);
        return _mlp.Forward(features, batchSize);
    }

    /// <summary>gradOutput [batchSize, dim]: accumulates the MLP's parameter gradients.</summary>
    public void Backward(FloatBuffer gradOutput)
    {
        if (_batchSize == 0)
            throw new InvalidOperationException($"{Name}: Backward before Forward.");
        _mlp.Backward(gradOutput);
    }

    protected override void Dispose(bool disposing)
    {
        _features.Dispose();
        _mlp.Dispose();
    }
}
