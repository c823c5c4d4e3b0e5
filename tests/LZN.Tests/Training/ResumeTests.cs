using System.Text.Json;
using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Training;
using LZN.Native.Zones;

namespace LZN.Tests.Training;

/// <summary>
/// Resume determinism: 2k steps straight equal k steps, a checkpoint, a fresh process state and k more steps, in every
/// loss and every parameter bit; a cancellation (the Ctrl-C path) finishes its step and leaves a resumable checkpoint;
/// a resume after a crash past the last checkpoint logs every step once.
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
    public void AResumeAfterACrashPastTheCheckpointLogsEveryStepOnceInOrder()
    {
        using var backend = new CpuBackend();
        var tiny = TrainingFixtures.Tiny(Epochs);
        var config = tiny with { Schedule = tiny.Schedule with { CheckpointEvery = 4 } };
        string straight = Path.Combine(_folder, "straight"), crashed = Path.Combine(_folder, "crashed");
        using (var trainer = new JointTrainer(backend, config, TrainingFixtures.Train(), TrainingFixtures.Test(), straight))
            trainer.Run(CancellationToken.None);

        // The process dies after logging step 6, two steps past the checkpoint at step 4, in the middle of writing line 7.
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
            var repair = second.Resume(Checkpoint.Open(second.CheckpointPath));
            Assert.That(second.Step, Is.EqualTo(4));
            Assert.That(repair, Is.EqualTo(new MetricsRepairResult(KeptLines: 5, DroppedLines: 2, DroppedTornLine: true)));
            second.Run(CancellationToken.None);
        }

        var lines = MetricsLines(metrics);
        Assert.That(lines.Where(line => line.Kind == "step").Select(line => line.Step), Is.EqualTo(Enumerable.Range(1, 2 * StopAfter)));
        Assert.That(lines.Where(line => line.Kind == "epoch").Select(line => line.Step), Is.EqualTo(new[] { 4, 8, 12 }));
        Assert.That(lines.Select(line => line.Step), Is.Ordered);
        Assert.That(lines.Select(line => (line.Kind, line.Step, line.Loss)), Is.EqualTo(MetricsLines(Path.Combine(straight, JointTrainer.MetricsFileName))
            .Select(line => (line.Kind, line.Step, line.Loss))), "the same lines and losses as the uninterrupted run");
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
