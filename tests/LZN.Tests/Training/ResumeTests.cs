using System.Text.Json;
using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.IO;
using LZN.Native.Training;
using LZN.Native.Zones;

namespace LZN.Tests.Training;

/// <summary>
/// Resume determinism: 2k steps straight equal k steps, a checkpoint, a fresh process state and k more steps, in every
/// loss and every parameter bit, and every epoch's mean losses (the checkpoint carries the sums of the epoch in progress);
/// a cancellation (the Ctrl-C path) finishes its step and leaves a resumable checkpoint; a resume after a crash past the
/// last checkpoint logs every step once, and the same lines and summary.json as the uninterrupted run.
/// </summary>
public class ResumeTests
{
    // 4 steps per epoch, 3 epochs: the interruption at step 6 falls inside an epoch.
    private const int Epochs = 3;
    private const int StopAfter = 6;

    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = TrainingFixtures.TemporaryFolder("lzn-resume-");

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [TestCase(false, TestName = "AnInterruptedAndResumedRunRepeatsTheUninterruptedOneExactly(reference settings)")]
    [TestCase(true, TestName = "AnInterruptedAndResumedRunRepeatsTheUninterruptedOneExactly(augmentation, dropout, cosine decay, CE label loss)")]
    public void AnInterruptedAndResumedRunRepeatsTheUninterruptedOneExactly(bool shortRunRecipe)
    {
        using var backend = new CpuBackend();
        var config = TrainingFixtures.Tiny(Epochs);
        if (shortRunRecipe)
        {
            config = config with
            {
                Augmentation = config.Augmentation with { Flip = true, Shift = 2 },
                Encoder = config.Encoder with { Dropout = 0.2f },
                Optimizer = config.Optimizer with { LearningRateDecay = LearningRateDecay.Cosine },
                Loss = config.Loss with { Label = AssignmentLossKind.CrossEntropy },
            };
        }

        var straightLosses = new List<JointLosses>();
        float[][] straightParameters;
        TrainingResult straight;
        using (var trainer = new JointTrainer(backend, config, TrainingFixtures.Train(), TrainingFixtures.Test(), Path.Combine(_folder, "straight")))
        {
            straight = trainer.Run(CancellationToken.None, progress => straightLosses.Add(progress.Losses));
            straightParameters = [.. trainer.Model.Parameters.Select(parameter => parameter.Value.ToArray())];
        }
        Assert.That(straightLosses, Has.Count.EqualTo(2 * StopAfter));

        string split = Path.Combine(_folder, "split");
        var splitLosses = new List<JointLosses>();
        using (var cancellation = new CancellationTokenSource())
        using (var first = new JointTrainer(backend, config, TrainingFixtures.Train(), TrainingFixtures.Test(), split))
        {
            var interrupted = first.Run(cancellation.Token, progress =>
            {
                splitLosses.Add(progress.Losses);
                if (progress.Step == StopAfter)
                    cancellation.Cancel();
            });
            Assert.That(interrupted.Completed, Is.False);
            Assert.That(interrupted.Step, Is.EqualTo(StopAfter));
        }
        TrainingResult resumed;
        float[][] resumedParameters;
        using (var second = new JointTrainer(backend, config, TrainingFixtures.Train(), TrainingFixtures.Test(), split))
        {
            second.Resume(Checkpoint.Open(second.CheckpointPath));
            resumed = second.Run(CancellationToken.None, progress => splitLosses.Add(progress.Losses));
            resumedParameters = [.. second.Model.Parameters.Select(parameter => parameter.Value.ToArray())];
        }

        Assert.That(splitLosses, Is.EqualTo(straightLosses));
        for (int i = 0; i < straightParameters.Length; i++)
            Assert.That(resumedParameters[i], Is.EqualTo(straightParameters[i]), $"parameter {i}");
        Assert.That(resumed.TestAccuracy, Is.EqualTo(straight.TestAccuracy));
        // Epoch 1 began before the interruption at step 6: its means cover its steps on both sides of it.
        Assert.That(TrainingFixtures.WithoutTimes(resumed.Epochs), Is.EqualTo(TrainingFixtures.WithoutTimes(straight.Epochs.Skip(1))));
        Assert.That(Checkpoint.Open(Path.Combine(split, JointTrainer.CheckpointFileName)).Step, Is.EqualTo(2 * StopAfter));
        int stepLines = File.ReadLines(Path.Combine(split, JointTrainer.MetricsFileName)).Count(line => line.Contains("\"kind\":\"step\"", StringComparison.Ordinal));
        Assert.That(stepLines, Is.EqualTo(2 * StopAfter), "metrics.jsonl continues across the resume");
    }

    [Test]
    public void CancellationFinishesTheStepAndSavesAResumableCheckpoint()
    {
        using var backend = new CpuBackend();
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        using var trainer = new JointTrainer(backend, TrainingFixtures.Tiny(Epochs), TrainingFixtures.Train(), null, _folder);
        var result = trainer.Run(cancellation.Token);

        Assert.That(result.Completed, Is.False);
        Assert.That(result.Step, Is.EqualTo(1));
        var info = Checkpoint.Open(trainer.CheckpointPath);
        Assert.That(info.Step, Is.EqualTo(1));
        using var resumed = new JointTrainer(backend, info.Config, TrainingFixtures.Train(), null, _folder);
        resumed.Resume(info);
        Assert.That(resumed.Training.Optimizer.Iteration, Is.EqualTo(1));
        foreach (var (saved, loaded) in trainer.Model.Parameters.Zip(resumed.Model.Parameters))
            Assert.That(loaded.Value.ToArray(), Is.EqualTo(saved.Value.ToArray()), saved.Name);
    }

    [Test]
    public void ACheckpointWithoutTheEpochSumsResumesAsBeforeAndSumsThatDisagreeWithTheStepAreRefused()
    {
        using var backend = new CpuBackend();
        var config = TrainingFixtures.Tiny(Epochs);
        string first = Path.Combine(_folder, "first");
        using (var cancellation = new CancellationTokenSource())
        using (var trainer = new JointTrainer(backend, config, TrainingFixtures.Train(), null, first))
        {
            trainer.Run(cancellation.Token, progress =>
            {
                if (progress.Step == StopAfter)
                    cancellation.Cancel();
            });
        }
        string saved = Path.Combine(first, JointTrainer.CheckpointFileName);
        Assert.That(Checkpoint.Open(saved).EpochSums?.AppliedSteps, Is.EqualTo(2), "the checkpoint carries the sums of epoch 1's steps 5 and 6");

        // As an older build wrote it: step 6, two steps into epoch 1, without the sums; epoch 1 then averages steps 7 and 8.
        string old = CheckpointEdits.Rewrite(saved, _folder, (metadata, _) => metadata.Remove(Checkpoint.EpochSumsKey));
        var losses = new List<JointLosses>();
        using (var trainer = new JointTrainer(backend, config, TrainingFixtures.Train(), null, Path.Combine(_folder, "old")))
        {
            trainer.Resume(Checkpoint.Open(old));
            var epoch = trainer.Run(CancellationToken.None, progress => losses.Add(progress.Losses)).Epochs[0];
            Assert.That(epoch.MeanLosses.RectifiedFlow, Is.EqualTo((losses[0].RectifiedFlow + losses[1].RectifiedFlow) / 2));
            Assert.That(epoch.MeanLosses.Label, Is.EqualTo((losses[0].Label + losses[1].Label) / 2));
        }

        using var refusing = new JointTrainer(backend, config, TrainingFixtures.Train(), null, Path.Combine(_folder, "refused"));
        string miscounted = CheckpointEdits.Rewrite(saved, _folder, (metadata, _) =>
            metadata[Checkpoint.EpochSumsKey] = metadata[Checkpoint.EpochSumsKey].Replace("\"applied_steps\":2", "\"applied_steps\":3", StringComparison.Ordinal));
        Assert.That(() => refusing.Resume(Checkpoint.Open(miscounted)), Throws.TypeOf<SafetensorsFormatException>()
            .With.Message.Contain($"{Checkpoint.EpochSumsKey} covers 3 step(s), but step 6 is 2 step(s) into an epoch of 4"));
        string incomplete = CheckpointEdits.Rewrite(saved, _folder, (metadata, _) => metadata[Checkpoint.EpochSumsKey] = "{\"rf_loss\":1}");
        Assert.That(() => Checkpoint.Open(incomplete), Throws.TypeOf<SafetensorsFormatException>().With.Message.Contain($"{Checkpoint.EpochSumsKey} is not the epoch's sums"));
        Assert.That(refusing.Step, Is.Zero, "a refused resume changes nothing");
    }

    [Test]
    public void AResumeAfterACrashPastTheCheckpointLogsEveryStepOnceInOrder()
    {
        using var backend = new CpuBackend();
        var tiny = TrainingFixtures.Tiny(Epochs);
        // Checkpoints at steps 5 and 10: the resume falls inside epoch 1 (steps 5 to 8).
        var config = tiny with { Schedule = tiny.Schedule with { CheckpointEvery = 5 } };
        string straight = Path.Combine(_folder, "straight"), crashed = Path.Combine(_folder, "crashed");
        using (var trainer = new JointTrainer(backend, config, TrainingFixtures.Train(), TrainingFixtures.Test(), straight))
            WriteSummary(straight, config, trainer.Run(CancellationToken.None));

        // The process dies after logging step 6, one step past the checkpoint at step 5, in the middle of writing line 8.
        using (var first = new JointTrainer(backend, config, TrainingFixtures.Train(), TrainingFixtures.Test(), crashed))
        {
            var crash = Assert.Throws<InvalidOperationException>(() => first.Run(CancellationToken.None, progress =>
            {
                if (progress.Step == StopAfter)
                    throw new InvalidOperationException("simulated crash");
            }));
            Assert.That(crash.Message, Is.EqualTo("simulated crash"));
        }
        string metrics = Path.Combine(crashed, JointTrainer.MetricsFileName);
        File.AppendAllText(metrics, "{\"kind\":\"step\",\"step\":7,\"epo");
        using (var second = new JointTrainer(backend, config, TrainingFixtures.Train(), TrainingFixtures.Test(), crashed))
        {
            var checkpoint = Checkpoint.Open(second.CheckpointPath);
            Assert.That(checkpoint.EpochSums, Is.Not.Null.And.Property(nameof(EpochSums.Steps)).EqualTo(1), "the checkpoint at step 5 carries the sums of epoch 1's first step");
            var repair = second.Resume(checkpoint);
            Assert.That(second.Step, Is.EqualTo(5));
            Assert.That(repair, Is.EqualTo(new MetricsRepairResult(KeptLines: 6, DroppedLines: 1, DroppedTornLine: true)));
            WriteSummary(crashed, config, second.Run(CancellationToken.None));
        }

        var lines = MetricsLines(metrics);
        Assert.That(lines.Where(line => line.Kind == "step").Select(line => line.Step), Is.EqualTo(Enumerable.Range(1, 2 * StopAfter)));
        Assert.That(lines.Where(line => line.Kind == "epoch").Select(line => line.Step), Is.EqualTo(new[] { 4, 8, 12 }));
        Assert.That(lines.Select(line => line.Step), Is.Ordered);
        Assert.That(lines.Select(line => (line.Kind, line.Step, line.Loss)), Is.EqualTo(MetricsLines(Path.Combine(straight, JointTrainer.MetricsFileName))
            .Select(line => (line.Kind, line.Step, line.Loss))), "the same lines and losses as the uninterrupted run");
        Assert.That(EpochLines(metrics), Is.EqualTo(EpochLines(Path.Combine(straight, JointTrainer.MetricsFileName))), "every field of the epoch lines but epoch_seconds");
        Assert.That(WithoutTimes(File.ReadAllText(Path.Combine(crashed, RunOutputs.SummaryFileName))),
            Is.EqualTo(WithoutTimes(File.ReadAllText(Path.Combine(straight, RunOutputs.SummaryFileName)))), "summary.json but wall_seconds");
    }

    private static void WriteSummary(string folder, TrainingConfig config, TrainingResult result) =>
        RunOutputs.WriteSummary(Path.Combine(folder, RunOutputs.SummaryFileName), config, result, TrainingFixtures.Train().Count, TrainingFixtures.Test().Count, "cpu");

    private static List<Dictionary<string, string>> EpochLines(string path) =>
        [.. File.ReadAllLines(path).Where(line => line.Contains("\"kind\":\"epoch\"", StringComparison.Ordinal)).Select(WithoutTimes)];

    /// <summary>Every field of a JSON object as its raw text, but the times, which differ between any two runs.</summary>
    private static Dictionary<string, string> WithoutTimes(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject().Where(field => field.Name is not ("epoch_seconds" or "wall_seconds"))
            .ToDictionary(field => field.Name, field => field.Value.GetRawText());
    }

    private static List<(string Kind, long Step, double Loss)> MetricsLines(string path) =>
    [
        .. File.ReadAllLines(path).Select(line =>
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            string kind = root.GetProperty("kind").GetString()!;
            return (kind, root.GetProperty("step").GetInt64(), root.GetProperty(kind == "step" ? "loss" : "mean_loss").GetDouble());
        }),
    ];
}
