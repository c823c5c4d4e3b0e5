using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Distributed;
using LZN.Native.Optim;

namespace LZN.Native.Training;

/// <summary>
/// The generation task's trainer (<see cref="TaskTrainer"/>): one <see cref="GenerationModel.Backward"/> per step, Adam over
/// two parameter groups (encoder, decoder). The rectified-flow loss is the RF term of <see cref="JointLosses"/> (no label
/// term). There is no end-of-epoch score (NaN): sample quality and reconstruction are `lzn eval --fd --reconstruction`.
/// </summary>
public sealed class GenerationTrainer : TaskTrainer
{
    /// <summary>The optimiser's parameter groups; a checkpoint holds one step counter each.</summary>
    public static IReadOnlyList<string> ParameterGroups { get; } = ["encoder", "decoder"];

    /// <param name="collective">The ranks of a data-parallel run (null: one process).</param>
    public GenerationTrainer(IBackend backend, TrainingConfig config, ImageDataset train, ImageDataset? test, string runFolder, ICollective? collective = null)
        : this(new GenerationModel(backend, config), backend, config, train, test, runFolder, collective)
    {
    }

    private GenerationTrainer(GenerationModel model, IBackend backend, TrainingConfig config, ImageDataset train, ImageDataset? test, string runFolder, ICollective? collective)
        : base(backend, config, train, test, runFolder,
        [
            new ParameterGroup(ParameterGroups[0], [.. model.Encoder.Parameters], new ParameterGroupOptions
            {
                LearningRate = config.Optimizer.EncoderLearningRate, WeightDecay = config.Optimizer.WeightDecay, FrozenAfter = config.Optimizer.FreezeEncoderAfter,
            }),
            new ParameterGroup(ParameterGroups[1], [.. model.Decoder.Parameters], new ParameterGroupOptions
            {
                LearningRate = config.Optimizer.DecoderLearningRate, WeightDecay = config.Optimizer.WeightDecay, FrozenAfter = config.Optimizer.FreezeDecoderAfter,
            }),
        ], collective)
    {
        Model = model;
    }

    public GenerationModel Model { get; }

    public override IEnumerable<Nn.Parameter> Parameters => Model.Parameters;

    public override StepPhaseTimer? PhaseTimer
    {
        get => Model.PhaseTimer;
        set => Model.PhaseTimer = value;
    }

    protected override JointLosses Backward(float[] images, int[] labels, long step) =>
        new(Model.Backward(images, step, Shard), 0, RectifiedFlowWeight: 1, LabelWeight: 0);

    public override double Evaluate() => double.NaN;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        Model.Dispose();
    }
}
