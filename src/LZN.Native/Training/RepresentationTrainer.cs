using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Metrics;
using LZN.Native.Optim;

namespace LZN.Native.Training;

/// <summary>
/// The representation task's trainer: batches from <see cref="TrainingBatches"/>, one <see cref="RepresentationModel.Backward"/>
/// per step, Adam over one parameter group (backbone and head, nothing frozen) with clipping, warm-up and EMA, and the
/// shared loop, checkpoints and metrics of <see cref="TrainingLoop"/>. The zone loss is reported as the label term of
/// <see cref="JointLosses"/> (the row's own index is its label; there is no rectified-flow term). The end-of-epoch
/// score is the k-NN accuracy (k = 20, cosine) of the test split's features against those of the first
/// <see cref="MonitorBankSize"/> training images.
/// </summary>
public sealed class RepresentationTrainer : ITaskTrainer
{
    /// <summary>The optimiser's one parameter group; a checkpoint holds its step counter.</summary>
    public static IReadOnlyList<string> ParameterGroups { get; } = ["encoder"];

    /// <summary>Training images whose features the end-of-epoch k-NN compares the test split with (all of them would double an epoch's evaluation).</summary>
    public const int MonitorBankSize = 10_000;

    private readonly IBackend _backend;
    private readonly ImageDataset _train;
    private readonly ImageDataset? _test;
    private readonly TrainingBatches _batches;
    private readonly AdamW _optimizer;
    private readonly Ema? _ema;
    private readonly FloatBuffer _loss; // [1]

    public RepresentationTrainer(IBackend backend, TrainingConfig config, ImageDataset train, ImageDataset? test, string runFolder)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentException.ThrowIfNullOrEmpty(runFolder);
        _batches = new TrainingBatches(train, config);
        _backend = backend;
        _train = train;
        _test = test;
        Config = config;
        RunFolder = runFolder;
        IO.AtomicFile.RemoveAbandonedTemporaries(CheckpointPath);
        Model = new RepresentationModel(backend, config);
        _optimizer = new AdamW(backend,
            [new ParameterGroup(ParameterGroups[0], [.. Model.Parameters], new ParameterGroupOptions
            {
                LearningRate = config.EncoderLearningRate, WeightDecay = config.WeightDecay, FrozenAfter = config.FreezeEncoderAfter,
            })]);
        _ema = config.EmaDecay > 0 ? new Ema(backend, [.. Model.Parameters], config.EmaDecay) : null;
        var schedule = new LearningRateSchedule(config.WarmupSteps, config.LearningRateDecay == LearningRateDecay.Cosine ? TotalSteps : 0);
        Training = new TrainingStep(backend, _optimizer, new GradientClipper(config.ClipNorm), schedule, _ema);
        _loss = backend.AllocateFloat(1);
    }

    public TrainingConfig Config { get; }

    public RepresentationModel Model { get; }

    public TrainingStep Training { get; }

    public string RunFolder { get; }

    public string CheckpointPath => Path.Combine(RunFolder, JointTrainer.CheckpointFileName);

    public string MetricsPath => Path.Combine(RunFolder, JointTrainer.MetricsFileName);

    public long Step { get; private set; }

    public int StepsPerEpoch => _batches.StepsPerEpoch;

    public long TotalSteps => (long)Config.Epochs * StepsPerEpoch;

    public IEnumerable<Nn.Parameter> Parameters => Model.Parameters;

    public int NonFiniteEvaluations { get; private set; }

    public MetricsRepairResult Resume(CheckpointInfo checkpoint)
    {
        (Step, var repair) = TrainingLoop.Resume(this, checkpoint);
        return repair;
    }

    public void SaveCheckpoint() => Checkpoint.Save(CheckpointPath, Config, Model.Parameters, Training, Step);

    /// <summary>Runs step <see cref="Step"/> (zero gradients, two views, zone loss backward, optimiser step) and advances.</summary>
    public (JointLosses Losses, TrainingStepResult Result) TrainStep()
    {
        // The labels are gathered with the images and unused: the task sees no labels.
        _batches.Gather(Step);
        _optimizer.ZeroGradients();
        double loss = Model.Backward(_batches.Images, Step);
        _backend.Upload([(float)loss], _loss);
        var result = Training.Apply(_loss);
        Step++;
        return (new JointLosses(0, loss, RectifiedFlowWeight: 0, LabelWeight: 1), result);
    }

    /// <summary>
    /// k-NN accuracy of the test split against the first <see cref="MonitorBankSize"/> training images, in the backbone's
    /// features; NaN without a test split, or when the features overflow (counted in <see cref="NonFiniteEvaluations"/>).
    /// </summary>
    public double Evaluate()
    {
        if (_test is null || _test.Count == 0)
            return double.NaN;
        try
        {
            var bank = _train.Take(Math.Min(MonitorBankSize, _train.Count));
            return NearestNeighbours.Accuracy(_backend, Model.Features(bank.Images, bank.Count), bank.Labels,
                Model.Features(_test.Images, _test.Count), _test.Labels, Config.FeatureDim, Math.Max(_train.ClassCount, _test.ClassCount),
                Math.Min(NearestNeighbours.DefaultK, bank.Count));
        }
        catch (NonFiniteModelException)
        {
            NonFiniteEvaluations++;
            return double.NaN;
        }
    }

    public TrainingResult Run(CancellationToken cancellation, Action<TrainingProgress>? onProgress = null, Action<EpochResult>? onEpoch = null) =>
        TrainingLoop.Run(this, cancellation, onProgress, onEpoch);

    public void Dispose()
    {
        _loss.Dispose();
        _ema?.Dispose();
        _optimizer.Dispose();
        Model.Dispose();
    }
}
