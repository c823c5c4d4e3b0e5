using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Distributed;
using LZN.Native.Nn;
using LZN.Native.Zones;

namespace LZN.Native.Training;

/// <summary>
/// The representation-learning model (docs/math.md section 11, the reference's second case study): a CNN backbone whose
/// output is the feature a linear probe reads, and a projection head (SiLU -> Linear -> SiLU -> Linear) that maps it to
/// the anchor of the latent flow. A step encodes two augmented views of every image of the batch; the view-1 anchors
/// A1 [B, d] define the zones every row's latent is encoded in (its own anchor's Euler flow with prior noise), and that
/// latent flows back through the view-2 anchors A2 [B, d], where it should land in its own row's zone: the loss is the
/// assignment loss of <see cref="LossConfig.Label"/> with target i for row i. Every random draw is a Philox
/// stream keyed by the seed and a stream name, at counters derived from (step, global row index).
/// </summary>
public sealed class RepresentationModel : IDisposable
{
    private readonly IBackend _backend;
    private readonly ulong _latentNoiseKey;
    private readonly ulong _firstViewKey;
    private readonly ulong _secondViewKey;
    private readonly ViewAugmentation _views;
    private RepresentationStepWorkspace? _workspace;

    public RepresentationModel(IBackend backend, TrainingConfig config)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (config.Task != TrainingTask.Representation)
            throw new ArgumentException($"a representation model needs a representation-task config, not {TrainingConfig.TaskName(config.Task)}.", nameof(config));
        _backend = backend;
        Config = config;
        _views = ViewAugmentation.Parse(config.Augmentation.Views)!;
        Backbone = new CnnEncoder(backend, "backbone",
            new CnnEncoderConfig(config.Data.ImageChannels, config.Data.ImageHeight, config.Data.ImageWidth, config.Representation.FeatureDim)
            {
                Channels = config.Encoder.Channels, Depth = config.Encoder.Depth, Groups = TrainingConfig.CnnGroups,
            }, config.Seed);
        Head = new Sequential(backend, "head",
            new Activation(backend, "head.act1", ActivationKind.Silu, config.Representation.FeatureDim),
            new Linear(backend, "head.fc1", config.Representation.FeatureDim, config.Representation.ProjectionHidden, config.Seed),
            new Activation(backend, "head.act2", ActivationKind.Silu, config.Representation.ProjectionHidden),
            new Linear(backend, "head.fc2", config.Representation.ProjectionHidden, config.Latent.Dim, config.Seed, WeightInit.Xavier));
        _latentNoiseKey = Initialization.StreamKey(config.Seed, "stream.latent_noise");
        _firstViewKey = Initialization.StreamKey(config.Seed, "stream.view1");
        _secondViewKey = Initialization.StreamKey(config.Seed, "stream.view2");
    }

    public TrainingConfig Config { get; }

    /// <summary>Images [n, ImageSize] -> features [n, FeatureDim].</summary>
    public CnnEncoder Backbone { get; }

    /// <summary>Features [n, FeatureDim] -> anchors [n, LatentDim].</summary>
    public Sequential Head { get; }

    /// <summary>Backbone, then head (a fixed order; names are checkpoint keys).</summary>
    public IEnumerable<Parameter> Parameters => Backbone.Parameters.Concat(Head.Parameters);

    /// <summary>
    /// The two views of a batch: rows [0, b) view 1, rows [b, 2b) view 2 of the same images, each augmented under its own
    /// key at counters firstRow + row, firstRow = step x B + the shard's first row (the row's index in the run's stream of
    /// global batches; without <paramref name="shard"/> the images are the whole batch, B = b).
    /// </summary>
    /// <param name="images">[b, ImageSize] in [-1, 1], before augmentation.</param>
    /// <param name="views">[2b, ImageSize], overwritten.</param>
    public void MakeViews(ReadOnlySpan<float> images, Span<float> views, long step, BatchShard? shard = null)
    {
        int imageSize = Config.Data.ImageSize, batchSize = images.Length / imageSize;
        if (views.Length != 2L * images.Length || images.Length != (long)batchSize * imageSize)
            throw new ArgumentException($"views hold {views.Length} values; expected 2 x {images.Length} (images hold whole rows of {imageSize}).", nameof(views));
        ulong firstRow = shard?.RowCounter(step, 1) ?? checked((ulong)step * (ulong)batchSize);
        var shape = RunOutputs.Shape(Config);
        images.CopyTo(views);
        images.CopyTo(views[images.Length..]);
        _views.Apply(views[..images.Length], batchSize, shape, _firstViewKey, firstRow);
        _views.Apply(views[images.Length..], batchSize, shape, _secondViewKey, firstRow);
    }

    /// <summary>When set, <see cref="Backward"/> marks its phases on it (<see cref="PhaseNames"/>).</summary>
    public StepPhaseTimer? PhaseTimer { get; set; }

    /// <summary>
    /// One forward and backward pass at training step <paramref name="step"/> on a batch of images [B, ImageSize] (host,
    /// before augmentation): accumulates (+=) every parameter gradient of the zone loss and returns the loss.
    /// Data-parallel (<paramref name="shard"/> of several ranks, docs/distributed.md): the images are this rank's rows
    /// [b_r, ImageSize]; both anchor sets are gathered over the global batch, this rank's view-1 latents flow over all of
    /// A1 and are assigned through all of A2 with its rows' global indices as targets, the gradients are this rank's
    /// share (weighted by b_r / B), and the loss is the global batch's.
    /// </summary>
    public double Backward(ReadOnlySpan<float> images, long step, BatchShard? shard = null)
    {
        int imageSize = Config.Data.ImageSize, batchSize = images.Length / imageSize, dim = Config.Latent.Dim;
        shard ??= BatchShard.Of(SingleProcessCollective.Instance, Math.Max(batchSize, 1));
        if (shard.GlobalRows < 2 || batchSize != shard.Rows)
            throw new ArgumentException($"a representation step needs at least two images in the batch (the batch is its own set of anchors), {shard.Rows} of them this rank's.", nameof(images));
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        long latentElements = (long)batchSize * dim;
        var work = Workspace(shard);
        MakeViews(images, work.HostViews, step, shard);
        _backend.Upload(work.HostViews, work.Views);
        PhaseTimer?.Mark(PhaseNames.Views);

        var features = Backbone.Forward(work.Views, 2 * batchSize); // [2b, FeatureDim], backbone-owned
        var anchors = Head.Forward(features, 2 * batchSize); // [2b, dim], head-owned
        PhaseTimer?.Mark(PhaseNames.BackboneForward);
        var firstAnchors = new ZoneAnchors(work.FirstAnchors.Forward(anchors.Slice(0, latentElements)), shard.GlobalRows, dim);
        var secondAnchors = new ZoneAnchors(work.SecondAnchors.Forward(anchors.Slice(latentElements, latentElements)), shard.GlobalRows, dim);
        _backend.FillNormal(work.LatentNoise, _latentNoiseKey, shard.RowCounter(step, dim), 0f, 1f);
        using var encoded = LatentEncoder.EncodeAnchorRows(firstAnchors, shard.FirstRow, batchSize, work.LatentNoise,
            new EncodeOptions { Steps = Config.Latent.Steps, NoiseScale = Config.Latent.NoiseScale, KeepTrajectory = true });
        PhaseTimer?.Mark(PhaseNames.LatentFlowForward);
        using var assigned = ZoneAssigner.Assign(secondAnchors, encoded.Latents, batchSize, work.Targets,
            new AssignOptions { Steps = Config.Latent.LabelSteps, KeepTrajectory = true, EvaluatedSteps = AssignmentLoss.StepsRead(Config.Loss.Label, Config.Latent.LabelSteps) });
        double loss = AssignmentLoss.Evaluate(assigned, Config.Loss.Label, work.Beta);
        if (shard.Share != 1)
            _backend.ScaleShift(work.Beta, (float)shard.Share, 0f);
        PhaseTimer?.Mark(PhaseNames.AssignForward);

        _backend.Fill(work.LatentsGrad, 0f);
        ZoneAssigner.Backward(assigned, null, work.Beta, new AssignGradients(Latents: work.LatentsGrad, Anchors: work.SecondAnchors.Gradient));
        PhaseTimer?.Mark(PhaseNames.AssignBackward);
        LatentEncoder.Backward(encoded, work.LatentsGrad, new EncodeGradients(Anchors: work.FirstAnchors.Gradient));
        // Each anchor set's gradient over the global batch comes back as this rank's rows, summed over the ranks.
        _backend.Copy(work.FirstAnchors.Backward(), work.AnchorsGrad.Slice(0, latentElements));
        _backend.Copy(work.SecondAnchors.Backward(), work.AnchorsGrad.Slice(latentElements, latentElements));
        PhaseTimer?.Mark(PhaseNames.LatentFlowBackward);
        Backbone.Backward(Head.Backward(work.AnchorsGrad));
        PhaseTimer?.Mark(PhaseNames.BackboneBackward);
        Span<double> terms = [loss * shard.Share];
        shard.Collective.AllReduceSum(terms);
        return terms[0];
    }

    /// <summary>Width of <see cref="Features"/>' rows: what <see cref="RepresentationConfig.ProbeFeatures"/> reads.</summary>
    public int FeatureWidth => Config.Representation.ProbeFeatures switch
    {
        ProbeFeatures.Pooled => Backbone.LastChannels,
        ProbeFeatures.Both => Config.Representation.FeatureDim + Backbone.LastChannels,
        ProbeFeatures.Map => Backbone.ForwardConvolutionsSize,
        _ => Config.Representation.FeatureDim,
    };

    /// <summary>
    /// The features <see cref="RepresentationConfig.ProbeFeatures"/> names of images [count, ImageSize], in groups of
    /// <see cref="ScheduleConfig.EvalBatch"/>: [count, FeatureWidth], backbone output first where both are read.
    /// </summary>
    public float[] Features(ReadOnlySpan<float> images, int count)
    {
        int imageSize = Config.Data.ImageSize, featureDim = Config.Representation.FeatureDim, width = FeatureWidth;
        if (images.Length != (long)count * imageSize)
            throw new ArgumentException($"images hold {images.Length} values; expected {count} x {imageSize}.", nameof(images));
        var probe = Config.Representation.ProbeFeatures;
        var features = new float[(long)count * width];
        // Host staging for the backbone output and the map the pooling reads; the map reading downloads in place.
        int stagedWidth = probe switch
        {
            ProbeFeatures.Backbone => featureDim,
            ProbeFeatures.Map => 0,
            _ => Math.Max(featureDim, Backbone.ForwardConvolutionsSize),
        };
        var output = new float[(long)Math.Min(count, Config.Schedule.EvalBatch) * stagedWidth]; // [evalBatch, stagedWidth]
        for (int first = 0; first < count; first += Config.Schedule.EvalBatch)
        {
            int rows = Math.Min(Config.Schedule.EvalBatch, count - first);
            using var batch = _backend.FromHost(images.Slice(first * imageSize, rows * imageSize)); // [rows, imageSize]
            if (probe is ProbeFeatures.Backbone or ProbeFeatures.Both)
            {
                _backend.Download(Backbone.Forward(batch, rows), output.AsSpan(0, rows * featureDim)); // [rows, featureDim]
                for (int row = 0; row < rows; row++)
                    output.AsSpan(row * featureDim, featureDim).CopyTo(features.AsSpan((first + row) * width, featureDim));
            }
            if (probe == ProbeFeatures.Map)
            {
                _backend.Download(Backbone.ForwardConvolutions(batch, rows), features.AsSpan(first * width, rows * width)); // [rows, channels, pixels]
            }
            else if (probe != ProbeFeatures.Backbone)
            {
                int mapSize = Backbone.ForwardConvolutionsSize, channels = Backbone.LastChannels, pixels = mapSize / channels;
                _backend.Download(Backbone.ForwardConvolutions(batch, rows), output.AsSpan(0, rows * mapSize)); // [rows, channels, pixels]
                int offset = width - channels;
                for (int row = 0; row < rows; row++)
                    for (int channel = 0; channel < channels; channel++)
                    {
                        double sum = 0;
                        foreach (float value in output.AsSpan(row * mapSize + channel * pixels, pixels))
                            sum += value;
                        features[(long)(first + row) * width + offset + channel] = (float)(sum / pixels);
                    }
            }
        }
        long bad = IO.FiniteValues.FirstOutside(features);
        if (bad >= 0)
            throw new NonFiniteModelException($"the backbone's feature {bad % width} of image {bad / width} is not finite: its weights overflow.");
        return features;
    }

    /// <summary>The step buffers for <paramref name="shard"/>, replaced when the batch or its split changes.</summary>
    private RepresentationStepWorkspace Workspace(BatchShard shard)
    {
        if (!shard.SameSlice(_workspace?.Shard))
        {
            _workspace?.Dispose();
            _workspace = null;
            _workspace = new RepresentationStepWorkspace(_backend, Config, shard);
        }
        return _workspace!;
    }

    public void Dispose()
    {
        _workspace?.Dispose();
        Backbone.Dispose();
        Head.Dispose();
    }
}

/// <summary>
/// The buffers of one <see cref="RepresentationModel.Backward"/> at one batch size, allocated once and reused; the step
/// overwrites each before reading it (the gradients it accumulates into are cleared first). b is this rank's rows of
/// the batch (<see cref="BatchShard.Rows"/>; all B rows in one process).
/// </summary>
internal sealed class RepresentationStepWorkspace : IDisposable
{
    public RepresentationStepWorkspace(IBackend backend, TrainingConfig config, BatchShard shard)
    {
        Shard = shard;
        int batchSize = shard.Rows;
        long latentElements = (long)batchSize * config.Latent.Dim;
        HostViews = new float[2L * batchSize * config.Data.ImageSize]; // [2b, imageSize]
        try
        {
            Views = backend.AllocateFloat(HostViews.Length); // [2b, imageSize]
            Targets = backend.FromHost(Enumerable.Range(shard.FirstRow, batchSize).ToArray()); // [b]: global row i's zone is its own
            LatentNoise = backend.AllocateFloat(latentElements); // [b, dim]
            LatentsGrad = backend.AllocateFloat(latentElements); // [b, dim]
            AnchorsGrad = backend.AllocateFloat(2 * latentElements); // [2b, dim]: view 1 rows, then view 2 rows
            Beta = backend.AllocateFloat((long)config.Latent.LabelSteps * batchSize); // [labelSteps, b]
            FirstAnchors = new GatheredRows(backend, shard, config.Latent.Dim);
            SecondAnchors = new GatheredRows(backend, shard, config.Latent.Dim);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public BatchShard Shard { get; }

    /// <summary>Both views of this rank's rows [2b, imageSize] (host).</summary>
    public float[] HostViews { get; }

    /// <summary>Both views on the device [2b, imageSize].</summary>
    public FloatBuffer Views { get; }

    /// <summary>The rows' global indices, FirstRow..FirstRow+b-1 [b].</summary>
    public IntBuffer Targets { get; }

    /// <summary>Prior noise of the view-1 latent flow [b, dim].</summary>
    public FloatBuffer LatentNoise { get; }

    /// <summary>dLoss/dlatents [b, dim].</summary>
    public FloatBuffer LatentsGrad { get; }

    /// <summary>dLoss/d(this rank's anchors) [2b, dim]: view 1 rows, then view 2 rows.</summary>
    public FloatBuffer AnchorsGrad { get; }

    /// <summary>dLoss/dlogP of the view-2 assignment [labelSteps, b].</summary>
    public FloatBuffer Beta { get; }

    /// <summary>The view-1 anchors A1 of the global batch [B, dim] and their gradient.</summary>
    public GatheredRows FirstAnchors { get; }

    /// <summary>The view-2 anchors A2 of the global batch [B, dim] and their gradient.</summary>
    public GatheredRows SecondAnchors { get; }

    /// <summary>Also called by a constructor that failed part-way, so any buffer may still be null.</summary>
    public void Dispose()
    {
        SecondAnchors?.Dispose();
        FirstAnchors?.Dispose();
        Beta?.Dispose();
        AnchorsGrad?.Dispose();
        LatentsGrad?.Dispose();
        LatentNoise?.Dispose();
        Targets?.Dispose();
        Views?.Dispose();
    }
}
