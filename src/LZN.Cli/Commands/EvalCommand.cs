using System.CommandLine;
using System.Globalization;
using LZN.Native.Data;
using LZN.Native.Training;

namespace LZN.Cli.Commands;

/// <summary>`lzn eval --checkpoint FILE`: test accuracy of a joint-task checkpoint.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint.safetensors written by lzn train", Required = true };
        var data = new Option<string?>("--data") { Description = "fashion-mnist | synthetic | a folder (default: the data the checkpoint was trained on)" };
        var testLimit = new Option<int?>("--test-limit") { Description = "evaluate on only the first N test images" };
        var priorStd = new Option<float>("--prior-std") { Description = "std of the prior noise of the test latents (default 0: the zone's anchor-side start)" };
        var seed = new Option<ulong>("--seed") { Description = "seed of that noise", DefaultValueFactory = _ => 1 };
        var ema = new Option<bool>("--ema") { Description = "evaluate the EMA weights instead of the trained ones" };
        var device = CommonOptions.Device();
        var command = new Command("eval", "Report a checkpoint's classification accuracy on the test split.") { checkpoint, data, testLimit, priorStd, seed, ema, device };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var info = Checkpoint.Open(result.GetValue(checkpoint)!);
            string dataName = result.GetValue(data) ?? info.Config.Data;
            var (_, test) = DataSources.LoadAsync(dataName).GetAwaiter().GetResult();
            if (result.GetValue(testLimit) is int limit)
                test = test.Take(limit);
            if (test.Shape != RunOutputs.Shape(info.Config) || test.ClassCount > info.Config.ClassCount)
                throw new ArgumentException($"{dataName}: test images {test.Shape} with {test.ClassCount} classes do not fit the checkpoint's model ({RunOutputs.Shape(info.Config)}, {info.Config.ClassCount} classes).");
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            using var model = new JointModel(backend, info.Config);
            Checkpoint.LoadModel(info, model, result.GetValue(ema));
            float std = result.GetValue(priorStd);
            if (!(std >= 0))
                throw new ArgumentException($"--prior-std {std}: must be non-negative.");
            double accuracy = model.Accuracy(test.Images, test.Labels, std, result.GetValue(seed));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"test accuracy {accuracy:F4} ({accuracy:P2}) on {test.Count} {dataName} test images, eval batch {info.Config.EvalBatch}, prior std {std}, {(result.GetValue(ema) ? "EMA" : "trained")} weights, step {info.Step}"));
            return 0;
        }));
        return command;
    }
}
