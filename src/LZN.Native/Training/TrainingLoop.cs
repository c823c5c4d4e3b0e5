using System.Diagnostics;
using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Distributed;
using LZN.Native.Optim;

namespace LZN.Native.Training;

/// <summary>
/// What the shared training loop (<see cref="TrainingLoop"/>) needs of a task's trainer: the step counters, one
/// training step, the end-of-epoch evaluation and the checkpoint. Implemented by <see cref="JointTrainer"/> and
/// <see cref="TaskTrainer"/>'s <see cref="RepresentationTrainer"/> and <see cref="GenerationTrainer"/>.
/// </summary>
public interface ITaskTrainer : IDisposable
{
    TrainingConfig Config { get; }

    TrainingStep Training { get; }

    /// <summary>Completed steps (the next step's index).</summary>
    long Step { get; }

    /// <summary>The sums of the epoch in progress, kept by <see cref="TrainingLoop.Run"/> here so the checkpoint carries them.</summary>
    EpochSums EpochSums { get; set; }

    int StepsPerEpoch { get; }

    long TotalSteps { get; }

    string MetricsPath { get; }

    string CheckpointPath { get; }

    /// <summary>The ranks training together (1 without a launcher, docs/distributed.md).</summary>
    int WorldSize { get; }

    /// <summary>Whether this process writes metrics.jsonl and checkpoints: rank 0, or the one process.</summary>
    bool IsWriter { get; }

    /// <summary>Whether to stop after this step; with several ranks, cancellation on any rank stops them all after the same step.</summary>
    bool StopRequested(CancellationToken cancellation);

    /// <summary>Every trained parameter, in the checkpoint's order.</summary>
    IEnumerable<Nn.Parameter> Parameters { get; }

    /// <summary>Evaluations whose model outputs were not finite (reported as NaN).</summary>
    int NonFiniteEvaluations { get; }

    /// <summary>Runs step <see cref="Step"/> and advances; the task's loss terms and the optimiser's verdict.</summary>
    (JointLosses Losses, TrainingStepResult Result) TrainStep();

    /// <summary>When set, each <see cref="TrainStep"/> marks its phases on it (<see cref="PhaseNames"/>; `lzn bench train`).</summary>
    StepPhaseTimer? PhaseTimer { get; set; }

    /// <summary>The task's end-of-epoch score on the test split (accuracy; NaN when there is none).</summary>
    double Evaluate();

    void SaveCheckpoint();

    MetricsRepairResult Resume(CheckpointInfo checkpoint);
}

/// <summary>The loop every task's trainer runs, and the resume they share.</summary>
public static class TrainingLoop
{
    /// <summary>The trainer of <paramref name="config"/>'s task (<see cref="TrainingConfig.Task"/>).</summary>
    public static ITaskTrainer CreateTrainer(IBackend backend, TrainingConfig config, ImageDataset train, ImageDataset? test, string runFolder,
        ICollective? collective = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Task switch
        {
            TrainingTask.Representation => new RepresentationTrainer(backend, config, train, test, runFolder, collective),
            TrainingTask.Generation => new GenerationTrainer(backend, config, train, test, runFolder, collective),
            _ => new JointTrainer(backend, config, train, test, runFolder, collective),
        };
    }

    /// <summary>
    /// Continues <paramref name="trainer"/> from a checkpoint written by a run with a matching config (epochs may differ),
    /// after trimming metrics.jsonl to the checkpoint's step (<see cref="MetricsRepair.TrimToStep"/>): a run that crashed
    /// past its last checkpoint would otherwise log the repeated steps twice. Restores the sums of the epoch in progress
    /// (zero when the checkpoint has none: one of an older build then ends its epoch with the means of the steps since
    /// the resume). Returns the step to continue from.
    /// </summary>
    public static (long Step, MetricsRepairResult Repair) Resume(ITaskTrainer trainer, CheckpointInfo checkpoint)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (trainer.Config.ResumeMismatch(checkpoint.Config) is string mismatch)
            throw new IO.SafetensorsFormatException(checkpoint.Path, $"cannot resume: {mismatch}.");
        if (checkpoint.WorldSize != trainer.WorldSize)
        {
            throw new IO.SafetensorsFormatException(checkpoint.Path,
                $"cannot resume: the checkpoint was written by a run of {checkpoint.WorldSize} rank(s) and this run has {trainer.WorldSize}; resume with "
                + (checkpoint.WorldSize == 1 ? "no mpirun" : $"mpirun -n {checkpoint.WorldSize}") + ", or train a new run.");
        }
        if (checkpoint.Step > trainer.TotalSteps)
        {
            throw new IO.SafetensorsFormatException(checkpoint.Path,
                $"cannot resume: the checkpoint is at step {checkpoint.Step}, past this run's last step {trainer.TotalSteps} ({trainer.Config.Schedule.Epochs} epoch(s) of {trainer.StepsPerEpoch} steps); raise the epochs.");
        }
        long intoEpoch = checkpoint.Step % trainer.StepsPerEpoch;
        if (checkpoint.EpochSums is { } sums && sums.Steps != intoEpoch)
        {
            throw new IO.SafetensorsFormatException(checkpoint.Path,
                $"cannot resume: __metadata__ {Checkpoint.EpochSumsKey} covers {sums.Steps} step(s), but step {checkpoint.Step} is {intoEpoch} step(s) into an epoch of {trainer.StepsPerEpoch}.");
        }
        Checkpoint.LoadModel(checkpoint, trainer.Parameters);
        Checkpoint.LoadTraining(checkpoint, trainer.Training);
        trainer.EpochSums = checkpoint.EpochSums ?? EpochSums.Zero;
        return (checkpoint.Step, trainer.IsWriter ? MetricsRepair.TrimToStep(trainer.MetricsPath, checkpoint.Step) : default);
    }

    /// <summary>
    /// The epoch sums a checkpoint at the trainer's step carries: none on an epoch boundary (they are zero), nor when they
    /// miss some of the epoch's steps (steps run outside <see cref="Run"/>, or a resume from a checkpoint without them).
    /// </summary>
    public static EpochSums? SavedEpochSums(ITaskTrainer trainer)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        long intoEpoch = trainer.Step % trainer.StepsPerEpoch;
        return intoEpoch != 0 && trainer.EpochSums.Steps == intoEpoch ? trainer.EpochSums : null;
    }

    /// <summary>
    /// Trains until <see cref="ITaskTrainer.TotalSteps"/> or cancellation (checked after each step: the step finishes, a
    /// checkpoint is saved and the result says Completed = false); metrics.jsonl gets every log step and every epoch,
    /// checkpoints come every <see cref="ScheduleConfig.CheckpointEvery"/> steps and at the end.
    /// </summary>
    public static TrainingResult Run(ITaskTrainer trainer, CancellationToken cancellation, Action<TrainingProgress>? onProgress = null, Action<EpochResult>? onEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        var config = trainer.Config;
        var wall = Stopwatch.StartNew();
        var epochs = new List<EpochResult>();
        double? accuracy = null;
        long startStep = trainer.Step;
        using var metrics = trainer.IsWriter ? new MetricsWriter(trainer.MetricsPath) : null;
        var epochClock = Stopwatch.StartNew();
        while (trainer.Step < trainer.TotalSteps)
        {
            var stepClock = Stopwatch.StartNew();
            var (losses, result) = trainer.TrainStep();
            long step = trainer.Step;
            trainer.EpochSums = trainer.EpochSums.Add(losses, result.Applied);
            double seconds = stepClock.Elapsed.TotalSeconds;
            double perStep = wall.Elapsed.TotalSeconds / (step - startStep);
            var progress = new TrainingProgress(step, trainer.TotalSteps, (int)((step - 1) / trainer.StepsPerEpoch), losses, result.GradientNorm,
                result.LearningRateFactor, result.Applied, config.Schedule.BatchSize / Math.Max(seconds, 1e-9),
                TimeSpan.FromSeconds(perStep * (trainer.TotalSteps - step)), step % config.Schedule.LogEvery == 0 || step == trainer.TotalSteps, trainer.Training.SkippedSteps);
            if (progress.IsLogStep)
                metrics?.Step(progress);
            onProgress?.Invoke(progress);

            if (step % trainer.StepsPerEpoch == 0)
            {
                accuracy = trainer.Evaluate();
                var epochResult = new EpochResult((int)(step / trainer.StepsPerEpoch) - 1, step,
                    trainer.EpochSums.Mean(losses.RectifiedFlowWeight, losses.LabelWeight), accuracy.Value,
                    epochClock.Elapsed.TotalSeconds, trainer.EpochSums.SkippedSteps);
                epochs.Add(epochResult);
                metrics?.Epoch(epochResult);
                onEpoch?.Invoke(epochResult);
                trainer.EpochSums = EpochSums.Zero;
                epochClock.Restart();
            }
            if (trainer.StopRequested(cancellation))
            {
                trainer.SaveCheckpoint();
                return new TrainingResult(step, false, epochs, accuracy, wall.Elapsed.TotalSeconds, trainer.Training.SkippedSteps);
            }
            if (config.Schedule.CheckpointEvery > 0 && step % config.Schedule.CheckpointEvery == 0)
                trainer.SaveCheckpoint();
        }
        accuracy ??= trainer.Evaluate();
        trainer.SaveCheckpoint();
        return new TrainingResult(trainer.Step, true, epochs, accuracy, wall.Elapsed.TotalSeconds, trainer.Training.SkippedSteps);
    }
}
