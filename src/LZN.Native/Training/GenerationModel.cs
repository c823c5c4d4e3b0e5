using LZN.Native.Backends;
using LZN.Native.Distributed;
using LZN.Native.Nn;
using LZN.Native.RectifiedFlow;
using LZN.Native.Zones;

namespace LZN.Native.Training;

/// <summary>
/// The generation model (docs/math.md section 10, the reference's first case study): an image encoder whose outputs
/// are the anchors of a latent flow over the batch, each image's latent its anchor's flow (Euler or DPM-Solver++,
/// <see cref="LatentConfig.Solver"/>) from full-scale prior noise, and a rectified-flow U-Net decoder conditioned on
/// that latent alone (no label). The encoder learns only through the rectified-flow loss back through the latent flow.
/// With <see cref="DecoderConfig.ZeroLatent"/> the
/// decoder's latent input is zero (the plain rectified-flow baseline; the encoder is kept but never runs). Sampling
/// draws the latent from N(0, I). Draws are Philox streams keyed by the seed and a stream name at counters from the step.
/// </summary>
public sealed class GenerationModel : IDisposable
{
    private readonly IBackend _backend;
    private readonly ulong _latentNoiseKey;
    private readonly ulong _flowKey;
    // The joint step's buffers serve this step too (its label-flow buffers are a few floats per row and stay unused).
    private JointStepWorkspace? _workspace;
    private FloatBuffer? _images; // [b_r, imageSize]: this rank's rows (all B in one process)
    private FloatBuffer? _zeroLatents; // [b_r, dim], the baseline's latent input: zeros, never written after allocation

    public GenerationModel(IBackend backend, TrainingConfig config)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (config.Task != TrainingTask.Generation)
            throw new ArgumentException($"a generation model needs a generation-task config, not {TrainingConfig.TaskName(config.Task)}.", nameof(config));
        _backend = backend;
        Config = config;
        Encoder = config.Encoder.Kind == EncoderKind.Mlp
            ? new MlpEncoder(backend, "encoder", config.Data.ImageSize, config.Encoder.HiddenSizes, config.Latent.Dim, config.Seed)
            : new CnnEncoder(backend, "encoder", new CnnEncoderConfig(config.Data.ImageChannels, config.Data.ImageHeight, config.Data.ImageWidth, config.Latent.Dim)
            {
                Channels = config.Encoder.Channels, Depth = config.Encoder.Depth, Groups = TrainingConfig.CnnGroups,
            }, config.Seed);
        Decoder = new UNetDecoder(backend, "decoder",
            new UNetDecoderConfig(config.Data.ImageChannels, config.Data.ImageHeight, config.Data.ImageWidth, config.Latent.Dim, ClassCount: 0)
            {
                BaseChannels = config.Decoder.Channels, Groups = config.Decoder.Groups,
            }, config.Seed);
        _latentNoiseKey = Initialization.StreamKey(config.Seed, "stream.latent_noise");
        _flowKey = Initialization.StreamKey(config.Seed, "stream.rectified_flow");
    }

    public TrainingConfig Config { get; }

    /// <summary>Images [n, ImageSize] -> anchors [n, LatentDim].</summary>
    public SequentialEncoder Encoder { get; }

    public UNetDecoder Decoder { get; }

    /// <summary>Encoder, then decoder (a fixed order; names are checkpoint keys).</summary>
    public IEnumerable<Parameter> Parameters => Encoder.Parameters.Concat(Decoder.Parameters);

    /// <summary>When set, <see cref="Backward"/> marks its phases on it (<see cref="PhaseNames"/>).</summary>
    public StepPhaseTimer? PhaseTimer { get; set; }

    /// <summary>
    /// One forward and backward pass at training step <paramref name="step"/> on images [B, ImageSize] (host, in [-1, 1]):
    /// accumulates (+=) every parameter gradient of the rectified-flow loss and returns it. Data-parallel
    /// (<paramref name="shard"/> of several ranks, docs/distributed.md): the images are this rank's rows [b_r, ImageSize],
    /// their latents flow over the anchors of the global batch, the gradients are this rank's share (weighted by
    /// b_r / B), and the loss is the global batch's.
    /// </summary>
    public double Backward(ReadOnlySpan<float> images, long step, BatchShard? shard = null)
    {
        int imageSize = Config.Data.ImageSize, dim = Config.Latent.Dim, batchSize = images.Length / imageSize;
        shard ??= BatchShard.Of(SingleProcessCollective.Instance, Math.Max(batchSize, 1));
        if (shard.GlobalRows < 2 || batchSize != shard.Rows || images.Length != (long)batchSize * imageSize)
            throw new ArgumentException($"a generation step needs at least two whole images of {imageSize} values in the batch (the batch is its own set of anchors), {shard.Rows} of them this rank's.", nameof(images));
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        var work = Workspace(shard);
        int globalRows = shard.GlobalRows, firstRow = shard.FirstRow;
        _backend.Upload(images, _images!);
        EncodeResult? encoded = null;
        if (!Config.Decoder.ZeroLatent)
        {
            var anchors = work.Anchors.Forward(Encoder.Forward(_images!, batchSize)); // [globalRows, dim]
            PhaseTimer?.Mark(PhaseNames.EncoderForward);
            _backend.FillNormal(work.LatentNoise, _latentNoiseKey, shard.RowCounter(step, dim), 0f, 1f);
            encoded = LatentEncoder.EncodeAnchorRows(new ZoneAnchors(anchors, globalRows, dim), firstRow, batchSize, work.LatentNoise, EncodeOptions(keepTrajectory: true));
            PhaseTimer?.Mark(PhaseNames.LatentFlowForward);
        }
        using (encoded)
        {
            var latents = encoded?.Latents ?? _zeroLatents!;
            var objective = new RectifiedFlowObjective(_backend, _flowKey, checked((ulong)step * (ulong)((long)globalRows + (long)globalRows * imageSize)));
            objective.BuildBatchRows(firstRow, batchSize, globalRows, imageSize, _images!, work.FlowNoise, work.Times, work.Noisy, work.Target);
            var prediction = Decoder.Forward(work.Noisy, latents, null, work.Times, batchSize);
            objective.Loss(prediction, work.Target, work.FlowLoss, work.PredictionGrad, (float)shard.Share);
            var decoderGrads = Decoder.Backward(work.PredictionGrad);
            PhaseTimer?.Mark(PhaseNames.Decoder);
            if (encoded is not null)
            {
                LatentEncoder.Backward(encoded, decoderGrads.Latent, new EncodeGradients(Anchors: work.Anchors.Gradient));
                PhaseTimer?.Mark(PhaseNames.LatentFlowBackward);
                Encoder.Backward(work.Anchors.Backward());
                PhaseTimer?.Mark(PhaseNames.EncoderBackward);
            }
        }
        Span<double> loss = [work.FlowLoss.ReadScalar() * shard.Share];
        shard.Collective.AllReduceSum(loss);
        return loss[0];
    }

    /// <summary>
    /// The latents [rows, d] of images [rows, ImageSize] on the device: the encoder's anchors of the group, each flowed
    /// over the group's anchors from N(0, I) prior noise drawn under <paramref name="noiseKey"/> from counter
    /// <paramref name="noiseOffset"/> (training: key seed ^ fnv1a("stream.latent_noise"), counters [n B d, (n + 1) B d)).
    /// </summary>
    private EncodeResult EncodeBatch(FloatBuffer images, int rows, ulong noiseKey, ulong noiseOffset, bool keepTrajectory)
    {
        int dim = Config.Latent.Dim;
        var anchors = Encoder.Forward(images, rows); // [rows, dim], encoder-owned
        using var noise = _backend.AllocateFloat((long)rows * dim); // [rows, dim]
        _backend.FillNormal(noise, noiseKey, noiseOffset, 0f, 1f);
        return LatentEncoder.Encode(new ZoneAnchors(anchors, rows, dim), noise, EncodeOptions(keepTrajectory));
    }

    private EncodeOptions EncodeOptions(bool keepTrajectory) => new()
    {
        Steps = Config.Latent.Steps, NoiseScale = Config.Latent.NoiseScale, Solver = Config.Latent.Solver, SolverOrder = Config.Latent.SolverOrder,
        KeepTrajectory = keepTrajectory,
    };

    /// <summary>Unconditional samples [count, ImageSize]: latents from N(0, I) (zero for the baseline), then the decoder's Euler sampler from N(0, I) images.</summary>
    public float[] Generate(int count, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        using var latents = _backend.AllocateFloat((long)count * Config.Latent.Dim); // [count, dim]
        if (Config.Decoder.ZeroLatent)
            _backend.Fill(latents, 0f);
        else
            _backend.FillNormal(latents, Initialization.StreamKey(seed, "sample.latent_noise"), 0, 0f, 1f);
        return Sample(latents, count, seed);
    }

    /// <summary>
    /// Samples [count, ImageSize] from the image noise <see cref="Generate"/> draws under <paramref name="seed"/>, each
    /// conditioned on the latent of one of <paramref name="images"/> ([count, ImageSize], encoded as <see cref="Reconstruct"/>
    /// encodes them) instead of a prior draw: the decoder on the kind of latents it was trained on, so comparing their
    /// quality with <see cref="Generate"/>'s separates the decoder from the gap between the prior and the encoded latents.
    /// Also returns those latents [count, d].
    /// </summary>
    public (float[] Samples, float[] Latents) GenerateFromEncoded(ReadOnlySpan<float> images, int count, ulong seed)
    {
        if (Config.Decoder.ZeroLatent)
            throw new InvalidOperationException("the plain rectified-flow baseline (latent none) has no latents to encode.");
        float[] hostLatents = EncodedLatents(images, count, seed);
        using var latents = _backend.FromHost(hostLatents); // [count, dim]
        return (Sample(latents, count, seed), hostLatents);
    }

    /// <summary>
    /// The reconstruction protocol: each image [count, ImageSize] gets its latent (its group of <see cref="ScheduleConfig.EvalBatch"/>
    /// encoded together, prior noise under <paramref name="seed"/>; zero for the baseline), is inverted to noise by the
    /// decoder's ODE (Euler, <see cref="DecoderConfig.SampleSteps"/>), and regenerated from that noise with the same latent.
    /// Returns the regenerated images [count, ImageSize].
    /// </summary>
    public float[] Reconstruct(ReadOnlySpan<float> images, int count, ulong seed)
    {
        int imageSize = Config.Data.ImageSize, dim = Config.Latent.Dim;
        float[] allLatents = Config.Decoder.ZeroLatent ? new float[(long)count * dim] : EncodedLatents(images, count, seed); // [count, dim]
        var output = new float[(long)count * imageSize];
        for (int first = 0; first < count; first += Config.Schedule.EvalBatch)
        {
            int rows = Math.Min(Config.Schedule.EvalBatch, count - first);
            using var x = _backend.FromHost(images.Slice(first * imageSize, rows * imageSize)); // [rows, imageSize]
            using var latents = _backend.FromHost(allLatents.AsSpan(first * dim, rows * dim)); // [rows, dim]
            Integrate(x, latents, rows, invert: true);
            Integrate(x, latents, rows, invert: false);
            _backend.Download(x, output.AsSpan(first * imageSize, rows * imageSize));
        }
        return output;
    }

    /// <summary>
    /// The evaluation latents [count, d] of images [count, ImageSize]: groups of <see cref="ScheduleConfig.EvalBatch"/>
    /// encoded together, each other's anchors, prior noise keyed by <paramref name="seed"/> at counters from the group's first image.
    /// </summary>
    private float[] EncodedLatents(ReadOnlySpan<float> images, int count, ulong seed)
    {
        int imageSize = Config.Data.ImageSize, dim = Config.Latent.Dim;
        if (images.Length != (long)count * imageSize)
            throw new ArgumentException($"images hold {images.Length} values; expected {count} x {imageSize}.", nameof(images));
        var latents = new float[(long)count * dim];
        for (int first = 0; first < count; first += Config.Schedule.EvalBatch)
        {
            int rows = Math.Min(Config.Schedule.EvalBatch, count - first);
            using var x = _backend.FromHost(images.Slice(first * imageSize, rows * imageSize)); // [rows, imageSize]
            using var encoded = EncodeBatch(x, rows, Initialization.StreamKey(seed, "reconstruct.latent_noise"), (ulong)first * (ulong)dim, keepTrajectory: false);
            _backend.Download(encoded.Latents, latents.AsSpan(first * dim, rows * dim));
        }
        return latents;
    }

    /// <summary>The decoder's Euler sampler from N(0, I) images (key "sample.image_noise" of <paramref name="seed"/>) given latents [count, d].</summary>
    private float[] Sample(FloatBuffer latents, int count, ulong seed)
    {
        using var x = _backend.AllocateFloat((long)count * Config.Data.ImageSize); // [count, imageSize]
        _backend.FillNormal(x, Initialization.StreamKey(seed, "sample.image_noise"), 0, 0f, 1f);
        Integrate(x, latents, count, invert: false);
        return x.ToArray();
    }

    /// <summary>
    /// The reconstruction protocol's scores of <paramref name="regenerated"/> against <paramref name="images"/> (both
    /// [count, size] in [-1, 1]): the mean over images of the L2 norm of their difference, and the mean per-image PSNR on
    /// [0, 1], 10 log10(1 / MSE) with the MSE of the images mapped to [0, 1].
    /// </summary>
    public static (double L2, double Psnr) ReconstructionScores(ReadOnlySpan<float> images, ReadOnlySpan<float> regenerated, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        if (images.Length != regenerated.Length || images.Length % count != 0)
            throw new ArgumentException($"images ({images.Length} values) and regenerated images ({regenerated.Length}) must both be {count} whole images.", nameof(regenerated));
        int size = images.Length / count;
        double l2Sum = 0, psnrSum = 0;
        for (int i = 0; i < count; i++)
        {
            double squares = 0;
            for (int j = 0; j < size; j++)
            {
                double difference = regenerated[i * size + j] - images[i * size + j];
                squares += difference * difference;
            }
            l2Sum += Math.Sqrt(squares);
            // On [0, 1] every difference is half its [-1, 1] value, so the MSE is a quarter.
            psnrSum += 10 * Math.Log10(1 / Math.Max(squares / 4 / size, 1e-12));
        }
        return (l2Sum / count, psnrSum / count);
    }

    private void Integrate(FloatBuffer x, FloatBuffer latents, int rows, bool invert)
    {
        using var times = _backend.AllocateFloat(rows); // [rows]
        VelocityField velocity = (point, time, v) =>
        {
            _backend.Fill(times, time);
            _backend.Copy(Decoder.Forward(point, latents, null, times, rows), v);
        };
        if (invert)
            EulerSampler.Invert(_backend, velocity, x, Config.Decoder.SampleSteps);
        else
            EulerSampler.Sample(_backend, velocity, x, Config.Decoder.SampleSteps);
    }

    /// <summary>The step buffers for <paramref name="shard"/>, replaced when the batch or its split changes.</summary>
    private JointStepWorkspace Workspace(BatchShard shard)
    {
        if (!shard.SameSlice(_workspace?.Shard))
        {
            DisposeWorkspace();
            int batchSize = shard.Rows;
            _workspace = new JointStepWorkspace(_backend, Config, shard);
            _images = _backend.AllocateFloat((long)batchSize * Config.Data.ImageSize); // [b_r, imageSize]
            _zeroLatents = _backend.AllocateFloat((long)batchSize * Config.Latent.Dim); // [b_r, dim]
            _backend.Fill(_zeroLatents, 0f);
        }
        return _workspace!;
    }

    private void DisposeWorkspace()
    {
        _zeroLatents?.Dispose();
        _images?.Dispose();
        _workspace?.Dispose();
        (_zeroLatents, _images, _workspace) = (null, null, null);
    }

    public void Dispose()
    {
        DisposeWorkspace();
        Encoder.Dispose();
        Decoder.Dispose();
    }
}
