using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Optim;

namespace LZN.Native.Training;

/// <summary>
/// The trainer of a task whose step is one host batch in, one loss out (representation, generation): batches from
/// <see cref="TrainingBatches"/>, the subclass's forward and backward, Adam over the given parameter groups with clipping,
/// warm-up and EMA, and the shared loop, checkpoints and metrics of <see cref="TrainingLoop"/>. Every random draw of
/// a step is keyed by (seed, step, global row), so a resumed run repeats an uninterrupted one exactly.
/// </summary>
public abstract class TaskTrainer : ITaskTrainer
{
    private readonly TrainingBatches _batches;
    private readonly AdamW _optimizer;
    private readonly Ema? _ema;
    private readonly FloatBuffer _loss; // [1]

    protected TaskTrainer(IBackend backend, TrainingConfig config, ImageDataset train, ImageDataset? test, string runFolder, IReadOnlyList<ParameterGroup> groups)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentException.ThrowIfNullOrEmpty(runFolder);
        _batches = new TrainingBatches(train, config);
        Backend = backend;
        TrainSplit = train;
        TestSplit = test;
        Config = config;
        RunFolder = runFolder;
        IO.AtomicFile.RemoveAbandonedTemporaries(CheckpointPath);
        _optimizer = new AdamW(backend, groups);
        _ema = config.Optimizer.EmaDecay > 0 ? new Ema(backend, [.. groups.SelectMany(group => group.Parameters)], config.Optimizer.EmaDecay) : null;
        var schedule = new LearningRateSchedule(config.Optimizer.WarmupSteps, config.Optimizer.LearningRateDecay == LearningRateDecay.Cosine ? TotalSteps : 0);
        Training = new TrainingStep(backend, _optimizer, new GradientClipper(config.Optimizer.ClipNorm), schedule, _ema);
        _loss = backend.AllocateFloat(1);
    }

    protected IBackend Backend { get; }

    protected ImageDataset TrainSplit { get; }

    protected ImageDataset? TestSplit { get; }

    public TrainingConfig Config { get; }

    public TrainingStep Training { get; }

    public string RunFolder { get; }

    public string CheckpointPath => Path.Combine(RunFolder, JointTrainer.CheckpointFileName);

    public string MetricsPath => Path.Combine(RunFolder, JointTrainer.MetricsFileName);

    public long Step { get; private set; }

    /// <summary>One process: these tasks do not train data-parallel yet (the CLI refuses them under mpirun).</summary>
    public int WorldSize => 1;

    public bool IsWriter => true;

    public bool StopRequested(CancellationToken cancellation) => cancellation.IsCancellationRequested;

    public int StepsPerEpoch => _batches.StepsPerEpoch;

    public long TotalSteps => (long)Config.Schedule.Epochs * StepsPerEpoch;

    public abstract IEnumerable<Nn.Parameter> Parameters { get; }

    public int NonFiniteEvaluations { get; protected set; }

    public MetricsRepairResult Resume(CheckpointInfo checkpoint)
    {
        (Step, var repair) = TrainingLoop.Resume(this, checkpoint);
        return repair;
    }

    public void SaveCheckpoint() => Checkpoint.Save(CheckpointPath, Config, Parameters, Training, Step);

    /// <summary>Runs step <see cref="Step"/> (gather, zero gradients, the task's backward, optimiser step) and advances.</summary>
    public (JointLosses Losses, TrainingStepResult Result) TrainStep()
    {
        _batches.Gather(Step);
        _optimizer.ZeroGradients();
        var losses = Backward(_batches.Images, _batches.Labels, Step);
        Backend.Upload([(float)losses.Total], _loss);
        var result = Training.Apply(_loss);
        Step++;
        return (losses, result);
    }

    /// <summary>The task's forward and backward of step <paramref name="step"/> on a host batch [B, ImageSize] (labels [B]): gradients accumulate, the loss terms come back.</summary>
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
