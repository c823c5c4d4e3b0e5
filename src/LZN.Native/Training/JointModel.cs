using LZN.Native.Backends;
using LZN.Native.Distributed;
using LZN.Native.Nn;
using LZN.Native.RectifiedFlow;
using LZN.Native.Zones;

namespace LZN.Native.Training;

/// <summary>
/// The two loss terms of one joint step (unweighted) and the weights the optimised loss applies to them
/// (1 and 1 in the reference's joint task; a term with weight 0 is not computed and reads 0).
/// </summary>
public readonly record struct JointLosses(double RectifiedFlow, double Label, double RectifiedFlowWeight = 1, double LabelWeight = 1)
{
    /// <summary>The optimised loss: RectifiedFlowWeight x RectifiedFlow + LabelWeight x Label.</summary>
    public double Total => RectifiedFlowWeight * RectifiedFlow + LabelWeight * Label;
}

/// <summary>Raised when a model's outputs are not finite (NaN or infinite), so its predictions would be arbitrary.</summary>
public sealed class NonFiniteModelException(string message) : InvalidOperationException(message);

/// <summary>The phases of a training step, as <see cref="StepPhaseTimer"/> reports them (each task marks the ones it has).</summary>
public static class PhaseNames
{
    public const string Data = "data (gather, augment, upload)";
    public const string Gather = "data (gather)";
    public const string Views = "views (augment, upload)";
    public const string BackboneForward = "backbone + head fwd";
    public const string AssignForward = "assign fwd + loss";
    public const string AssignBackward = "assign bwd";
    public const string BackboneBackward = "head + backbone bwd";
    public const string EncoderForward = "encoder fwd";
    public const string LatentFlowForward = "latent flow fwd";
    public const string LabelFlow = "label flow fwd+bwd + loss";
    public const string Decoder = "decoder rf fwd+bwd";
    public const string LatentFlowBackward = "latent flow bwd";
    public const string EncoderBackward = "encoder bwd";
    public const string Optimizer = "clip + adamw + ema";
}

/// <summary>
/// The joint generation + classification model (docs/math.md sections 8-10, the joint case study): an image encoder
/// whose outputs are the anchors of a latent flow over the batch, learnable label anchors L [classes, d] with a
/// label flow, and a rectified-flow U-Net decoder conditioned on (latent, one-hot label).
/// Every random draw is a Philox stream keyed by the seed and a stream name, at counters derived from the step,
/// so a step's computation depends only on (seed, step) and the parameters.
/// </summary>
public sealed class JointModel : IDisposable
{
    /// <summary>Name of the label anchors tensor (checkpoint key).</summary>
    public const string LabelAnchorsName = "label_anchors";

    /// <summary>Log-prior of a class absent from the batch: log(0) clamped so the flow's softmax stays finite.</summary>
    public const float AbsentClassLogPrior = -30f;

    private readonly IBackend _backend;
    private readonly ulong _latentNoiseKey;
    private readonly ulong _decoderLatentNoiseKey;
    private readonly ulong _flowKey;
    private JointStepWorkspace? _workspace;

    public JointModel(IBackend backend, TrainingConfig config)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (config.Task != TrainingTask.Joint)
            throw new ArgumentException($"a joint model needs a joint-task config, not {TrainingConfig.TaskName(config.Task)}.", nameof(config));
        _backend = backend;
        Config = config;
        Encoder = config.Encoder.Kind == EncoderKind.Mlp
            ? new MlpEncoder(backend, "encoder", config.Data.ImageSize, config.Encoder.HiddenSizes, config.Latent.Dim, config.Seed, config.Encoder.Dropout)
            : new CnnEncoder(backend, "encoder", new CnnEncoderConfig(config.Data.ImageChannels, config.Data.ImageHeight, config.Data.ImageWidth, config.Latent.Dim)
            {
                Channels = config.Encoder.Channels, Depth = config.Encoder.Depth, Groups = TrainingConfig.CnnGroups, Dropout = config.Encoder.Dropout,
            }, config.Seed);
        Decoder = new UNetDecoder(backend, "decoder",
            new UNetDecoderConfig(config.Data.ImageChannels, config.Data.ImageHeight, config.Data.ImageWidth, config.Latent.Dim, config.Data.ClassCount)
            {
                BaseChannels = config.Decoder.Channels,
                Groups = config.Decoder.Groups,
            }, config.Seed);
        LabelAnchors = new Parameter(backend, LabelAnchorsName, [config.Data.ClassCount, config.Latent.Dim], Parameter.WeightGroup);
        backend.FillNormal(LabelAnchors.Value, Initialization.StreamKey(config.Seed, LabelAnchorsName), 0, 0f, 1f);
        _latentNoiseKey = Initialization.StreamKey(config.Seed, "stream.latent_noise");
        _decoderLatentNoiseKey = Initialization.StreamKey(config.Seed, "stream.decoder_latent_noise");
        _flowKey = Initialization.StreamKey(config.Seed, "stream.rectified_flow");
    }

    public TrainingConfig Config { get; }

    /// <summary>When set, <see cref="Backward"/> marks its phases on it (`lzn bench train`); null in training.</summary>
    public StepPhaseTimer? PhaseTimer { get; set; }

    public SequentialEncoder Encoder { get; }

    public UNetDecoder Decoder { get; }

    /// <summary>L [classes, d], initialised N(0, I).</summary>
    public Parameter LabelAnchors { get; }

    /// <summary>Encoder, decoder, then the label anchors (a fixed order; names are checkpoint keys).</summary>
    public IEnumerable<Parameter> Parameters => Encoder.Parameters.Concat(Decoder.Parameters).Append(LabelAnchors);

    public void ZeroGrad()
    {
        foreach (var parameter in Parameters)
            parameter.ZeroGrad();
    }

    /// <summary>
    /// One joint forward and backward pass at training step <paramref name="step"/>: accumulates (+=) every
    /// parameter gradient of RF loss + label loss and returns the two terms. The step's buffers are owned by the
    /// model and reused by the next step of the same batch size.
    /// </summary>
    /// <param name="images">[batchSize, ImageSize] in [-1, 1].</param>
    /// <param name="labels">[batchSize] on the device.</param>
    /// <param name="hostLabels">The same labels on the host (for the batch's class log-priors).</param>
    /// <param name="shard">
    /// With several ranks: this rank's slice of the global batch (images, labels and hostLabels hold its rows). The
    /// anchors of the global batch are gathered, every random draw is keyed by the global row, the losses are weighted
    /// by b_r / B and the returned losses are the global batch's; the caller sums the parameter gradients over the
    /// ranks (<see cref="ICollective.AllReduceSum(IReadOnlyList{FloatBuffer})"/>). Null: the batch is all local.
    /// </param>
    public JointLosses Backward(FloatBuffer images, IntBuffer labels, ReadOnlySpan<int> hostLabels, long step, BatchShard? shard = null)
    {
        int batchSize = hostLabels.Length, dim = Config.Latent.Dim, imageSize = Config.Data.ImageSize, classes = Config.Data.ClassCount;
        if ((shard?.GlobalRows ?? batchSize) < 2)
            throw new ArgumentException("a joint step needs at least two images (the batch is its own set of anchors).", nameof(hostLabels));
        if (shard is not null && shard.Rows != batchSize)
            throw new ArgumentException($"{batchSize} labels for a shard of {shard.Rows} rows.", nameof(hostLabels));
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        var work = Workspace(shard ?? BatchShard.Of(SingleProcessCollective.Instance, batchSize));
        int globalRows = work.Shard.GlobalRows, firstRow = work.Shard.FirstRow;
        double share = work.Shard.Share;

        // Image -> anchors -> latents through the flow over the global batch's anchors.
        SetDropoutStep(step, firstRow);
        var anchors = work.Anchors.Forward(Encoder.Forward(images, batchSize)); // [globalRows, dim]
        PhaseTimer?.Mark(PhaseNames.EncoderForward);
        _backend.FillNormal(work.LatentNoise, _latentNoiseKey, work.Shard.RowCounter(step, dim), 0f, 1f);
        using var encoded = LatentEncoder.EncodeAnchorRows(new ZoneAnchors(anchors, globalRows, dim), firstRow, batchSize, work.LatentNoise,
            new EncodeOptions { Steps = Config.Latent.Steps, NoiseScale = Config.Latent.NoiseScale, KeepTrajectory = true });
        _backend.Fill(work.LatentsGrad, 0f);
        // The decoder's own latents: a second flow over the same anchors at its own noise scale, or the same latents.
        using var decoderEncoded = Config.Decoder.LatentNoiseScale is { } decoderNoiseScale && Config.Loss.RectifiedFlowWeight > 0
            ? EncodeDecoderLatents(anchors, work, step, decoderNoiseScale)
            : null;
        var decoderLatents = decoderEncoded?.Latents ?? encoded.Latents;
        var decoderLatentsGrad = decoderEncoded is null ? work.LatentsGrad : work.DecoderLatentsGrad!;
        PhaseTimer?.Mark(PhaseNames.LatentFlowForward);

        // Label loss: reverse flow of each latent through the label anchors, priors = global batch class frequencies.
        CountClasses(hostLabels, work.HostClassCounts);
        work.Shard.Collective.AllReduceSum(work.HostClassCounts.AsSpan());
        LogPriors(work.HostClassCounts, globalRows, work.HostLogPriors);
        _backend.Upload(work.HostLogPriors, work.LogPriors);
        double labelLoss = 0;
        if (Config.Loss.LabelWeight > 0)
        {
            using var assigned = ZoneAssigner.Assign(new ZoneAnchors(LabelAnchors.Value, classes, dim, work.LogPriors), encoded.Latents, batchSize,
            labels, new AssignOptions { Steps = Config.Latent.LabelSteps, KeepTrajectory = true, EvaluatedSteps = AssignmentLoss.StepsRead(Config.Loss.Label, Config.Latent.LabelSteps) });
            labelLoss = AssignmentLoss.Evaluate(assigned, Config.Loss.Label, work.Beta);
            if (Config.Loss.LabelWeight * share != 1)
                _backend.ScaleShift(work.Beta, (float)(Config.Loss.LabelWeight * share), 0f);
            ZoneAssigner.Backward(assigned, null, work.Beta, new AssignGradients(Latents: work.LatentsGrad, Anchors: LabelAnchors.Grad));
            PhaseTimer?.Mark(PhaseNames.LabelFlow);
        }

        // Rectified-flow loss of the decoder conditioned on (latent, label).
        double flowLoss = 0;
        if (Config.Loss.RectifiedFlowWeight > 0)
        {
            var objective = new RectifiedFlowObjective(_backend, _flowKey, checked((ulong)step * (ulong)((long)globalRows + (long)globalRows * imageSize)));
            objective.BuildBatchRows(firstRow, batchSize, globalRows, imageSize, images, work.FlowNoise, work.Times, work.Noisy, work.Target);
            var prediction = Decoder.Forward(work.Noisy, decoderLatents, labels, work.Times, batchSize);
            objective.Loss(prediction, work.Target, work.FlowLoss, work.PredictionGrad, (float)(Config.Loss.RectifiedFlowWeight * share));
            var decoderGrads = Decoder.Backward(work.PredictionGrad);
            _backend.Axpby(1f, decoderGrads.Latent, 1f, decoderLatentsGrad);
            flowLoss = work.FlowLoss.ReadScalar();
            PhaseTimer?.Mark(PhaseNames.Decoder);
        }

        // Both latent gradients flow back through the latent flow into the gathered anchors, then to each rank's
        // own anchors (summed over the ranks) and the encoder.
        LatentEncoder.Backward(encoded, work.LatentsGrad, new EncodeGradients(Anchors: work.Anchors.Gradient));
        if (decoderEncoded is not null)
            LatentEncoder.Backward(decoderEncoded, decoderLatentsGrad, new EncodeGradients(Anchors: work.Anchors.Gradient));
        PhaseTimer?.Mark(PhaseNames.LatentFlowBackward);
        Encoder.Backward(work.Anchors.Backward());
        PhaseTimer?.Mark(PhaseNames.EncoderBackward);
        if (work.Shard.Collective.WorldSize > 1)
        {
            Span<double> terms = [flowLoss * share, labelLoss * share];
            work.Shard.Collective.AllReduceSum(terms);
            (flowLoss, labelLoss) = (terms[0], terms[1]);
        }
        return new JointLosses(flowLoss, labelLoss, Config.Loss.RectifiedFlowWeight, Config.Loss.LabelWeight);
    }

    /// <summary>
    /// The decoder's latents of step <paramref name="step"/>: the batch's anchors through their own flow with prior noise
    /// Philox key seed ^ fnv1a("stream.decoder_latent_noise") at counters [n B d, (n + 1) B d), scaled by
    /// <paramref name="noiseScale"/>. Clears <see cref="JointStepWorkspace.DecoderLatentsGrad"/> for the step.
    /// </summary>
    private EncodeResult EncodeDecoderLatents(FloatBuffer anchors, JointStepWorkspace work, long step, float noiseScale)
    {
        int dim = Config.Latent.Dim;
        var shard = work.Shard;
        _backend.FillNormal(work.DecoderLatentNoise!, _decoderLatentNoiseKey, shard.RowCounter(step, dim), 0f, 1f);
        _backend.Fill(work.DecoderLatentsGrad!, 0f);
        return LatentEncoder.EncodeAnchorRows(new ZoneAnchors(anchors, shard.GlobalRows, dim), shard.FirstRow, shard.Rows, work.DecoderLatentNoise,
            new EncodeOptions { Steps = Config.Latent.Steps, NoiseScale = noiseScale, KeepTrajectory = true });
    }

    /// <summary>The step buffers for <paramref name="shard"/>, replaced when the batch or its split changes.</summary>
    private JointStepWorkspace Workspace(BatchShard shard)
    {
        if (!shard.SameSlice(_workspace?.Shard))
        {
            _workspace?.Dispose();
            _workspace = null;
            _workspace = new JointStepWorkspace(_backend, Config, shard);
            return _workspace;
        }
        return _workspace!;
    }

    /// <summary>b_c = log(count_c / batchSize); classes absent from the batch get <see cref="AbsentClassLogPrior"/>.</summary>
    public static float[] BatchLogPriors(ReadOnlySpan<int> labels, int classCount)
    {
        var priors = new float[classCount];
        var counts = new int[classCount];
        CountClasses(labels, counts);
        LogPriors(counts, labels.Length, priors);
        return priors;
    }

    /// <summary>Counts the labels per class into <paramref name="counts"/> [classes].</summary>
    private static void CountClasses(ReadOnlySpan<int> labels, Span<int> counts)
    {
        counts.Clear();
        foreach (int label in labels)
        {
            if ((uint)label >= (uint)counts.Length)
                throw new ArgumentOutOfRangeException(nameof(labels), label, $"label outside [0, {counts.Length}).");
            counts[label]++;
        }
    }

    /// <summary>log(count_c / rows) into <paramref name="priors"/> [classes]; absent classes get <see cref="AbsentClassLogPrior"/>.</summary>
    private static void LogPriors(ReadOnlySpan<int> counts, int rows, Span<float> priors)
    {
        for (int c = 0; c < priors.Length; c++)
            priors[c] = counts[c] == 0 ? AbsentClassLogPrior : (float)Math.Log((double)counts[c] / rows);
    }

    /// <summary>
    /// Classifies images [count, ImageSize] in consecutive groups of <see cref="ScheduleConfig.EvalBatch"/>: each group
    /// is encoded with itself as anchors and no prior noise (the zone's anchor-side start), reverse-flowed through
    /// the label anchors with uniform priors, and labelled by the nearest label anchor. <paramref name="priorStd"/> > 0
    /// starts from N(0, priorStd^2) prior noise instead (the paper's std sweep), drawn from Philox under <paramref name="seed"/>.
    /// <paramref name="classLogPriors"/> [classes] replaces the uniform priors of the label flow (e.g. the training split's
    /// log class frequencies, <see cref="BatchLogPriors"/>).
    /// </summary>
    public int[] Classify(ReadOnlySpan<float> images, int count, float priorStd = 0f, ulong seed = 0, float[]? classLogPriors = null)
    {
        int imageSize = Config.Data.ImageSize, dim = Config.Latent.Dim, classes = Config.Data.ClassCount;
        if (images.Length != (long)count * imageSize)
            throw new ArgumentException($"images hold {images.Length} values; expected {count} x {imageSize}.", nameof(images));
        var predictions = new int[count];
        if (classLogPriors is not null && classLogPriors.Length != classes)
            throw new ArgumentException($"class log-priors hold {classLogPriors.Length} values; expected {classes}.", nameof(classLogPriors));
        using var logPriors = classLogPriors is null ? null : _backend.FromHost(classLogPriors); // [classes]
        var labelZones = new ZoneAnchors(LabelAnchors.Value, classes, dim, logPriors);
        SetDropoutStep(null, 0);
        for (int first = 0; first < count; first += Config.Schedule.EvalBatch)
        {
            int rows = Math.Min(Config.Schedule.EvalBatch, count - first);
            using var batch = _backend.FromHost(images.Slice(first * imageSize, rows * imageSize)); // [rows, imageSize]
            var anchors = Encoder.Forward(batch, rows); // [rows, dim]
            using var noise = priorStd > 0 ? _backend.AllocateFloat((long)rows * dim) : null; // [rows, dim]
            if (noise is not null)
                _backend.FillNormal(noise, Initialization.StreamKey(seed, "eval.latent_noise"), (ulong)first * (ulong)dim, 0f, 1f);
            using var encoded = LatentEncoder.Encode(new ZoneAnchors(anchors, rows, dim), noise,
                new EncodeOptions { Steps = Config.Latent.Steps, NoiseScale = priorStd > 0 ? priorStd : 1f });
            using var assigned = ZoneAssigner.Assign(labelZones, encoded.Latents, rows, null, new AssignOptions { Steps = Config.Latent.LabelSteps });
            // Weights so large that the encoder or the flows overflow leave NaN, whose nearest anchor is arbitrary.
            long bad = IO.FiniteValues.FirstOutside(assigned.FinalPoints.ToArray());
            if (bad >= 0)
                throw new NonFiniteModelException($"the model's label-flow end point of image {first + bad / dim} is not finite: its weights overflow the flows, so it classifies nothing.");
            ZoneAssigner.NearestAnchors(labelZones, assigned.FinalPoints, rows).CopyTo(predictions, first);
        }
        return predictions;
    }

    /// <summary>
    /// Keys the encoder's dropout masks by the training step and the global row of the batch's first row; null switches
    /// dropout off for evaluation.
    /// </summary>
    private void SetDropoutStep(long? step, int firstRow)
    {
        foreach (var dropout in Encoder.Dropouts)
        {
            dropout.Step = step;
            dropout.FirstRow = firstRow;
        }
    }

    /// <summary>Fraction of <paramref name="labels"/> that <see cref="Classify"/> gets right; NaN for no images (no accuracy, not 0%).</summary>
    public double Accuracy(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, float priorStd = 0f, ulong seed = 0, float[]? classLogPriors = null)
    {
        var predictions = Classify(images, labels.Length, priorStd, seed, classLogPriors);
        int correct = 0;
        for (int i = 0; i < labels.Length; i++)
            correct += predictions[i] == labels[i] ? 1 : 0;
        return labels.Length == 0 ? double.NaN : (double)correct / labels.Length;
    }

    /// <summary>
    /// Conditional generation: each class's latent comes from the label flow forward from L_c with N(0, I) prior
    /// noise, then the decoder's Euler rectified-flow sampler turns N(0, I) images into samples. All draws come
    /// from Philox under <paramref name="seed"/>. Returns [classes.Length, ImageSize].
    /// </summary>
    public float[] Generate(ReadOnlySpan<int> classes, ulong seed)
    {
        int rows = classes.Length, dim = Config.Latent.Dim, imageSize = Config.Data.ImageSize;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        var hostAnchors = LabelAnchors.Value.ToArray(); // [classCount, dim]
        var queries = new float[rows * dim];
        for (int i = 0; i < rows; i++)
        {
            if ((uint)classes[i] >= (uint)Config.Data.ClassCount)
                throw new ArgumentOutOfRangeException(nameof(classes), classes[i], $"class outside [0, {Config.Data.ClassCount}).");
            hostAnchors.AsSpan(classes[i] * dim, dim).CopyTo(queries.AsSpan(i * dim));
        }
        using var queryBuffer = _backend.FromHost(queries); // [rows, dim]
        using var latentNoise = _backend.AllocateFloat((long)rows * dim); // [rows, dim]
        _backend.FillNormal(latentNoise, Initialization.StreamKey(seed, "sample.latent_noise"), 0, 0f, 1f);
        using var encoded = LatentEncoder.Encode(new ZoneAnchors(LabelAnchors.Value, Config.Data.ClassCount, dim), queryBuffer, rows, latentNoise,
            new EncodeOptions { Steps = Config.Latent.LabelSteps });
        using var labels = _backend.FromHost(classes); // [rows]
        using var x = _backend.AllocateFloat((long)rows * imageSize); // [rows, imageSize]
        _backend.FillNormal(x, Initialization.StreamKey(seed, "sample.image_noise"), 0, 0f, 1f);
        using var times = _backend.AllocateFloat(rows); // [rows]
        var latents = encoded.Latents;
        EulerSampler.Sample(_backend, (point, time, velocity) =>
        {
            _backend.Fill(times, time);
            _backend.Copy(Decoder.Forward(point, latents, labels, times, rows), velocity);
        }, x, Config.Decoder.SampleSteps);
        return x.ToArray();
    }

    public void Dispose()
    {
        _workspace?.Dispose();
        Encoder.Dispose();
        Decoder.Dispose();
        LabelAnchors.Dispose();
    }
}
