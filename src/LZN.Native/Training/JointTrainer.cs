using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Distributed;
using LZN.Native.Optim;

namespace LZN.Native.Training;

/// <summary>
/// Reported after every training step (<see cref="Step"/> = steps completed so far). <see cref="Applied"/> is false for
/// a step skipped because its loss or gradient was not finite; <see cref="SkippedSteps"/> counts those of the whole run.
/// </summary>
public sealed record TrainingProgress(long Step, long TotalSteps, int Epoch, JointLosses Losses, double GradientNorm,
    double LearningRateFactor, bool Applied, double ItemsPerSecond, TimeSpan Eta, bool IsLogStep, long SkippedSteps);

/// <summary>
/// One finished epoch: mean losses over its applied steps (NaN when none was applied), those before a resume included
/// when the checkpoint carried the epoch's sums (<see cref="EpochSums"/>), the steps of it skipped for a non-finite loss
/// or gradient, test accuracy after it.
/// </summary>
public sealed record EpochResult(int Epoch, long Step, JointLosses MeanLosses, double TestAccuracy, double Seconds, int SkippedSteps);

/// <summary>How <see cref="JointTrainer.Run"/> ended; <see cref="SkippedSteps"/> counts the whole run's skipped steps, resumed ones included.</summary>
public sealed record TrainingResult(long Step, bool Completed, IReadOnlyList<EpochResult> Epochs, double? TestAccuracy, double WallSeconds, long SkippedSteps);

/// <summary>
/// The joint-task trainer: batches from <see cref="TrainingBatches"/> (epoch permutation keyed by the seed),
/// one <see cref="JointModel.Backward"/> per step, AdamW over three parameter groups (encoder, decoder, label
/// anchors) with clipping, warm-up and EMA, metrics.jsonl, checkpoints every <see cref="ScheduleConfig.CheckpointEvery"/>
/// steps, at the end and on cancellation (after the current step). Because every random draw is keyed by
/// (seed, step) and the row in the batch, a resumed run repeats an uninterrupted one exactly.
/// Data-parallel (a collective of several ranks, docs/distributed.md): rank r trains on its contiguous slice of each
/// global batch (<see cref="BatchShard"/>), the gradients are summed over the ranks before clipping, so every rank
/// applies the same update, and rank 0 alone evaluates and writes metrics and checkpoints.
/// </summary>
public sealed class JointTrainer : ITaskTrainer
{
    public const string CheckpointFileName = "checkpoint.safetensors";
    public const string MetricsFileName = "metrics.jsonl";

    /// <summary>The optimiser's parameter groups (encoder, decoder, label anchors); a checkpoint holds one step counter each.</summary>
    public static IReadOnlyList<string> ParameterGroups { get; } = ["encoder", "decoder", "label_anchors"];

    private readonly IBackend _backend;
    private readonly ImageDataset _train;
    private readonly ImageDataset? _test;
    private readonly TrainingBatches _batches;
    private readonly AdamW _optimizer;
    private readonly Ema? _ema;
    private readonly BatchShard _shard;
    private readonly FloatBuffer[] _gradients;

    // This rank's rows of a step's batch, reused by every step (the batch size is fixed by the config).
    private readonly ulong _augmentKey;
    private readonly FloatBuffer _images; // [rows, imageSize]
    private readonly IntBuffer _labels; // [rows]
    private readonly FloatBuffer _loss; // [1]

    /// <param name="collective">The ranks of a data-parallel run (null: one process); the batch size stays the global batch.</param>
    public JointTrainer(IBackend backend, TrainingConfig config, ImageDataset train, ImageDataset? test, string runFolder, ICollective? collective = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentException.ThrowIfNullOrEmpty(runFolder);
        config.Validate();
        _shard = BatchShard.Of(collective ?? SingleProcessCollective.Instance, config.Schedule.BatchSize);
        _batches = new TrainingBatches(train, config, _shard.FirstRow, _shard.Rows);
        _backend = backend;
        _train = train;
        _test = test;
        Config = config;
        RunFolder = runFolder;
        if (IsWriter)
            IO.AtomicFile.RemoveAbandonedTemporaries(CheckpointPath);
        Model = new JointModel(backend, config);
        ParameterGroup Group(string name, IEnumerable<Nn.Parameter> parameters, double learningRate, long? frozenAfter) =>
            new(name, [.. parameters], new ParameterGroupOptions { LearningRate = learningRate, WeightDecay = config.Optimizer.WeightDecay, FrozenAfter = frozenAfter });
        _optimizer = new AdamW(backend,
        [
            Group(ParameterGroups[0], Model.Encoder.Parameters, config.Optimizer.EncoderLearningRate, config.Optimizer.FreezeEncoderAfter),
            Group(ParameterGroups[1], Model.Decoder.Parameters, config.Optimizer.DecoderLearningRate, config.Optimizer.FreezeDecoderAfter),
            Group(ParameterGroups[2], [Model.LabelAnchors], config.Optimizer.LabelLearningRate, config.Optimizer.FreezeLabelsAfter),
        ]);
        _ema = config.Optimizer.EmaDecay > 0 ? new Ema(backend, [.. Model.Parameters], config.Optimizer.EmaDecay) : null;
        Training = new TrainingStep(backend, _optimizer, new GradientClipper(config.Optimizer.ClipNorm), new LearningRateSchedule(config.Optimizer.WarmupSteps, config.Optimizer.LearningRateDecay == LearningRateDecay.Cosine ? TotalSteps : 0), _ema);
        _augmentKey = Nn.Initialization.StreamKey(config.Seed, "stream.augment");
        _gradients = [.. Model.Parameters.Select(parameter => parameter.Grad)];
        _images = backend.AllocateFloat(_batches.Images.Length);
        _labels = backend.AllocateInt(_batches.Labels.Length);
        _loss = backend.AllocateFloat(1);
    }

    public TrainingConfig Config { get; }

    public JointModel Model { get; }

    public TrainingStep Training { get; }

    public string RunFolder { get; }

    /// <summary>The ranks training together (1 without a launcher).</summary>
    public int WorldSize => _shard.Collective.WorldSize;

    /// <summary>Rank 0, the one that evaluates and writes metrics.jsonl and checkpoints.</summary>
    public bool IsWriter => _shard.Collective.Rank == 0;

    public string CheckpointPath => Path.Combine(RunFolder, CheckpointFileName);

    /// <summary>Completed steps (the next step's index).</summary>
    public long Step { get; private set; }

    public EpochSums EpochSums { get; set; } = EpochSums.Zero;

    public int StepsPerEpoch => _batches.StepsPerEpoch;

    public long TotalSteps => (long)Config.Schedule.Epochs * StepsPerEpoch;

    public string MetricsPath => Path.Combine(RunFolder, MetricsFileName);

    /// <summary>Continues from a checkpoint written by a run with a matching config (<see cref="TrainingLoop.Resume"/>).</summary>
    public MetricsRepairResult Resume(CheckpointInfo checkpoint)
    {
        (Step, var repair) = TrainingLoop.Resume(this, checkpoint);
        return repair;
    }

    public IEnumerable<Nn.Parameter> Parameters => Model.Parameters;

    /// <summary>Saves the checkpoint on rank 0 (every rank holds the same parameters and optimiser state).</summary>
    public void SaveCheckpoint()
    {
        if (IsWriter)
            Checkpoint.Save(CheckpointPath, Model, Training, Step, WorldSize, TrainingLoop.SavedEpochSums(this));
    }

    /// <summary>Runs step <see cref="Step"/> (zero gradients, joint backward, optimiser step) and advances.</summary>
    public StepPhaseTimer? PhaseTimer
    {
        get => Model.PhaseTimer;
        set => Model.PhaseTimer = value;
    }

    public (JointLosses Losses, TrainingStepResult Result) TrainStep()
    {
        int batchSize = Config.Schedule.BatchSize;
        // Gather and the uploads overwrite this rank's rows (an upload has read its span when it returns).
        _batches.Gather(Step);
        Config.Augmentation.Images.Apply(_batches.Images, _shard.Rows, _train.Shape, _augmentKey, checked((ulong)Step * (ulong)batchSize + (ulong)_shard.FirstRow));
        _backend.Upload(_batches.Images, _images);
        _backend.Upload(_batches.Labels, _labels);
        _optimizer.ZeroGradients();
        Model.PhaseTimer?.Mark(PhaseNames.Data);
        var losses = Model.Backward(_images, _labels, _batches.Labels, Step, _shard);
        // Summed before the norm is taken, so clipping sees the global norm and every rank applies the same update
        // (a non-finite gradient on any rank makes the sum, and so every rank's skip decision, non-finite).
        _shard.Collective.AllReduceSum(_gradients);
        _backend.Upload([(float)losses.Total], _loss);
        var result = Training.Apply(_loss);
        Model.PhaseTimer?.Mark(PhaseNames.Optimizer);
        Step++;
        return (losses, result);
    }

    /// <summary>
    /// Test accuracy of the current parameters on the test split (rank 0 alone evaluates in a data-parallel run: every
    /// rank holds the same parameters); NaN (written as null) when there is none, on the other ranks, or when the
    /// parameters overflow the flows (a run whose steps keep being skipped), which <see cref="NonFiniteEvaluations"/> counts.
    /// </summary>
    public double Evaluate()
    {
        if (_test is null || !IsWriter)
            return double.NaN;
        try
        {
            return Model.Accuracy(_test.Images, _test.Labels);
        }
        catch (NonFiniteModelException)
        {
            NonFiniteEvaluations++;
            return double.NaN;
        }
    }

    /// <summary>Evaluations whose model outputs were not finite (reported as NaN accuracy).</summary>
    public int NonFiniteEvaluations { get; private set; }

    /// <summary>Trains until <see cref="TotalSteps"/> or cancellation (<see cref="TrainingLoop.Run"/>).</summary>
    public TrainingResult Run(CancellationToken cancellation, Action<TrainingProgress>? onProgress = null, Action<EpochResult>? onEpoch = null) =>
        TrainingLoop.Run(this, cancellation, onProgress, onEpoch);

    public bool StopRequested(CancellationToken cancellation) => _shard.StopRequested(cancellation);

    public void Dispose()
    {
        _loss.Dispose();
        _labels.Dispose();
        _images.Dispose();
        _ema?.Dispose();
        _optimizer.Dispose();
        Model.Dispose();
    }
}
