using System.Diagnostics;
using System.Text.Json;
using LZN.Native.Training;

namespace LZN.Tests.Cli;

/// <summary>
/// Defects 1 and 5 through the real `lzn train`: a non-finite loss no longer aborts the run, and run folders are safe
/// (one run at a time, a finished run never replaced without --overwrite, temporaries of killed runs cleaned).
/// </summary>
[NonParallelizable]
public class RunFolderCliTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("lzn-cli-runs-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private static string[] Tiny(string run, params string[] more) =>
        ["train", "--data", "synthetic", "--preset", "tiny", "--train-limit", "256", "--test-limit", "64", "--device", "cpu", "--out", run, .. more];

    private static void AssertEveryLineIsJson(string metrics)
    {
        foreach (string line in File.ReadAllLines(metrics))
            using (JsonDocument.Parse(line)) { }
    }

    [Test]
    public void ANonFiniteLossIsSkippedAndTheRunFinishes()
    {
        // The reproduction (on 256 images): the NaN metrics line made the JSON writer throw.
        string run = Path.Combine(_folder, "nan");
        var result = CliProcess.Run(Tiny(run, "--lr-encoder", "1e30", "--epochs", "2", "--log-every", "1"));

        Assert.That(result.ExitCode, Is.Zero, result.Output + result.Error);
        Assert.That(result.Error, Does.Contain("steps were skipped because the loss or the gradient was not finite").And.Contain("--lr-encoder"));
        string metrics = Path.Combine(run, JointTrainer.MetricsFileName);
        AssertEveryLineIsJson(metrics);
        Assert.That(File.ReadAllLines(metrics), Has.Some.Contains("\"loss\":null"));
        Assert.That(Checkpoint.Open(Path.Combine(run, JointTrainer.CheckpointFileName)).Step, Is.EqualTo(16));
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunOutputs.SummaryFileName)));
        Assert.That(summary.RootElement.GetProperty("skipped_steps").GetInt32(), Is.GreaterThan(0));
    }

    [Test]
    public void ASecondRunIntoAFolderInUseIsRefusedAndTheFirstFinishesIntact()
    {
        string run = Path.Combine(_folder, "shared");
        using var first = CliProcess.Start(new Dictionary<string, string?>(), Tiny(run, "--epochs", "12"));
        var firstOutput = first.StandardOutput.ReadToEndAsync();
        var firstError = first.StandardError.ReadToEndAsync();
        string lockFile = Path.Combine(run, RunFolder.LockFileName);
        var clock = Stopwatch.StartNew();
        while (!File.Exists(lockFile) && !first.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60))
            Thread.Sleep(20);
        Assert.That(File.Exists(lockFile), Is.True, "the first run holds the folder's lock while it trains");

        CliProcess.Run(Tiny(run)).AssertUsageError(run, $"in use by another run (process {first.Id}");

        Assert.That(first.WaitForExit(TimeSpan.FromMinutes(3)), Is.True);
        Assert.That(first.ExitCode, Is.Zero, firstOutput.Result + firstError.Result);
        AssertEveryLineIsJson(Path.Combine(run, JointTrainer.MetricsFileName));
        Assert.That(File.Exists(lockFile), Is.False, "the lock is released when the run ends");
        var resumed = CliProcess.Run(Tiny(run, "--epochs", "12", "--resume"));
        Assert.That(resumed.ExitCode, Is.Zero, "the finished run still resumes: " + resumed.Error);
    }

    [Test]
    public void TrainingIntoAFinishedRunIsRefusedUnlessOverwritten()
    {
        string run = Path.Combine(_folder, "joint");
        var first = CliProcess.Run(Tiny(run));
        Assert.That(first.ExitCode, Is.Zero, first.Error);
        string metrics = Path.Combine(run, JointTrainer.MetricsFileName);
        byte[] before = File.ReadAllBytes(metrics);

        CliProcess.Run(Tiny(run)).AssertUsageError(run, "already holds a finished run", "--resume", "--overwrite", "--out");
        Assert.That(File.ReadAllBytes(metrics), Is.EqualTo(before), "the refused run left the metrics alone");

        var again = CliProcess.Run(Tiny(run, "--overwrite", "--seed", "2"));
        Assert.That(again.ExitCode, Is.Zero, again.Error);
        Assert.That(again.Error, Does.Contain("--overwrite removed a finished run"));
        Assert.That(Checkpoint.Open(Path.Combine(run, JointTrainer.CheckpointFileName)).Config.Seed, Is.EqualTo(2UL));

        CliProcess.Run(Tiny(run, "--resume", "--overwrite")).AssertUsageError("give one of them");
        CliProcess.Run(Tiny(Path.Combine(_folder, "empty"), "--resume")).AssertUsageError("no checkpoint.safetensors to resume from");
    }

    [Test]
    public void TemporariesAKilledRunLeftAreCleanedOnStart()
    {
        string run = Path.Combine(_folder, "killed");
        Directory.CreateDirectory(run);
        using var gone = Process.Start(new ProcessStartInfo("dotnet", "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
        gone.StandardOutput.ReadToEnd();
        gone.WaitForExit();
        string leftover = Path.Combine(run, $"{RunOutputs.SamplesFileName}.tmp-{gone.Id}-{Guid.NewGuid():N}");
        File.WriteAllBytes(leftover, [1, 2, 3]);

        var result = CliProcess.Run(Tiny(run));

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(File.Exists(leftover), Is.False);
        Assert.That(result.Error, Does.Contain("removed 1 temporary file(s) left by an interrupted write"));
    }
}
