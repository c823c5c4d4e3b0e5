using System.CommandLine;
using LZN.Native.Training;

namespace LZN.Cli.Commands;

/// <summary>`lzn sample --checkpoint FILE --class c --count n --out grid.png`: class-conditional samples.</summary>
internal static class SampleCommand
{
    /// <summary>The most samples one grid holds (each is a full run of the label flow and the decoder's sampler).</summary>
    public const int MaxCount = 4096;

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint.safetensors written by lzn train", Required = true };
        var classIndex = CliOptions.Int("--class", "the class to sample (joint-task checkpoints; a generation checkpoint samples unconditionally and takes none)", min: 0);
        var count = CliOptions.Int("--count", "samples (grid of up to 8 columns, rounded up to full rows)", 16, 1, MaxCount);
        var seed = CliOptions.UInt64("--seed", "sampling seed", RunOutputs.SampleSeed);
        var output = new Option<string>("--out") { Description = "PNG to write", Required = true };
        CliOptions.RequireExtension(output, "samples are written as a PNG grid", ".png");
        var device = CommonOptions.Device();
        var command = new Command("sample", "Generate images of one class from a joint-task checkpoint, or unconditional images from a generation-task checkpoint.") { checkpoint, classIndex, count, seed, output, device };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var info = Checkpoint.Open(result.GetValue(checkpoint)!);
            foreach (string warning in info.Warnings)
                Console.Error.WriteLine($"warning: {warning}");
            Checkpoint.RequireTask(info, "lzn sample", TrainingTask.Joint, TrainingTask.Generation);
            string path = result.GetValue(output)!;
            if (info.Config.Task == TrainingTask.Generation)
            {
                if (result.GetValue(classIndex) is not null)
                    throw new ArgumentException("--class: a generation-task checkpoint samples unconditionally (latents from the prior); leave --class out.");
                using var generationBackend = CommonOptions.CreateBackend(result.GetValue(device));
                using var generator = new GenerationModel(generationBackend, info.Config);
                Checkpoint.LoadModel(info, generator.Parameters);
                RunOutputs.WriteUnconditionalSamples(path, generator, result.GetValue(count), result.GetValue(seed));
                Console.WriteLine($"wrote {path}");
                return 0;
            }
            if (result.GetValue(classIndex) is not int wanted)
                throw new ArgumentException("--class is required for a joint-task checkpoint (its samples are class-conditional).");
            if (info.Config.Loss.RectifiedFlowWeight == 0)
                throw new ArgumentException($"{info.Path}: trained with rf_weight 0, so its decoder was never trained and cannot sample.");
            if (wanted >= info.Config.Data.ClassCount)
                throw new ArgumentException($"--class {wanted}: the checkpoint's model has classes 0..{info.Config.Data.ClassCount - 1}.");
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            using var model = new JointModel(backend, info.Config);
            Checkpoint.LoadModel(info, model);
            RunOutputs.WriteClassSamples(path, model, wanted, result.GetValue(count), result.GetValue(seed));
            Console.WriteLine($"wrote {path}");
            return 0;
        }));
        return command;
    }
}
