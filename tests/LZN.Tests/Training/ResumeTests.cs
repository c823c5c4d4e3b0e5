using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// Resume determinism: 2k steps straight equal k steps, a checkpoint, a fresh process state and k more steps, in every
/// loss and every parameter bit; a cancellation (the Ctrl-C path) finishes its step and leaves a resumable checkpoint.
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

    [Test]
    public void AnInterruptedAndResumedRunRepeatsTheUninterruptedOneExactly()
    {
        using var backend = new CpuBackend();
        var config = TrainingFixtures.Tiny(Epochs);

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
}
