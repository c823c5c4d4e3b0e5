using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>Shape of a <see cref="UNetDecoder"/>. Height and Width must be multiples of 4 (two stride-2 stages).</summary>
public sealed record UNetDecoderConfig(int ImageChannels, int Height, int Width, int LatentSize, int ClassCount)
{
    /// <summary>Channels at full resolution; the 1/2 stage has 2x, the 1/4 stage and the middle 4x.</summary>
    public int BaseChannels { get; init; } = 32;

    /// <summary>Sinusoidal features and hidden width of the time MLP.</summary>
    public int TimeEmbeddingSize { get; init; } = 64;

    public int Groups { get; init; } = 8;

    /// <summary>Conditioning vector [latent, one-hot label, time embedding].</summary>
    public int ConditionSize => LatentSize + ClassCount + TimeEmbeddingSize;
}

/// <summary>Gradients a <see cref="UNetDecoder"/> returns: with respect to the noisy image and the latent (module-owned).</summary>
public readonly record struct DecoderGradients(FloatBuffer Noisy, FloatBuffer Latent);

/// <summary>
/// Rectified-flow velocity network v(x_t, latent, label, t), predicting x1 - x0 for images [batchSize, C, H, W].
/// Down path: enc1 (s1, B ch, H) -> enc2 (s2, 2B, H/2) -> enc3 (s2, 4B, H/4) -> mid (s1, 4B, H/4);
/// up path: upsample(mid) ++ enc2 -> dec2 (2B, H/2); upsample(dec2) ++ enc1 -> dec1 (B, H); out conv3x3 -> C.
/// Every block is a <see cref="ConditionedBlock"/> fed the same conditioning vector [latent, one-hot, temb].
/// </summary>
public sealed class UNetDecoder : Module
{
    private readonly ConditionedBlock[] _blocks;
    private readonly Upsample2x _up2;
    private readonly Upsample2x _up1;
    private readonly Workspace _columns;
    private readonly Workspace _condition;
    private readonly Workspace _conditionGrad;
    private readonly Workspace _concat2;
    private readonly Workspace _concat1;
    private readonly Workspace _scratch;
    private readonly Workspace _split1;
    private readonly Workspace _split2;
    private int _batchSize;

    public UNetDecoder(IBackend backend, string name, UNetDecoderConfig config, ulong seed)
        : base(backend, name)
    {
        if (config.Height % 4 != 0 || config.Width % 4 != 0)
            throw new ArgumentException($"Image size {config.Height}x{config.Width} must be a multiple of 4.", nameof(config));
        Config = config;
        int b = config.BaseChannels, h = config.Height, w = config.Width, cond = config.ConditionSize, g = config.Groups;
        Time = new TimeEmbedding(backend, ChildName(name, "time"), config.TimeEmbeddingSize, seed);
        _columns = new Workspace(backend);
        ConditionedBlock Block(string child, int inChannels, int height, int width, int stride, int outChannels) =>
            new(backend, ChildName(name, child), new ConvGeometry(inChannels, height, width, 3, stride, 1), outChannels, cond, g, seed, _columns);
        _blocks =
        [
            Block("enc1", config.ImageChannels, h, w, 1, b),
            Block("enc2", b, h, w, 2, 2 * b),
            Block("enc3", 2 * b, h / 2, w / 2, 2, 4 * b),
            Block("mid", 4 * b, h / 4, w / 4, 1, 4 * b),
            Block("dec2", 6 * b, h / 2, w / 2, 1, 2 * b),
            Block("dec1", 3 * b, h, w, 1, b),
        ];
        _up2 = new Upsample2x(backend, ChildName(name, "up2"), 4 * b, h / 4, w / 4);
        _up1 = new Upsample2x(backend, ChildName(name, "up1"), 2 * b, h / 2, w / 2);
        Output = new Conv2d(backend, ChildName(name, "out"), new ConvGeometry(b, h, w, 3, 1, 1), config.ImageChannels, seed, WeightInit.Xavier,
            sharedColumns: _columns);
        _condition = new Workspace(backend);
        _conditionGrad = new Workspace(backend);
        _concat2 = new Workspace(backend);
        _concat1 = new Workspace(backend);
        _scratch = new Workspace(backend);
        _split1 = new Workspace(backend);
        _split2 = new Workspace(backend);
    }

    public UNetDecoderConfig Config { get; }

    public TimeEmbedding Time { get; }

    public Conv2d Output { get; }

    /// <summary>enc1, enc2, enc3, mid, dec2, dec1.</summary>
    public IReadOnlyList<ConditionedBlock> Blocks => _blocks;

    public int ImageSize => Config.ImageChannels * Config.Height * Config.Width;

    public override IEnumerable<Parameter> Parameters =>
        Time.Parameters.Concat(_blocks.SelectMany(block => block.Parameters)).Concat(Output.Parameters);

    /// <summary>
    /// noisy [batchSize, C, H, W], latent [batchSize, LatentSize], labels [batchSize] (null when ClassCount is 0),
    /// times [batchSize] -> velocity [batchSize, C, H, W] (module-owned).
    /// </summary>
    public FloatBuffer Forward(FloatBuffer noisy, FloatBuffer latent, IntBuffer? labels, FloatBuffer times, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (labels is null != (Config.ClassCount == 0))
            throw new ArgumentException($"Labels are required exactly when ClassCount > 0 (it is {Config.ClassCount}).", nameof(labels));
        _batchSize = batchSize;
        int latentSize = Config.LatentSize, classes = Config.ClassCount, conditionSize = Config.ConditionSize;
        var condition = _condition.Get((long)batchSize * conditionSize); // [batchSize, latent | one-hot | temb]
        Backend.Nn.CopyColumns(latent, batchSize, latentSize, 0, condition, conditionSize, 0, latentSize);
        if (labels is not null)
        {
            var oneHot = _scratch.Get((long)batchSize * classes); // [batchSize, classes]
            Backend.Nn.OneHot(labels, batchSize, classes, oneHot);
            Backend.Nn.CopyColumns(oneHot, batchSize, classes, 0, condition, conditionSize, latentSize, classes);
        }
        var timeFeatures = Time.Forward(times, batchSize); // [batchSize, temb]
        Backend.Nn.CopyColumns(timeFeatures, batchSize, Time.Dim, 0, condition, conditionSize, latentSize + classes, Time.Dim);

        var enc1 = _blocks[0].Forward(noisy, condition, batchSize);
        var enc2 = _blocks[1].Forward(enc1, condition, batchSize);
        var enc3 = _blocks[2].Forward(enc2, condition, batchSize);
        var mid = _blocks[3].Forward(enc3, condition, batchSize);
        var concat2 = _concat2.Get((long)batchSize * _blocks[4].InputSize); // [batchSize, 4B + 2B, H/2, W/2]
        Concat.Join(Backend, _up2.Forward(mid, batchSize), _up2.OutputSize, enc2, _blocks[1].OutputSize, batchSize, concat2);
        var dec2 = _blocks[4].Forward(concat2, condition, batchSize);
        var concat1 = _concat1.Get((long)batchSize * _blocks[5].InputSize); // [batchSize, 2B + B, H, W]
        Concat.Join(Backend, _up1.Forward(dec2, batchSize), _up1.OutputSize, enc1, _blocks[0].OutputSize, batchSize, concat1);
        var dec1 = _blocks[5].Forward(concat1, condition, batchSize);
        return Output.Forward(dec1, batchSize);
    }

    /// <summary>gradVelocity [batchSize, C, H, W] -> gradients for the noisy image and the latent; parameter gradients += .</summary>
    public DecoderGradients Backward(FloatBuffer gradVelocity)
    {
        if (_batchSize == 0)
            throw new InvalidOperationException($"{Name}: Backward before Forward.");
        int batchSize = _batchSize, conditionSize = Config.ConditionSize;
        var conditionGrad = _conditionGrad.Get((long)batchSize * (conditionSize + Config.LatentSize)); // [batchSize, cond] then [batchSize, latent]
        var condition = conditionGrad.Slice(0, (long)batchSize * conditionSize);
        Backend.Fill(condition, 0f);

        var dec1Grad = _blocks[5].Backward(Output.Backward(gradVelocity), condition); // [batchSize, 3B, H, W]
        var skip1Grad = SplitGradient(dec1Grad, _up1, _blocks[0].OutputSize, batchSize, _split1, out var up1Grad);
        var dec2Grad = _blocks[4].Backward(_up1.Backward(up1Grad), condition); // [batchSize, 6B, H/2, W/2]
        var skip2Grad = SplitGradient(dec2Grad, _up2, _blocks[1].OutputSize, batchSize, _split2, out var up2Grad);
        var enc3Grad = _blocks[3].Backward(_up2.Backward(up2Grad), condition);
        var enc2Grad = _blocks[2].Backward(enc3Grad, condition);
        Backend.Axpby(1f, skip2Grad, 1f, enc2Grad);
        var enc1Grad = _blocks[1].Backward(enc2Grad, condition);
        Backend.Axpby(1f, skip1Grad, 1f, enc1Grad);
        var noisyGrad = _blocks[0].Backward(enc1Grad, condition);

        int latentSize = Config.LatentSize, timeOffset = latentSize + Config.ClassCount;
        var timeGrad = _scratch.Get((long)batchSize * Time.Dim); // [batchSize, temb]
        Backend.Nn.CopyColumns(condition, batchSize, conditionSize, timeOffset, timeGrad, Time.Dim, 0, Time.Dim);
        Time.Backward(timeGrad);
        var latentGrad = conditionGrad.Slice((long)batchSize * conditionSize, (long)batchSize * latentSize); // [batchSize, latent]
        Backend.Nn.CopyColumns(condition, batchSize, conditionSize, 0, latentGrad, latentSize, 0, latentSize);
        return new DecoderGradients(noisyGrad, latentGrad);
    }

    /// <summary>
    /// Splits the gradient of [upsampled, skip] into the upsampled part (returned in <paramref name="upGrad"/>) and
    /// the skip part (returned); both live in <paramref name="workspace"/>.
    /// </summary>
    private FloatBuffer SplitGradient(FloatBuffer concatGrad, Upsample2x up, int skipSize, int batchSize, Workspace workspace, out FloatBuffer upGrad)
    {
        long upLength = (long)batchSize * up.OutputSize, skipLength = (long)batchSize * skipSize;
        var both = workspace.Get(upLength + skipLength);
        upGrad = both.Slice(0, upLength); // [batchSize, up]
        var skipGrad = both.Slice(upLength, skipLength); // [batchSize, skip]
        Concat.Split(Backend, concatGrad, batchSize, upGrad, up.OutputSize, skipGrad, skipSize);
        return skipGrad;
    }

    protected override void Dispose(bool disposing)
    {
        Time.Dispose();
        foreach (var block in _blocks)
            block.Dispose();
        _up2.Dispose();
        _up1.Dispose();
        Output.Dispose();
        _columns.Dispose();
        _condition.Dispose();
        _conditionGrad.Dispose();
        _concat2.Dispose();
        _concat1.Dispose();
        _scratch.Dispose();
        _split1.Dispose();
        _split2.Dispose();
    }
}
