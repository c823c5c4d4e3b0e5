using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.Diagnostics;
using LZN.Native.Training;
using LZN.Tests.Training;

namespace LZN.Tests.Diagnostics;

/// <summary>`lzn bench train`'s measurement: every phase of each task's step is timed, and timing changes no result.</summary>
public class TrainingBenchmarkTests
{
    [Test]
    public void EveryPhaseOfAJointStepIsTimedInStepOrder()
    {
        using var backend = new CpuBackend();
        var result = TrainingBenchmark.Run(backend, TrainingFixtures.Tiny(), steps: 2, epochImages: 320);

        Assert.That(result.Phases.Select(p => p.Phase), Is.EqualTo(new[]
        {
            PhaseNames.Data, PhaseNames.EncoderForward, PhaseNames.LatentFlowForward, PhaseNames.LabelFlow,
            PhaseNames.Decoder, PhaseNames.LatentFlowBackward, PhaseNames.EncoderBackward, PhaseNames.Optimizer,
        }));
        Assert.That(result.Phases.Select(p => p.MedianMilliseconds), Is.All.GreaterThanOrEqualTo(0));
        Assert.That(result.Phases.Single(p => p.Phase == PhaseNames.Decoder).MedianMilliseconds, Is.GreaterThan(0));
        Assert.That(result.MinStepMilliseconds, Is.GreaterThan(0).And.LessThanOrEqualTo(result.MedianStepMilliseconds));
        Assert.That(result.StepsPerEpoch, Is.EqualTo(320 / TrainingFixtures.Tiny().Schedule.BatchSize));
        Assert.That(result.EpochSeconds, Is.EqualTo(result.StepsPerEpoch * result.MedianStepMilliseconds / 1000).Within(1e-12));
    }

    /// <summary>The other tasks' presets: their own phases, in step order, each one timed.</summary>
    [TestCase("rep-tiny", new[]
    {
        PhaseNames.Gather, PhaseNames.Views, PhaseNames.BackboneForward, PhaseNames.LatentFlowForward, PhaseNames.AssignForward,
        PhaseNames.AssignBackward, PhaseNames.LatentFlowBackward, PhaseNames.BackboneBackward, PhaseNames.Optimizer,
    })]
    [TestCase("gen-tiny", new[]
    {
        PhaseNames.Gather, PhaseNames.EncoderForward, PhaseNames.LatentFlowForward, PhaseNames.Decoder, PhaseNames.LatentFlowBackward,
        PhaseNames.EncoderBackward, PhaseNames.Optimizer,
    })]
    public void EveryPhaseOfTheOtherTasksIsTimedInStepOrder(string preset, string[] phases)
    {
        using var backend = new CpuBackend();
        var config = TrainingConfig.FromPreset(preset);
        var result = TrainingBenchmark.Run(backend, config with { Data = config.Data with { Source = DataSources.Synthetic } }, steps: 1, epochImages: 320);
        Assert.That(result.Phases.Select(p => p.Phase), Is.EqualTo(phases));
        Assert.That(result.Phases.Select(p => p.MedianMilliseconds), Is.All.GreaterThanOrEqualTo(0));
        Assert.That(result.MedianStepMilliseconds, Is.GreaterThan(0));
    }

    [Test]
    public void AClassifierOnlyStepHasNoDecoderPhase()
    {
        using var backend = new CpuBackend();
        var tiny = TrainingFixtures.Tiny();
        var result = TrainingBenchmark.Run(backend, tiny with { Loss = tiny.Loss with { RectifiedFlowWeight = 0 } }, steps: 1, epochImages: 320);
        Assert.That(result.Phases.Select(p => p.Phase), Does.Not.Contain(PhaseNames.Decoder).And.Contain(PhaseNames.LabelFlow));
    }

    [TestCase("tiny", 8)]
    [TestCase("rep-tiny", 9)]
    [TestCase("gen-tiny", 7)]
    public void AProfiledStepComputesExactlyWhatAPlainStepComputes(string preset, int phases)
    {
        using var backend = new CpuBackend();
        var config = TrainingConfig.FromPreset(preset);
        config = config with { Data = config.Data with { Source = DataSources.Synthetic }, Schedule = config.Schedule with { CheckpointEvery = 0 } };
        string folder = TrainingFixtures.TemporaryFolder("lzn-phase-");
        try
        {
            using var plain = TrainingLoop.CreateTrainer(backend, config, TrainingFixtures.Train(), null, Path.Combine(folder, "plain"));
            using var profiled = TrainingLoop.CreateTrainer(backend, config, TrainingFixtures.Train(), null, Path.Combine(folder, "profiled"));
            var timer = new StepPhaseTimer(backend);
            profiled.PhaseTimer = timer;
            for (int step = 0; step < 2; step++)
            {
                timer.Start();
                Assert.That(profiled.TrainStep().Losses, Is.EqualTo(plain.TrainStep().Losses));
            }
            Assert.That(timer.Phases, Has.Count.EqualTo(phases));
            foreach (var (a, b) in plain.Parameters.Zip(profiled.Parameters))
                Assert.That(b.Value.ToArray(), Is.EqualTo(a.Value.ToArray()), a.Name);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
