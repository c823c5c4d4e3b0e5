using LZN.Native.Training;

namespace LZN.Tests.Cli;

/// <summary>Small runs of the real `lzn train` whose checkpoints other CLI tests read.</summary>
internal static class CliRuns
{
    /// <summary>The tiny joint preset as a classifier only (rf weight 0) on 64 synthetic images, into <paramref name="run"/>; returns its checkpoint.</summary>
    public static string TrainTinyClassifier(string run)
    {
        var train = CliProcess.Run("train", "--data", "synthetic", "--preset", "tiny", "--train-limit", "64", "--rf-weight", "0", "--device", "cpu", "--out", run);
        Assert.That(train.ExitCode, Is.EqualTo(0), train.Output + train.Error);
        return Path.Combine(run, JointTrainer.CheckpointFileName);
    }
}
