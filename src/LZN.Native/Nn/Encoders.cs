using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>
/// Fully connected encoder: inputSize -> hidden[0] -> ... -> outputSize with SiLU between layers
/// (e.g. 784-512-256-d). Hidden layers are Kaiming-initialised, the last layer Xavier.
/// Parameters: "{name}.fc{i}.weight" / ".bias", i = 1, 2, ...
/// </summary>
public sealed class MlpEncoder(IBackend backend, string name, int inputSize, IReadOnlyList<int> hiddenSizes, int outputSize, ulong seed)
    : Layer(backend, name)
{
    private readonly Sequential _body = new(backend, name, Build(backend, name, inputSize, hiddenSizes, outputSize, seed));

    public override int InputSize => _body.InputSize;

    public override int OutputSize => _body.OutputSize;

    public override IEnumerable<Parameter> Parameters => _body.Parameters;

    public override FloatBuffer Forward(FloatBuffer input, int batchSize) => _body.Forward(input, batchSize);

    public override FloatBuffer Backward(FloatBuffer gradOutput) => _body.Backward(gradOutput);

    private static Layer[] Build(IBackend backend, string name, int inputSize, IReadOnlyList<int> hiddenSizes, int outputSize, ulong seed)
    {
        var layers = new List<Layer>();
        int width = inputSize;
        for (int i = 0; i < hiddenSizes.Count; i++)
        {
            layers.Add(new Linear(backend, ChildName(name, $"fc{i + 1}"), width, hiddenSizes[i], seed));
            layers.Add(new Activation(backend, ChildName(name, $"act{i + 1}"), ActivationKind.Silu, hiddenSizes[i]));
            width = hiddenSizes[i];
        }
        layers.Add(new Linear(backend, ChildName(name, $"fc{hiddenSizes.Count + 1}"), width, outputSize, seed, WeightInit.Xavier));
        return [.. layers];
    }

    protected override void Dispose(bool disposing) => _body.Dispose();
}

/// <summary>Shape of a <see cref="CnnEncoder"/>: input image, the three stages' channels, GroupNorm groups, latent size.</summary>
public sealed record CnnEncoderConfig(int ImageChannels, int Height, int Width, int OutputSize)
{
    /// <summary>Channels after conv1 (stride 1), conv2 (stride 2) and conv3 (stride 2).</summary>
    public IReadOnlyList<int> Channels { get; init; } = [32, 64, 128];

    public int Groups { get; init; } = 8;
}

/// <summary>
/// Convolutional encoder: conv3x3 s1 -> GN -> SiLU -> conv3x3 s2 -> GN -> SiLU -> conv3x3 s2 -> GN -> SiLU
/// -> flatten -> Linear to the latent (28x28 -> 28 -> 14 -> 7). Parameters: "{name}.conv{1,2,3}",
/// "{name}.norm{1,2,3}", "{name}.fc" (each with .weight and .bias).
/// </summary>
public sealed class CnnEncoder : Layer
{
    private readonly Sequential _body;
    private readonly Workspace _columns;

    public CnnEncoder(IBackend backend, string name, CnnEncoderConfig config, ulong seed)
        : base(backend, name)
    {
        Config = config;
        _columns = new Workspace(backend);
        var layers = new List<Layer>();
        var geometry = new ConvGeometry(config.ImageChannels, config.Height, config.Width, 3, 1, 1);
        for (int stage = 0; stage < config.Channels.Count; stage++)
        {
            int channels = config.Channels[stage];
            var conv = new Conv2d(backend, ChildName(name, $"conv{stage + 1}"), geometry, channels, seed, sharedColumns: _columns);
            int spatial = geometry.OutputPixels;
            layers.Add(conv);
            layers.Add(new GroupNorm(backend, ChildName(name, $"norm{stage + 1}"), channels, spatial, Math.Min(config.Groups, channels)));
            layers.Add(new Activation(backend, ChildName(name, $"act{stage + 1}"), ActivationKind.Silu, channels * spatial));
            geometry = new ConvGeometry(channels, geometry.OutputHeight, geometry.OutputWidth, 3, 2, 1);
        }
        layers.Add(new Linear(backend, ChildName(name, "fc"), layers[^1].OutputSize, config.OutputSize, seed, WeightInit.Xavier));
        _body = new Sequential(backend, name, [.. layers]);
    }

    public CnnEncoderConfig Config { get; }

    public override int InputSize => _body.InputSize;

    public override int OutputSize => _body.OutputSize;

    public override IEnumerable<Parameter> Parameters => _body.Parameters;

    public override FloatBuffer Forward(FloatBuffer input, int batchSize) => _body.Forward(input, batchSize);

    public override FloatBuffer Backward(FloatBuffer gradOutput) => _body.Backward(gradOutput);

    protected override void Dispose(bool disposing)
    {
        _body.Dispose();
        _columns.Dispose();
    }
}
