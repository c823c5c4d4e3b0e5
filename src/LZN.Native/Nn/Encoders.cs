using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>
/// An encoder that is one <see cref="Sequential"/> body, with the <see cref="Dropout"/> layers in it exposed so the
/// trainer can key them by step (and leave them off, Step null, to evaluate).
/// </summary>
public abstract class SequentialEncoder(IBackend backend, string name) : Layer(backend, name)
{
    private Sequential? _body;

    protected Sequential Body
    {
        get => _body ?? throw new InvalidOperationException($"encoder {Name}: the body is not built.");
        init => _body = value;
    }

    public IEnumerable<Dropout> Dropouts => Body.Layers.OfType<Dropout>();

    public override int InputSize => Body.InputSize;

    public override int OutputSize => Body.OutputSize;

    public override IEnumerable<Parameter> Parameters => Body.Parameters;

    public override FloatBuffer Forward(FloatBuffer input, int batchSize) => Body.Forward(input, batchSize);

    public override FloatBuffer Backward(FloatBuffer gradOutput) => Body.Backward(gradOutput);

    protected override void Dispose(bool disposing) => _body?.Dispose();
}

/// <summary>
/// Fully connected encoder: inputSize -> hidden[0] -> ... -> outputSize with SiLU between layers
/// (e.g. 784-512-256-d), and dropout after each hidden activation when the dropout rate is above 0.
/// Hidden layers are Kaiming-initialised, the last layer Xavier.
/// Parameters: "{name}.fc{i}.weight" / ".bias", i = 1, 2, ...
/// </summary>
public sealed class MlpEncoder : SequentialEncoder
{
    public MlpEncoder(IBackend backend, string name, int inputSize, IReadOnlyList<int> hiddenSizes, int outputSize, ulong seed, float dropout = 0f)
        : base(backend, name)
    {
        var layers = new List<Layer>();
        int width = inputSize;
        for (int i = 0; i < hiddenSizes.Count; i++)
        {
            layers.Add(new Linear(backend, ChildName(name, $"fc{i + 1}"), width, hiddenSizes[i], seed));
            layers.Add(new Activation(backend, ChildName(name, $"act{i + 1}"), ActivationKind.Silu, hiddenSizes[i]));
            if (dropout > 0f)
                layers.Add(new Dropout(backend, ChildName(name, $"drop{i + 1}"), hiddenSizes[i], dropout, seed));
            width = hiddenSizes[i];
        }
        layers.Add(new Linear(backend, ChildName(name, $"fc{hiddenSizes.Count + 1}"), width, outputSize, seed, WeightInit.Xavier));
        Body = new Sequential(backend, name, [.. layers]);
    }
}

/// <summary>Shape of a <see cref="CnnEncoder"/>: input image, the stages' channels and depth, GroupNorm groups, latent size.</summary>
public sealed record CnnEncoderConfig(int ImageChannels, int Height, int Width, int OutputSize)
{
    /// <summary>Channels of each stage: the first stage keeps the resolution, each later one halves it (stride 2).</summary>
    public IReadOnlyList<int> Channels { get; init; } = [32, 64, 128];

    /// <summary>Convolutions per stage: the first (strided after stage 1), then Depth - 1 at stride 1 and the same width.</summary>
    public int Depth { get; init; } = 1;

    public int Groups { get; init; } = 8;

    /// <summary>Dropout rate on the flattened features before the last Linear (0 = none).</summary>
    public float Dropout { get; init; }
}

/// <summary>
/// Convolutional encoder: conv3x3 s1 -> GN -> SiLU -> conv3x3 s2 -> GN -> SiLU -> conv3x3 s2 -> GN -> SiLU
/// -> flatten -> [dropout] -> Linear to the latent (28x28 -> 28 -> 14 -> 7) at the default depth 1; at depth n each
/// stage repeats conv3x3 s1 -> GN -> SiLU n - 1 more times. Parameters: "{name}.conv{i}", "{name}.norm{i}" with i
/// counting every convolution from 1 (so depth 1 keeps conv1..conv3), and "{name}.fc" (each with .weight and .bias).
/// </summary>
public sealed class CnnEncoder : SequentialEncoder
{
    private readonly Workspace _columns;

    public CnnEncoder(IBackend backend, string name, CnnEncoderConfig config, ulong seed)
        : base(backend, name)
    {
        Config = config;
        _columns = new Workspace(backend);
        var layers = new List<Layer>();
        ArgumentOutOfRangeException.ThrowIfLessThan(config.Depth, 1);
        int channelsIn = config.ImageChannels, height = config.Height, width = config.Width, index = 0;
        for (int stage = 0; stage < config.Channels.Count; stage++)
        {
            int channels = config.Channels[stage];
            for (int repeat = 0; repeat < config.Depth; repeat++)
            {
                index++;
                var geometry = new ConvGeometry(channelsIn, height, width, 3, stage > 0 && repeat == 0 ? 2 : 1, 1);
                int spatial = geometry.OutputPixels;
                layers.Add(new Conv2d(backend, ChildName(name, $"conv{index}"), geometry, channels, seed, sharedColumns: _columns));
                layers.Add(new GroupNorm(backend, ChildName(name, $"norm{index}"), channels, spatial, Math.Min(config.Groups, channels)));
                layers.Add(new Activation(backend, ChildName(name, $"act{index}"), ActivationKind.Silu, channels * spatial));
                (channelsIn, height, width) = (channels, geometry.OutputHeight, geometry.OutputWidth);
            }
        }
        int features = layers[^1].OutputSize;
        if (config.Dropout > 0f)
            layers.Add(new Dropout(backend, ChildName(name, "drop"), features, config.Dropout, seed));
        layers.Add(new Linear(backend, ChildName(name, "fc"), features, config.OutputSize, seed, WeightInit.Xavier));
        Body = new Sequential(backend, name, [.. layers]);
    }

    public CnnEncoderConfig Config { get; }

    /// <summary>Channels of the last convolution's output.</summary>
    public int LastChannels => Config.Channels[^1];

    /// <summary>Values per image of <see cref="ForwardConvolutions"/>: LastChannels x h x w.</summary>
    public int ForwardConvolutionsSize => Body.Layers.TakeWhile(layer => layer is not Dropout and not Linear).Last().OutputSize;

    /// <summary>
    /// The last convolution's activations [batchSize, LastChannels, h, w] of <paramref name="input"/>, without the
    /// layers after them (evaluation only: Backward needs a full Forward).
    /// </summary>
    public FloatBuffer ForwardConvolutions(FloatBuffer input, int batchSize)
    {
        var output = input;
        foreach (var layer in Body.Layers.TakeWhile(layer => layer is not Dropout and not Linear))
            output = layer.Forward(output, batchSize);
        return output;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _columns.Dispose();
    }
}
