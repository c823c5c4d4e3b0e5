using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>
/// The decoder's building block: y = SiLU(GroupNorm(conv3x3(x)) + P c), where c [batchSize, conditionSize]
/// is the conditioning vector and P a Linear(conditionSize, outC) whose output is added to every pixel of
/// its channel. Parameters: "{name}.conv", "{name}.norm", "{name}.condition".
/// </summary>
public sealed class ConditionedBlock : Module
{
    private readonly Workspace _projectionGrad;
    private int _batchSize;

    /// <param name="sharedColumns">The im2col workspace shared by the model's convolutions (see <see cref="Conv2d"/>).</param>
    public ConditionedBlock(IBackend backend, string name, ConvGeometry geometry, int outputChannels, int conditionSize, int groups, ulong seed,
        Workspace? sharedColumns = null)
        : base(backend, name)
    {
        Conv = new Conv2d(backend, ChildName(name, "conv"), geometry, outputChannels, seed, sharedColumns: sharedColumns);
        Norm = new GroupNorm(backend, ChildName(name, "norm"), outputChannels, geometry.OutputPixels, Math.Min(groups, outputChannels));
        Condition = new Linear(backend, ChildName(name, "condition"), conditionSize, outputChannels, seed, WeightInit.Xavier);
        Act = new Activation(backend, ChildName(name, "act"), ActivationKind.Silu, Conv.OutputSize);
        _projectionGrad = new Workspace(backend);
    }

    public Conv2d Conv { get; }

    public GroupNorm Norm { get; }

    public Linear Condition { get; }

    public Activation Act { get; }

    public int InputSize => Conv.InputSize;

    public int OutputSize => Conv.OutputSize;

    public override IEnumerable<Parameter> Parameters => Conv.Parameters.Concat(Norm.Parameters).Concat(Condition.Parameters);

    /// <summary>x [batchSize, C, H, W], condition [batchSize, conditionSize] -> [batchSize, outC, outH, outW] (module-owned).</summary>
    public FloatBuffer Forward(FloatBuffer input, FloatBuffer condition, int batchSize)
    {
        _batchSize = batchSize;
        var normalized = Norm.Forward(Conv.Forward(input, batchSize), batchSize); // [batchSize, outC, P]
        var projection = Condition.Forward(condition, batchSize); // [batchSize, outC]
        // GroupNorm's backward reads its input and statistics, not its output, so the sum may go in place.
        Backend.Nn.AddChannelBias(normalized, projection, 1, batchSize * Norm.Channels, Norm.Spatial);
        return Act.Forward(normalized, batchSize);
    }

    /// <summary>gradOutput [batchSize, outC, outH, outW] -> gradInput; conditionGrad [batchSize, conditionSize] += dL/dc.</summary>
    public FloatBuffer Backward(FloatBuffer gradOutput, FloatBuffer conditionGrad)
    {
        var preActivationGrad = Act.Backward(gradOutput); // [batchSize, outC, P]
        var projectionGrad = _projectionGrad.Get((long)_batchSize * Norm.Channels); // [batchSize, outC]
        Backend.Fill(projectionGrad, 0f);
        Backend.Nn.ChannelBiasBackward(preActivationGrad, 1, _batchSize * Norm.Channels, Norm.Spatial, projectionGrad);
        Backend.Axpby(1f, Condition.Backward(projectionGrad), 1f, conditionGrad);
        return Conv.Backward(Norm.Backward(preActivationGrad));
    }

    protected override void Dispose(bool disposing)
    {
        Conv.Dispose();
        Norm.Dispose();
        Condition.Dispose();
        Act.Dispose();
        _projectionGrad.Dispose();
    }
}
