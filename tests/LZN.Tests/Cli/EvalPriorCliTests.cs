using LZN.Native.Backends.Cpu;
using LZN.Native.Training;
using LZN.Tests.Training;

namespace LZN.Tests.Cli;

/// <summary>`lzn eval --class-prior uniform|train` and `--prior-std-sweep`: the reference's two classification protocols.</summary>
public class EvalPriorCliTests
{
    [Test]
    public void ClassPriorsSteerTheLabelFlow()
    {
        using var backend = new CpuBackend();
        using var model = new JointModel(backend, TrainingFixtures.Tiny());
        var data = TrainingFixtures.Test(64);
        var favourThree = Enumerable.Range(0, 10).Select(c => c == 3 ? 0f : -30f).ToArray();
        Assert.That(model.Classify(data.Images, data.Count, classLogPriors: favourThree), Has.All.EqualTo(3), "a prior of ~0 elsewhere leaves one zone");
        Assert.That(model.Classify(data.Images, data.Count).Distinct().Count(), Is.GreaterThan(1), "uniform priors leave every zone");
        Assert.That(() => model.Classify(data.Images, data.Count, classLogPriors: new float[3]), Throws.ArgumentException);
    }

    [Test]
    public void EvalSweepsTheStdsWithTheChosenPriors()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-eval-").FullName;
        try
        {
            string checkpoint = CliRuns.TrainTinyClassifier(Path.Combine(folder, "run"));
            var sweep = CliProcess.Run("eval", "--checkpoint", checkpoint, "--test-limit", "64", "--prior-std-sweep", "0,0.5,1.2", "--class-prior", "train", "--device", "cpu");
            Assert.That(sweep.ExitCode, Is.EqualTo(0), sweep.Output + sweep.Error);
            var lines = sweep.Output.Split('\n').Where(line => line.StartsWith("test accuracy", StringComparison.Ordinal)).ToList();
            Assert.That(lines, Has.Count.EqualTo(3));
            Assert.That(lines.Select(line => line[(line.IndexOf("prior std ", StringComparison.Ordinal) + 10)..].Split(',')[0]), Is.EqualTo(new[] { "0", "0.5", "1.2" }));
            Assert.That(lines, Has.All.Contain("train class priors"));

            CliProcess.Run("eval", "--checkpoint", checkpoint, "--prior-std-sweep", "0,-1").AssertUsageError("--prior-std-sweep 0,-1: expected numbers >= 0");
            CliProcess.Run("eval", "--checkpoint", checkpoint, "--prior-std-sweep", "0,1", "--prior-std", "0.5").AssertUsageError("give one of them");
            CliProcess.Run("eval", "--checkpoint", checkpoint, "--class-prior", "flat").AssertUsageError("--class-prior flat");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
