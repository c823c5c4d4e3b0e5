using LZN.Native.Data;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>Small joint-task configurations and data for the training tests (CPU, seconds each).</summary>
internal static class TrainingFixtures
{
    /// <summary>||actual - expected|| / ||expected||, in doubles.</summary>
    public static double RelativeDifference(float[] actual, float[] expected)
    {
        double difference = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            difference += ((double)actual[i] - expected[i]) * ((double)actual[i] - expected[i]);
            norm += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(difference / Math.Max(norm, double.Epsilon));
    }

    /// <summary>The "tiny" preset on 28x28x1 synthetic blobs: 4 steps per epoch with 128 images.</summary>
    public static TrainingConfig Tiny(int epochs = 1)
    {
        var tiny = TrainingConfig.FromPreset("tiny");
        return tiny with
        {
            Schedule = tiny.Schedule with { Epochs = epochs, CheckpointEvery = 0, LogEvery = 1, EvalBatch = 64 },
            Data = tiny.Data with { Source = DataSources.Synthetic },
        };
    }

    /// <summary>A joint model small enough for central differences and step-by-step comparisons (batch 8, d = 8).</summary>
    public static TrainingConfig SmallJoint
    {
        get
        {
            var tiny = TrainingConfig.FromPreset("tiny");
            return tiny with
            {
                Schedule = tiny.Schedule with { BatchSize = 8 },
                Encoder = tiny.Encoder with { HiddenSizes = [16] },
                Latent = tiny.Latent with { Dim = 8, Steps = 8, LabelSteps = 20 },
                Data = tiny.Data with { Source = DataSources.Synthetic },
            };
        }
    }

    public static ImageDataset Train(int count = 128) => SyntheticImages.Generate(count, classCount: 10, DataSources.SyntheticShape, seed: 1);

    public static ImageDataset Test(int count = 64) => SyntheticImages.Generate(count, classCount: 10, DataSources.SyntheticShape, seed: 2);

    public static string TemporaryFolder(string prefix) => Directory.CreateTempSubdirectory(prefix).FullName;

    /// <summary>The epochs with their times zeroed, which differ between any two runs: for comparing the rest exactly.</summary>
    public static List<EpochResult> WithoutTimes(IEnumerable<EpochResult> epochs) => [.. epochs.Select(epoch => epoch with { Seconds = 0 })];
}
