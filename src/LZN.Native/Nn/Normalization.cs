using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>Layer normalisation over the last axis of [batchSize, dim] with a learnt scale (gamma = 1) and shift (beta = 0).</summary>
public sealed class LayerNorm : Layer
{
    private readonly Workspace _output;
    private readonly Workspace _inputGrad;
    private readonly Workspace _statistics;
    private FloatBuffer? _input;
    private int _batchSize;

    public LayerNorm(IBackend backend, string name, int dim, float epsilon = 1e-5f)
        : base(backend, name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        InputSize = dim;
        Epsilon = epsilon;
        Gamma = new Parameter(backend, ChildName(name, "weight"), [dim], Parameter.NoDecayGroup);
        Beta = new Parameter(backend, ChildName(name, "bias"), [dim], Parameter.NoDecayGroup);
        backend.Fill(Gamma.Value, 1f);
        _output = new Workspace(backend);
        _inputGrad = new Workspace(backend);
        _statistics = new Workspace(backend);
    }

    public float Epsilon { get; }

    public override int InputSize { get; }

    public override int OutputSize => InputSize;

    /// <summary>[dim], initialised to 1.</summary>
    public Parameter Gamma { get; }

    /// <summary>[dim], initialised to 0.</summary>
    public Parameter Beta { get; }

    public override IEnumerable<Parameter> Parameters => [Gamma, Beta];

    public override FloatBuffer Forward(FloatBuffer input, int batchSize)
    {
        CheckInput(input, batchSize);
        _input = input;
        _batchSize = batchSize;
        var statistics = _statistics.Get(2L * batchSize); // [2, batchSize]: mean, rstd
        var output = _output.Get(input.Length); // [batchSize, dim]
        Backend.Nn.LayerNormForward(input, Gamma.Value, Beta.Value, batchSize, InputSize, Epsilon, output,
            statistics.Slice(0, batchSize), statistics.Slice(batchSize, batchSize));
        return output;
    }

    public override FloatBuffer Backward(FloatBuffer gradOutput)
    {
        CheckGradient(gradOutput, _batchSize, OutputSize, Name);
        var statistics = _statistics.Get(2L * _batchSize);
        var inputGrad = _inputGrad.Get(gradOutput.Length); // [batchSize, dim]
        Backend.Nn.LayerNormBackward(_input!, Gamma.Value, statistics.Slice(0, _batchSize), statistics.Slice(_batchSize, _batchSize),
            gradOutput, _batchSize, InputSize, inputGrad, Gamma.Grad, Beta.Grad);
        return inputGrad;
    }

    protected override void Dispose(bool disposing)
    {
        Gamma.Dispose();
        Beta.Dispose();
        _output.Dispose();
        _inputGrad.Dispose();
        _statistics.Dispose();
    }
}

/// <summary>Group normalisation of [batchSize, channels, height * width] feature maps with per-channel scale and shift.</summary>
public sealed class GroupNorm : Layer
{
    private readonly Workspace _output;
    private readonly Workspace _inputGrad;
    private readonly Workspace _statistics;
    private FloatBuffer? _input;
    private int _batchSize;

    public GroupNorm(IBackend backend, string name, int channels, int spatial, int groups, float epsilon = 1e-5f)
        : base(backend, name)
    {
        NnArgumentChecks.GroupNormSizes(1, channels, spatial, groups);
        Channels = channels;
        Spatial = spatial;
        Groups = groups;
        Epsilon = epsilon;
        Gamma = new Parameter(backend, ChildName(name, "weight"), [channels], Parameter.NoDecayGroup);
        Beta = new Parameter(backend, ChildName(name, "bias"), [channels], Parameter.NoDecayGroup);
        backend.Fill(Gamma.Value, 1f);
        _output = new Workspace(backend);
        _inputGrad = new Workspace(backend);
        _statistics = new Workspace(backend);
    }

    public int Channels { get; }

    /// <summary>Pixels per channel (height * width).</summary>
    public int Spatial { get; }

    public int Groups { get; }

    public float Epsilon { get; }

    public override int InputSize => Channels * Spatial;

    public override int OutputSize => InputSize;

    /// <summary>[channels], initialised to 1.</summary>
    public Parameter Gamma { get; }

    /// <summary>[channels], initialised to 0.</summary>
    public Parameter Beta { get; }

    public override IEnumerable<Parameter> Parameters => [Gamma, Beta];

    public override FloatBuffer Forward(FloatBuffer input, int batchSize)
    {
        CheckInput(input, batchSize);
        _input = input;
        _batchSize = batchSize;
        long groupCount = (long)batchSize * Groups;
        var statistics = _statistics.Get(2 * groupCount); // [2, batchSize, groups]: mean, rstd
        var output = _output.Get(input.Length); // [batchSize, channels, spatial]
        Backend.Nn.GroupNormForward(input, Gamma.Value, Beta.Value, batchSize, Channels, Spatial, Groups, Epsilon, output,
            statistics.Slice(0, groupCount), statistics.Slice(groupCount, groupCount));
        return output;
    }

    public override FloatBuffer Backward(FloatBuffer gradOutput)
    {
        CheckGradient(gradOutput, _batchSize, OutputSize, Name);
        long groupCount = (long)_batchSize * Groups;
        var statistics = _statistics.Get(2 * groupCount);
        var inputGrad = _inputGrad.Get(gradOutput.Length); // [batchSize, channels, spatial]
        Backend.Nn.GroupNormBackward(_input!, Gamma.Value, statistics.Slice(0, groupCount), statistics.Slice(groupCount, groupCount),
            gradOutput, _batchSize, Channels, Spatial, Groups, inputGrad, Gamma.Grad, Beta.Grad);
        return inputGrad;
    }

    protected override void Dispose(bool disposing)
    {
        Gamma.Dispose();
        Beta.Dispose();
        _output.Dispose();
        _inputGrad.Dispose();
        _statistics.Dispose();
    }
}
