using LZN.Native.Data;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>Small joint-task configurations and data for the training tests (CPU, seconds each).</summary>
internal static class TrainingFixtures
{
    /// <summary>The "tiny" preset on 28x28x1 synthetic blobs: 4 steps per epoch with 128 images.</summary>
    public static TrainingConfig Tiny(int epochs = 1) => TrainingConfig.FromPreset("tiny") with
    {
        Epochs = epochs,
        Data = DataSources.Synthetic,
        CheckpointEvery = 0,
        LogEvery = 1,
        EvalBatch = 64,
    };

    /// <summary>A joint model small enough for central differences and step-by-step comparisons (batch 8, d = 8).</summary>
    public static TrainingConfig SmallJoint => TrainingConfig.FromPreset("tiny") with
    {
        BatchSize = 8,
        HiddenSizes = [16],
        LatentDim = 8,
        LatentSteps = 8,
        LabelSteps = 20,
        Data = DataSources.Synthetic,
    };

    public static ImageDataset Train(int count = 128) => SyntheticImages.Generate(count, classCount: 10, DataSources.SyntheticShape, seed: 1);

    public static ImageDataset Test(int count = 64) => SyntheticImages.Generate(count, classCount: 10, DataSources.SyntheticShape, seed: 2);

    public static string TemporaryFolder(string prefix) => Directory.CreateTempSubdirectory(prefix).FullName;
}
