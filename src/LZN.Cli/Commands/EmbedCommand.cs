using System.CommandLine;
using LZN.Native.IO;
using LZN.Native.Training;

namespace LZN.Cli.Commands;

/// <summary>`lzn embed --checkpoint C --out emb.npy [--labels labels.npy]`: a representation checkpoint's backbone features of a split, for other tools.</summary>
internal static class EmbedCommand
{
    public static Command Create()
    {
        var checkpoint = ProbeCommand.CheckpointOption();
        var data = ProbeCommand.DataOption();
        var ema = ProbeCommand.EmaOption();
        var features = ProbeCommand.FeaturesOption();
        var split = CliOptions.ChoiceOrDefault("--split", "test | train: the split to embed", "test", "test", "train");
        var output = new Option<string>("--out") { Description = "features as float32 .npy [n, feature_dim]", Required = true };
        CliOptions.RequireExtension(output, "features are written as .npy", ".npy");
        var labels = new Option<string?>("--labels") { Description = "also write the split's labels as int32 .npy [n]" };
        CliOptions.RequireExtension(labels, "labels are written as .npy", ".npy");
        var device = CommonOptions.Device();
        var command = new Command("embed", "Write a representation-task checkpoint's backbone features of a split as .npy (and its labels).")
        {
            checkpoint, data, ema, features, split, output, labels, device,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var (info, train, test) = ProbeCommand.Open(result.GetValue(checkpoint)!, result.GetValue(data), "lzn embed");
            var images = result.GetValue(split) == "train" ? train : test;
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            using var model = ProbeCommand.LoadModel(backend, info, result.GetValue(ema), RepresentationConfig.ParseProbeFeatures(result.GetValue(features)));
            var embedded = model.Features(images.Images, images.Count); // [n, FeatureWidth]
            string path = result.GetValue(output)!;
            Npy.Write(path, embedded, images.Count, model.FeatureWidth);
            Console.WriteLine($"wrote {path}: float32 [{images.Count}, {model.FeatureWidth}] {result.GetValue(split)} "
                + $"{RepresentationConfig.ProbeFeatureName(model.Config.Representation.ProbeFeatures)} features of {images.Name}");
            if (result.GetValue(labels) is string labelPath)
            {
                Npy.Write(labelPath, images.Labels, images.Count);
                Console.WriteLine($"wrote {labelPath}: int32 [{images.Count}] labels");
            }
            return 0;
        }));
        return command;
    }
}
