using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Distributed;
using LZN.Native.Metrics;
using LZN.Native.Optim;

namespace LZN.Native.Training;

/// <summary>
/// The representation task's trainer (<see cref="TaskTrainer"/>): one <see cref="RepresentationModel.Backward"/> per step,
/// Adam over one parameter group (backbone and head, nothing frozen unless <see cref="OptimizerConfig.FreezeEncoderAfter"/>).
/// The zone loss is reported as the label term of <see cref="JointLosses"/> (the row's own index is its label; there is
/// no rectified-flow term). The end-of-epoch score is the k-NN accuracy (k = 20, cosine) of the test split's features
/// against those of the first <see cref="MonitorBankSize"/> training images.
/// </summary>
public sealed class RepresentationTrainer : TaskTrainer
{
    /// <summary>The optimiser's one parameter group; a checkpoint holds its step counter.</summary>
    public static IReadOnlyList<string> ParameterGroups { get; } = ["encoder"];

    /// <summary>Training images whose features the end-of-epoch k-NN compares the test split with (all of them would double an epoch's evaluation).</summary>
    public const int MonitorBankSize = 10_000;

    /// <param name="collective">The ranks of a data-parallel run (null: one process).</param>
    public RepresentationTrainer(IBackend backend, TrainingConfig config, ImageDataset train, ImageDataset? test, string runFolder, ICollective? collective = null)
        : this(new RepresentationModel(backend, config), backend, config, train, test, runFolder, collective)
    {
    }

    private RepresentationTrainer(RepresentationModel model, IBackend backend, TrainingConfig config, ImageDataset train, ImageDataset? test, string runFolder, ICollective? collective)
        : base(backend, config, train, test, runFolder,
        [
            new ParameterGroup(ParameterGroups[0], [.. model.Parameters], new ParameterGroupOptions
            {
                LearningRate = config.Optimizer.EncoderLearningRate, WeightDecay = config.Optimizer.WeightDecay, FrozenAfter = config.Optimizer.FreezeEncoderAfter,
            }),
        ], collective)
    {
        Model = model;
    }

    public RepresentationModel Model { get; }

    public override IEnumerable<Nn.Parameter> Parameters => Model.Parameters;

    public override StepPhaseTimer? PhaseTimer
    {
        get => Model.PhaseTimer;
        set => Model.PhaseTimer = value;
    }

    /// <summary>The labels are gathered with the images and unused: the task sees no labels.</summary>
    protected override JointLosses Backward(float[] images, int[] labels, long step) =>
        new(0, Model.Backward(images, step, Shard), RectifiedFlowWeight: 0, LabelWeight: 1);

    /// <summary>
    /// k-NN accuracy of the test split against the first <see cref="MonitorBankSize"/> training images, in the backbone's
    /// features; NaN without a test split, on ranks other than 0 (every rank holds the same parameters), or when the features overflow (counted in <see cref="TaskTrainer.NonFiniteEvaluations"/>).
    /// </summary>
    public override double Evaluate()
    {
        if (TestSplit is not { Count: > 0 } test || !IsWriter)
            return double.NaN;
        try
        {
            var bank = TrainSplit.Take(Math.Min(MonitorBankSize, TrainSplit.Count));
            return NearestNeighbours.Accuracy(Backend, Model.Features(bank.Images, bank.Count), bank.Labels,
                Model.Features(test.Images, test.Count), test.Labels, Model.FeatureWidth, Math.Max(TrainSplit.ClassCount, test.ClassCount),
                Math.Min(NearestNeighbours.DefaultK, bank.Count));
        }
        catch (NonFiniteModelException)
        {
            NonFiniteEvaluations++;
            return double.NaN;
        }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        Model.Dispose();
    }
}
