using System.Diagnostics;
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
/// One finished epoch: mean losses over its applied steps run in this process (NaN when none was applied), the
/// steps of it skipped for a non-finite loss or gradient, test accuracy after it.
/// </summary>
public sealed record EpochResult(int Epoch, long Step, JointLosses MeanLosses, double TestAccuracy, double Seconds, int SkippedSteps);

/// <summary>How <see cref="JointTrainer.Run"/> ended; <see cref="SkippedSteps"/> counts the whole run's skipped steps, resumed ones included.</summary>
public sealed record TrainingResult(long Step, bool Completed, IReadOnlyList<EpochResult> Epochs, double? TestAccuracy, double WallSeconds, long SkippedSteps);

/// <summary>
/// The joint-task training loop: batches from <see cref="BatchSchedule"/> (epoch permutation keyed by the seed),
/// one <see cref="JointModel.Backward"/> per step, AdamW over three parameter groups (encoder, decoder, label
/// anchors) with clipping, warm-up and EMA, metrics.jsonl, checkpoints every <see cref="TrainingConfig.CheckpointEvery"/>
/// steps, at the end and on cancellation (after the current step). Because every random draw is keyed by
/// (seed, step) and the row in the batch, a resumed run repeats an uninterrupted one exactly.
/// Data-parallel (a collective of several ranks, docs/distributed.md): rank r trains on its contiguous slice of each
/// global batch (<see cref="BatchShard"/>), the gradients are summed over the ranks before clipping, so every rank
/// applies the same update, and rank 0 alone evaluates and writes metrics and checkpoints.
/// </summary>
public sealed class JointTrainer : IDisposable
{
    public const string CheckpointFileName = "checkpoint.safetensors";
    public const string MetricsFileName = "metrics.jsonl";

    /// <summary>The optimiser's parameter groups (encoder, decoder, label anchors); a checkpoint holds one step counter each.</summary>
    public static IReadOnlyList<string> ParameterGroups { get; } = ["encoder", "decoder", "label_anchors"];

    private readonly IBackend _backend;
    private readonly ImageDataset _train;
    private readonly ImageDataset? _test;
    private readonly BatchSchedule _schedule;
    private readonly AdamW _optimizer;
    private readonly Ema? _ema;
    private readonly BatchShard _shard;
    private readonly FloatBuffer[] _gradients;
    private int[] _permutation = [];
    private int _permutationEpoch = -1;

    // This rank's rows of a step's batch, reused by every step (the batch size is fixed by the config).
    private readonly ulong _augmentKey;
    private readonly float[] _hostImages; // [rows, imageSize]
    private readonly int[] _hostLabels; // [rows]
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
        if (train.Shape.Channels != config.ImageChannels || train.Shape.Height != config.ImageHeight
            || train.Shape.Width != config.ImageWidth || train.ClassCount > config.ClassCount)
        {
            throw new ArgumentException($"the training data ({train.Shape.Channels}x{train.Shape.Height}x{train.Shape.Width}, {train.ClassCount} classes) "
                + $"does not fit the config ({config.ImageChannels}x{config.ImageHeight}x{config.ImageWidth}, {config.ClassCount} classes).", nameof(train));
        }
        if (train.Count < config.BatchSize)
            throw new ArgumentException($"{train.Count} training images are fewer than one batch of {config.BatchSize}.", nameof(train));
        _backend = backend;
        _train = train;
        _test = test;
        Config = config;
        RunFolder = runFolder;
        _shard = BatchShard.Of(collective ?? SingleProcessCollective.Instance, config.BatchSize);
        if (IsWriter)
            IO.AtomicFile.RemoveAbandonedTemporaries(CheckpointPath);
        _schedule = new BatchSchedule(train.Count, config.BatchSize, config.Seed);
        Model = new JointModel(backend, config);
        ParameterGroup Group(string name, IEnumerable<Nn.Parameter> parameters, double learningRate) =>
            new(name, [.. parameters], new ParameterGroupOptions { LearningRate = learningRate, WeightDecay = config.WeightDecay });
        _optimizer = new AdamW(backend,
        [
            Group(ParameterGroups[0], Model.Encoder.Parameters, config.EncoderLearningRate),
            Group(ParameterGroups[1], Model.Decoder.Parameters, config.DecoderLearningRate),
            Group(ParameterGroups[2], [Model.LabelAnchors], config.LabelLearningRate),
        ]);
        _ema = config.EmaDecay > 0 ? new Ema(backend, [.. Model.Parameters], config.EmaDecay) : null;
        Training = new TrainingStep(backend, _optimizer, new GradientClipper(config.ClipNorm), new LearningRateSchedule(config.WarmupSteps, config.LearningRateDecay == LearningRateDecay.Cosine ? TotalSteps : 0), _ema);
        _augmentKey = Nn.Initialization.StreamKey(config.Seed, "stream.augment");
        _gradients = [.. Model.Parameters.Select(parameter => parameter.Grad)];
        _hostImages = new float[_shard.Rows * config.ImageSize];
        _hostLabels = new int[_shard.Rows];
        _images = backend.AllocateFloat(_hostImages.Length);
        _labels = backend.AllocateInt(_hostLabels.Length);
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

    public int StepsPerEpoch => _schedule.BatchesPerEpoch;

    public long TotalSteps => (long)Config.Epochs * StepsPerEpoch;

    public string MetricsPath => Path.Combine(RunFolder, MetricsFileName);

    /// <summary>
    /// Continues from a checkpoint written by a run with a matching config (epochs may differ), after trimming
    /// metrics.jsonl to the checkpoint's step (<see cref="MetricsRepair.TrimToStep"/>): a run that crashed past its
    /// last checkpoint would otherwise log the repeated steps twice.
    /// </summary>
    public MetricsRepairResult Resume(CheckpointInfo checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (Config.ResumeMismatch(checkpoint.Config) is string mismatch)
            throw new IO.SafetensorsFormatException(checkpoint.Path, $"cannot resume: {mismatch}.");
        if (checkpoint.WorldSize != WorldSize)
        {
            throw new IO.SafetensorsFormatException(checkpoint.Path,
                $"cannot resume: the checkpoint was written by a run of {checkpoint.WorldSize} rank(s) and this run has {WorldSize}; resume with "
                + (checkpoint.WorldSize == 1 ? "no mpirun" : $"mpirun -n {checkpoint.WorldSize}") + ", or train a new run.");
        }
        if (checkpoint.Step > TotalSteps)
        {
            throw new IO.SafetensorsFormatException(checkpoint.Path,
                $"cannot resume: the checkpoint is at step {checkpoint.Step}, past this run's last step {TotalSteps} ({Config.Epochs} epoch(s) of {StepsPerEpoch} steps); raise the epochs.");
        }
        Checkpoint.LoadModel(checkpoint, Model);
        Checkpoint.LoadTraining(checkpoint, Training);
        var repair = IsWriter ? MetricsRepair.TrimToStep(MetricsPath, checkpoint.Step) : default;
        Step = checkpoint.Step;
        return repair;
    }

    /// <summary>Saves the checkpoint on rank 0 (every rank holds the same parameters and optimiser state).</summary>
    public void SaveCheckpoint()
    {
        if (IsWriter)
            Checkpoint.Save(CheckpointPath, Model, Training, Step, WorldSize);
    }

    /// <summary>Runs step <see cref="Step"/> (zero gradients, joint backward, optimiser step) and advances.</summary>
    public (JointLosses Losses, TrainingStepResult Result) TrainStep()
    {
        int epoch = (int)(Step / StepsPerEpoch), index = (int)(Step % StepsPerEpoch), batchSize = Config.BatchSize;
        if (epoch != _permutationEpoch)
        {
            _permutation = BatchSchedule.Permutation(_train.Count, Config.Seed, epoch);
            _permutationEpoch = epoch;
        }
        // Gather and the uploads overwrite this rank's rows (an upload has read its span when it returns).
        _train.Gather(_permutation.AsSpan(index * batchSize + _shard.FirstRow, _shard.Rows), _hostImages, _hostLabels);
        Config.Augmentation.Apply(_hostImages, _shard.Rows, _train.Shape, _augmentKey, checked((ulong)Step * (ulong)batchSize + (ulong)_shard.FirstRow));
        _backend.Upload(_hostImages, _images);
        _backend.Upload(_hostLabels, _labels);
        _optimizer.ZeroGradients();
        Model.PhaseTimer?.Mark(PhaseNames.Data);
        var losses = Model.Backward(_images, _labels, _hostLabels, Step, _shard);
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

    /// <summary>
    /// Trains until <see cref="TotalSteps"/> or cancellation (checked after each step: the step finishes, a
    /// checkpoint is saved and the result says Completed = false).
    /// </summary>
    public TrainingResult Run(CancellationToken cancellation, Action<TrainingProgress>? onProgress = null, Action<EpochResult>? onEpoch = null)
    {
        var wall = Stopwatch.StartNew();
        var epochs = new List<EpochResult>();
        double? accuracy = null;
        long startStep = Step;
        using var metrics = IsWriter ? new MetricsWriter(MetricsPath) : null;
        var epochClock = Stopwatch.StartNew();
        double rfSum = 0, labelSum = 0;
        int epochSteps = 0, epochSkipped = 0;
        while (Step < TotalSteps)
        {
            var stepClock = Stopwatch.StartNew();
            var (losses, result) = TrainStep();
            // A skipped step's loss is not finite: it would turn the epoch's mean into NaN.
            if (result.Applied)
            {
                rfSum += losses.RectifiedFlow;
                labelSum += losses.Label;
                epochSteps++;
            }
            else
            {
                epochSkipped++;
            }
            double seconds = stepClock.Elapsed.TotalSeconds;
            double perStep = wall.Elapsed.TotalSeconds / (Step - startStep);
            var progress = new TrainingProgress(Step, TotalSteps, (int)((Step - 1) / StepsPerEpoch), losses, result.GradientNorm,
                result.LearningRateFactor, result.Applied, Config.BatchSize / Math.Max(seconds, 1e-9),
                TimeSpan.FromSeconds(perStep * (TotalSteps - Step)), Step % Config.LogEvery == 0 || Step == TotalSteps, Training.SkippedSteps);
            if (progress.IsLogStep)
                metrics?.Step(progress);
            onProgress?.Invoke(progress);

            if (Step % StepsPerEpoch == 0)
            {
                accuracy = Evaluate();
                var epochResult = new EpochResult((int)(Step / StepsPerEpoch) - 1, Step,
                    new JointLosses(rfSum / epochSteps, labelSum / epochSteps, Config.RectifiedFlowWeight, Config.LabelWeight), accuracy.Value,
                    epochClock.Elapsed.TotalSeconds, epochSkipped);
                epochs.Add(epochResult);
                metrics?.Epoch(epochResult);
                onEpoch?.Invoke(epochResult);
                rfSum = labelSum = 0;
                epochSteps = epochSkipped = 0;
                epochClock.Restart();
            }
            if (StopRequested(cancellation))
            {
                SaveCheckpoint();
                return new TrainingResult(Step, false, epochs, accuracy, wall.Elapsed.TotalSeconds, Training.SkippedSteps);
            }
            if (Config.CheckpointEvery > 0 && Step % Config.CheckpointEvery == 0)
                SaveCheckpoint();
        }
        accuracy ??= Evaluate();
        SaveCheckpoint();
        return new TrainingResult(Step, true, epochs, accuracy, wall.Elapsed.TotalSeconds, Training.SkippedSteps);
    }

    /// <summary>Cancellation on any rank stops every rank after the same step (one rank stopping alone would leave the others waiting).</summary>
    private bool StopRequested(CancellationToken cancellation)
    {
        if (WorldSize == 1)
            return cancellation.IsCancellationRequested;
        Span<int> requests = [cancellation.IsCancellationRequested ? 1 : 0];
        _shard.Collective.AllReduceSum(requests);
        return requests[0] > 0;
    }

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
