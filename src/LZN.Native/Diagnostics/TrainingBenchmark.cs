using System.Diagnostics;
using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Training;

namespace LZN.Native.Diagnostics;

/// <summary>The median time of one phase of a training step.</summary>
public sealed record TrainingPhaseTime(string Phase, double MedianMilliseconds);

/// <summary>
/// One preset's training-step timing: median and minimum of the plain steps, the median of each phase over the
/// profiled steps, and the epoch time those imply on <see cref="EpochImages"/> training images.
/// </summary>
public sealed record TrainingBenchmarkResult(string Preset, int BatchSize, int Steps, double MedianStepMilliseconds,
    double MinStepMilliseconds, IReadOnlyList<TrainingPhaseTime> Phases, int EpochImages)
{
    /// <summary>Steps of one epoch (the trainer drops a short last batch).</summary>
    public int StepsPerEpoch => EpochImages / BatchSize;

    /// <summary>Training time of one epoch at the median step time (evaluation not included).</summary>
    public double EpochSeconds => StepsPerEpoch * MedianStepMilliseconds / 1000;

    /// <summary>The ranks that trained together (BatchSize is the global batch over all of them).</summary>
    public int WorldSize { get; init; } = 1;

    /// <summary>Median time per plain step spent in the collectives (0 in one process), waiting for other ranks included.</summary>
    public double MedianCommunicationMilliseconds { get; init; }

    /// <summary>The communication share of the median step.</summary>
    public double CommunicationShare => MedianCommunicationMilliseconds / MedianStepMilliseconds;
}

/// <summary>
/// The quick training benchmark behind `lzn bench train`: the trainer of the given config's task on
/// synthetic images of the config's shape (a step's cost does not depend on pixel values), two warm-up steps
/// (workspaces, kernel compilation), then <c>steps</c> timed steps exactly as training runs them, then
/// <c>steps</c> more with a <see cref="StepPhaseTimer"/> attached for the per-phase split.
/// </summary>
public static class TrainingBenchmark
{
    /// <summary>Fashion-MNIST's training split, the default epoch the result projects to.</summary>
    public const int FashionMnistTrainImages = 60_000;

    private const int WarmupSteps = 2;

    /// <param name="collective">The ranks of a data-parallel run (null: one process); the result then carries the median
    /// time per step spent in its collectives.</param>
    public static TrainingBenchmarkResult Run(IBackend backend, TrainingConfig config, int steps = 5, int epochImages = FashionMnistTrainImages,
        Distributed.ICollective? collective = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochImages, config.Schedule.BatchSize);
        int totalSteps = WarmupSteps + 2 * steps;
        var shape = new ImageShape(config.Data.ImageHeight, config.Data.ImageWidth, config.Data.ImageChannels);
        var images = SyntheticImages.Generate(totalSteps * config.Schedule.BatchSize, config.Data.ClassCount, shape, config.Seed);
        string folder = Directory.CreateTempSubdirectory("lzn-bench-train-").FullName;
        try
        {
            var timed = collective is null ? null : new Distributed.TimedCollective(collective);
            using var trainer = TrainingLoop.CreateTrainer(backend, config with { Schedule = config.Schedule with { Epochs = 1, CheckpointEvery = 0 } }, images, null, folder, timed);
            for (int i = 0; i < WarmupSteps; i++)
                trainer.TrainStep();

            var stepTimes = new double[steps];
            var communicationTimes = new double[steps];
            for (int i = 0; i < steps; i++)
            {
                backend.Synchronize();
                timed?.Reset();
                var clock = Stopwatch.StartNew();
                trainer.TrainStep();
                backend.Synchronize();
                stepTimes[i] = clock.Elapsed.TotalMilliseconds;
                communicationTimes[i] = timed?.Elapsed.TotalMilliseconds ?? 0;
            }

            var timer = new StepPhaseTimer(backend);
            trainer.PhaseTimer = timer;
            var phaseTimes = new Dictionary<string, double[]>(StringComparer.Ordinal);
            for (int i = 0; i < steps; i++)
            {
                timer.Start();
                trainer.TrainStep();
                foreach (string phase in timer.Phases)
                {
                    if (!phaseTimes.TryGetValue(phase, out var times))
                        phaseTimes[phase] = times = new double[steps];
                    times[i] = timer.Milliseconds(phase);
                }
            }
            trainer.PhaseTimer = null;
            var phases = timer.Phases.Select(phase => new TrainingPhaseTime(phase, Median(phaseTimes[phase]))).ToList();
            return new TrainingBenchmarkResult(config.Preset, config.Schedule.BatchSize, steps, Median(stepTimes), stepTimes.Min(), phases, epochImages)
            {
                WorldSize = collective?.WorldSize ?? 1,
                MedianCommunicationMilliseconds = Median(communicationTimes),
            };
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
