using System.CommandLine;
using LZN.Native.Training;

namespace LZN.Cli.Commands;

/// <summary>`lzn sample --checkpoint FILE --class c --count n --out grid.png`: class-conditional samples.</summary>
internal static class SampleCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint.safetensors written by lzn train", Required = true };
        var classIndex = new Option<int>("--class") { Description = "the class to sample", Required = true };
        var count = new Option<int>("--count") { Description = "samples (grid of up to 8 columns, rounded up to full rows)", DefaultValueFactory = _ => 16 };
        var seed = new Option<ulong>("--seed") { Description = "sampling seed", DefaultValueFactory = _ => RunOutputs.SampleSeed };
        var output = new Option<string>("--out") { Description = "PNG to write", Required = true };
        var device = CommonOptions.Device();
        var command = new Command("sample", "Generate images of one class from a joint-task checkpoint.") { checkpoint, classIndex, count, seed, output, device };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var info = Checkpoint.Open(result.GetValue(checkpoint)!);
            if (info.Config.RectifiedFlowWeight == 0)
                throw new ArgumentException($"{info.Path}: trained with rf_weight 0, so its decoder was never trained and cannot sample.");
            int wanted = result.GetValue(classIndex);
            if (wanted < 0 || wanted >= info.Config.ClassCount)
                throw new ArgumentException($"--class {wanted}: the checkpoint's model has classes 0..{info.Config.ClassCount - 1}.");
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            using var model = new JointModel(backend, info.Config);
            Checkpoint.LoadModel(info, model);
            string path = result.GetValue(output)!;
            RunOutputs.WriteClassSamples(path, model, wanted, result.GetValue(count), result.GetValue(seed));
            Console.WriteLine($"wrote {path}");
            return 0;
        }));
        return command;
    }
}
