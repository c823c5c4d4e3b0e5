using System.Text.Json;
using LZN.Native.Backends.Cpu;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// A step whose loss or gradient is not finite is skipped and counted, and training goes on: metrics.jsonl writes such
/// values as JSON null (every line stays valid JSON), the epoch's mean covers the applied steps only, and the run ends
/// with a checkpoint that loads and a summary.
/// </summary>
public class NonFiniteLossTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = TrainingFixtures.TemporaryFolder("lzn-nonfinite-");

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void AHugeLearningRateSkipsStepsAndTheRunFinishesWithValidMetrics()
    {
        using var backend = new CpuBackend();
        // The first update throws the encoder's weights to ~1e30; every later forward pass overflows.
        var tiny = TrainingFixtures.Tiny(epochs: 2);
        var config = tiny with { Optimizer = tiny.Optimizer with { EncoderLearningRate = 1e30 } };
        TrainingResult result;
        using (var trainer = new JointTrainer(backend, config, TrainingFixtures.Train(), TrainingFixtures.Test(), _folder))
            result = trainer.Run(CancellationToken.None);

        Assert.That(result.Completed, Is.True);
        Assert.That(result.SkippedSteps, Is.InRange(1, 8));
        Assert.That(result.Epochs.Sum(epoch => epoch.SkippedSteps), Is.EqualTo(result.SkippedSteps));
        var lines = File.ReadAllLines(Path.Combine(_folder, JointTrainer.MetricsFileName));
        Assert.That(lines, Has.Length.EqualTo(8 + 2), "a line per step (LogEvery 1) and per epoch");
        var documents = lines.Select(line => JsonDocument.Parse(line)).ToList();
        try
        {
            var skipped = documents.Where(d => d.RootElement.GetProperty("kind").GetString() == "step" && !d.RootElement.GetProperty("applied").GetBoolean()).ToList();
            Assert.That(skipped, Has.Count.EqualTo(result.SkippedSteps));
            Assert.That(skipped.Select(d => d.RootElement.GetProperty("loss").ValueKind), Is.All.EqualTo(JsonValueKind.Null));
            var last = documents[^1].RootElement;
            Assert.That(last.GetProperty("kind").GetString(), Is.EqualTo("epoch"));
            Assert.That(last.GetProperty("skipped_steps").GetInt32(), Is.EqualTo(result.Epochs[^1].SkippedSteps));
        }
        finally
        {
            documents.ForEach(d => d.Dispose());
        }
        var checkpoint = Checkpoint.Open(Path.Combine(_folder, JointTrainer.CheckpointFileName));
        Assert.That(checkpoint.Step, Is.EqualTo(8));
    }

    [Test]
    public void AnEpochWithAllStepsSkippedHasNoMeanLossOrAccuracyRatherThanNaNOrGarbage()
    {
        using var backend = new CpuBackend();
        var tiny = TrainingFixtures.Tiny(epochs: 2);
        var config = tiny with { Optimizer = tiny.Optimizer with { EncoderLearningRate = 1e30 }, Schedule = tiny.Schedule with { LogEvery = 100 } };
        using var trainer = new JointTrainer(backend, config, TrainingFixtures.Train(), TrainingFixtures.Test(), _folder);
        var result = trainer.Run(CancellationToken.None);
        var second = result.Epochs[1];
        Assert.That(second.SkippedSteps, Is.EqualTo(4), "every step of the second epoch overflows");

        Assert.That(double.IsNaN(second.MeanLosses.Total), Is.True);
        string epochLine = File.ReadAllLines(trainer.MetricsPath).Last();
        using var document = JsonDocument.Parse(epochLine);
        Assert.That(document.RootElement.GetProperty("mean_loss").ValueKind, Is.EqualTo(JsonValueKind.Null));
        // Weights of ~1e30 overflow the flows: the accuracy of NaN latents would be arbitrary, so there is none.
        Assert.That(document.RootElement.GetProperty("test_accuracy").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(trainer.NonFiniteEvaluations, Is.EqualTo(2));
    }
}
