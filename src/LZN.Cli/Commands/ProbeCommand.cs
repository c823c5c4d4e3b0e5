using System.CommandLine;
using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Metrics;
using LZN.Native.Training;

namespace LZN.Cli.Commands;

/// <summary>
/// `lzn probe --checkpoint C`: the representation protocol on a representation-task checkpoint's frozen backbone features
/// (linear probe and k-NN, train split vs test split), with the same two scores on raw pixels beside them.
/// </summary>
internal static class ProbeCommand
{
    public static Command Create()
    {
        var checkpoint = CheckpointOption();
        var data = DataOption();
        var ema = EmaOption();
        var seed = CliOptions.UInt64("--seed", "seed of the probe's batch order", 1);
        var trainLimit = CliOptions.Int("--train-limit", "fit the probe and the k-NN bank on only the first N training images (N >= 20)", min: NearestNeighbours.DefaultK);
        var testLimit = CliOptions.Int("--test-limit", "score on only the first N test images (N >= 1)", min: 1);
        var features = FeaturesOption();
        var device = CommonOptions.Device();
        var command = new Command("probe",
            "Linear probe and k-NN (k=20, cosine) accuracy of a representation-task checkpoint's backbone features, beside the same on raw pixels.")
        {
            checkpoint, data, ema, seed, trainLimit, testLimit, features, device,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var (info, train, test) = Open(result.GetValue(checkpoint)!, result.GetValue(data), "lzn probe");
            if (result.GetValue(trainLimit) is int trainCount)
                train = train.Take(trainCount);
            if (result.GetValue(testLimit) is int testCount)
                test = test.Take(testCount);
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            using var model = LoadModel(backend, info, result.GetValue(ema), RepresentationConfig.ParseProbeFeatures(result.GetValue(features)));
            int classes = Math.Max(train.ClassCount, test.ClassCount);
            ulong probeSeed = result.GetValue(seed);
            var scores = RepresentationScores.Measure(backend, model.Features(train.Images, train.Count), train.Labels,
                model.Features(test.Images, test.Count), test.Labels, model.FeatureWidth, classes, probeSeed);
            var pixels = RepresentationScores.Measure(backend, train.Images, train.Labels, test.Images, test.Labels, train.Shape.Size, classes, probeSeed);
            Console.WriteLine($"{info.Path}: step {info.Step}, {(result.GetValue(ema) ? "EMA" : "trained")} weights; {train.Count} training / {test.Count} test images; "
                + $"linear probe {new LinearProbeOptions().Epochs} epochs, k-NN k={NearestNeighbours.DefaultK} cosine");
            Console.WriteLine(Line($"{RepresentationConfig.ProbeFeatureName(model.Config.Representation.ProbeFeatures)} features", scores));
            Console.WriteLine(Line("raw pixels", pixels));
            return 0;
        }));
        return command;
    }

    private static string Line(string what, RepresentationScores scores) => string.Create(CultureInfo.InvariantCulture,
        $"{what,-18} ({scores.FeatureDim,4} dims): linear probe {scores.LinearProbeAccuracy:P2}, k-NN {scores.KnnAccuracy:P2}");

    public static Option<string> CheckpointOption() =>
        new("--checkpoint") { Description = "a checkpoint.safetensors written by lzn train --task representation", Required = true };

    public static Option<string?> DataOption() =>
        new("--data") { Description = "fashion-mnist | synthetic | a folder (default: the data the checkpoint was trained on)" };

    /// <summary>"--probe-features": what of the backbone the probe reads (<see cref="RepresentationConfig.ProbeFeatures"/>).</summary>
    public static Option<string?> FeaturesOption() => CliOptions.Choice("--probe-features",
        "representation task: the features the probe and k-NN read: backbone (the backbone's output) | pooled (the last convolution's channels averaged over the image) | both | map (the last convolution's activations, every channel at every position) (default: the checkpoint's, else the preset's, backbone)",
        [.. RepresentationConfig.ProbeFeatureNames]);

    public static Option<bool> EmaOption() => new("--ema") { Description = "use the EMA weights instead of the trained ones" };

    /// <summary>Opens a representation-task checkpoint (any other task is refused) and the data whose images fit its model.</summary>
    public static (CheckpointInfo Info, ImageDataset Train, ImageDataset Test) Open(string path, string? data, string command)
    {
        var info = Checkpoint.Open(path);
        foreach (string warning in info.Warnings)
            Console.Error.WriteLine($"warning: {warning}");
        Checkpoint.RequireTask(info, command, TrainingTask.Representation);
        string dataName = data ?? info.Config.Data.Source;
        var (train, test) = DataSources.LoadAsync(dataName).GetAwaiter().GetResult();
        if (train.Shape != RunOutputs.Shape(info.Config))
            throw new ArgumentException($"{dataName}: images of {train.Shape} do not fit the checkpoint's model ({RunOutputs.Shape(info.Config)}).");
        return (info, train, test);
    }

    /// <summary>The checkpoint's model; <paramref name="features"/> replaces the features its config probes (weights are the same).</summary>
    public static RepresentationModel LoadModel(IBackend backend, CheckpointInfo info, bool ema, ProbeFeatures? features = null)
    {
        var config = features is ProbeFeatures read ? info.Config with { Representation = info.Config.Representation with { ProbeFeatures = read } } : info.Config;
        var model = new RepresentationModel(backend, config);
        try
        {
            Checkpoint.LoadModel(info, model.Parameters, ema);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
