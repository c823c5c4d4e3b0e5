using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Distributed;
using LZN.Native.Optim;

namespace LZN.Native.Training;

/// <summary>
/// The trainer of a task whose step is one host batch in, one loss out (representation, generation): batches from
/// <see cref="TrainingBatches"/>, the subclass's forward and backward, Adam over the given parameter groups with clipping,
/// warm-up and EMA, and the shared loop, checkpoints and metrics of <see cref="TrainingLoop"/>. Every random draw of
/// a step is keyed by (seed, step, global row), so a resumed run repeats an uninterrupted one exactly, and a data-parallel
/// run (docs/distributed.md) trains the one-process model: each rank gathers its slice of the global batch
/// (<see cref="Shard"/>), the subclass gathers what its flows need of the other ranks' rows, the gradients are summed over
/// the ranks before clipping, and rank 0 alone evaluates and writes.
/// </summary>
public abstract class TaskTrainer : ITaskTrainer
{
    private readonly TrainingBatches _batches;
    private readonly AdamW _optimizer;
    private readonly Ema? _ema;
    private readonly FloatBuffer _loss; // [1]
    private readonly FloatBuffer[] _gradients;

    /// <param name="collective">The ranks of a data-parallel run (null: one process); the batch size stays the global batch.</param>
    protected TaskTrainer(IBackend backend, TrainingConfig config, ImageDataset train, ImageDataset? test, string runFolder, IReadOnlyList<ParameterGroup> groups,
        ICollective? collective)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentException.ThrowIfNullOrEmpty(runFolder);
        Shard = BatchShard.Of(collective ?? SingleProcessCollective.Instance, config.Schedule.BatchSize);
        _batches = new TrainingBatches(train, config, Shard.FirstRow, Shard.Rows);
        Backend = backend;
        TrainSplit = train;
        TestSplit = test;
        Config = config;
        RunFolder = runFolder;
        if (IsWriter)
            IO.AtomicFile.RemoveAbandonedTemporaries(CheckpointPath);
        _optimizer = new AdamW(backend, groups);
        _ema = config.Optimizer.EmaDecay > 0 ? new Ema(backend, [.. groups.SelectMany(group => group.Parameters)], config.Optimizer.EmaDecay) : null;
        var schedule = new LearningRateSchedule(config.Optimizer.WarmupSteps, config.Optimizer.LearningRateDecay == LearningRateDecay.Cosine ? TotalSteps : 0);
        Training = new TrainingStep(backend, _optimizer, new GradientClipper(config.Optimizer.ClipNorm), schedule, _ema);
        _gradients = [.. groups.SelectMany(group => group.Parameters).Select(parameter => parameter.Grad)];
        _loss = backend.AllocateFloat(1); // [1]
    }

    /// <summary>This rank's rows of every global batch.</summary>
    protected BatchShard Shard { get; }

    protected IBackend Backend { get; }

    protected ImageDataset TrainSplit { get; }

    protected ImageDataset? TestSplit { get; }

    public TrainingConfig Config { get; }

    public TrainingStep Training { get; }

    public string RunFolder { get; }

    public string CheckpointPath => Path.Combine(RunFolder, JointTrainer.CheckpointFileName);

    public string MetricsPath => Path.Combine(RunFolder, JointTrainer.MetricsFileName);

    public long Step { get; private set; }

    public EpochSums EpochSums { get; set; } = EpochSums.Zero;

    public int WorldSize => Shard.Collective.WorldSize;

    /// <summary>Rank 0, the one that evaluates and writes metrics.jsonl and checkpoints.</summary>
    public bool IsWriter => Shard.Collective.Rank == 0;

    public bool StopRequested(CancellationToken cancellation) => Shard.StopRequested(cancellation);

    public int StepsPerEpoch => _batches.StepsPerEpoch;

    public long TotalSteps => (long)Config.Schedule.Epochs * StepsPerEpoch;

    public abstract IEnumerable<Nn.Parameter> Parameters { get; }

    public int NonFiniteEvaluations { get; protected set; }

    public MetricsRepairResult Resume(CheckpointInfo checkpoint)
    {
        (Step, var repair) = TrainingLoop.Resume(this, checkpoint);
        return repair;
    }

    /// <summary>Saves the checkpoint on rank 0 (every rank holds the same parameters and optimiser state).</summary>
    public void SaveCheckpoint()
    {
        if (IsWriter)
            Checkpoint.Save(CheckpointPath, Config, Parameters, Training, Step, WorldSize, TrainingLoop.SavedEpochSums(this));
    }

    /// <summary>Runs step <see cref="Step"/> (gather, zero gradients, the task's backward, gradients summed over the ranks, optimiser step) and advances.</summary>
    /// <summary>The subclass passes it on to its model, which marks the phases of its backward.</summary>
    public abstract StepPhaseTimer? PhaseTimer { get; set; }

    public (JointLosses Losses, TrainingStepResult Result) TrainStep()
    {
        _batches.Gather(Step);
        _optimizer.ZeroGradients();
        PhaseTimer?.Mark(PhaseNames.Gather);
        var losses = Backward(_batches.Images, _batches.Labels, Step);
        // Summed before the norm is taken, so clipping sees the global norm and every rank applies the same update.
        Shard.Collective.AllReduceSum(_gradients);
        Backend.Upload([(float)losses.Total], _loss);
        var result = Training.Apply(_loss);
        PhaseTimer?.Mark(PhaseNames.Optimizer);
        Step++;
        return (losses, result);
    }

    /// <summary>
    /// The task's forward and backward of step <paramref name="step"/> on this rank's rows of the batch [b_r, ImageSize]
    /// (labels [b_r]): this rank's gradients (weighted by b_r / B) accumulate, the global batch's loss terms come back.
    /// </summary>
    protected abstract JointLosses Backward(float[] images, int[] labels, long step);

    public abstract double Evaluate();

    public TrainingResult Run(CancellationToken cancellation, Action<TrainingProgress>? onProgress = null, Action<EpochResult>? onEpoch = null) =>
        TrainingLoop.Run(this, cancellation, onProgress, onEpoch);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Subclasses dispose their model, then call this.</summary>
    protected virtual void Dispose(bool disposing)
    {
        _loss.Dispose();
        _ema?.Dispose();
        _optimizer.Dispose();
    }
}
