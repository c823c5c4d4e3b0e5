using System.CommandLine;
using LZN.Native.Training;

namespace LZN.Cli.Commands;

/// <summary>
/// `lzn sample --checkpoint FILE --class c --count n --out grid.png`: class-conditional samples; unconditional ones of a
/// generation-task checkpoint, or with `--compare OTHER` those of two generation checkpoints side by side.
/// </summary>
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
        var compare = new Option<string?>("--compare")
        {
            Description = "generation checkpoints: a second one (e.g. the --latent none baseline) sampled from the same noise; each row holds "
                + "--checkpoint's samples, a gray cell, then this one's, column for column",
        };
        var output = new Option<string>("--out") { Description = "PNG to write", Required = true };
        CliOptions.RequireExtension(output, "samples are written as a PNG grid", ".png");
        var device = CommonOptions.Device();
        var command = new Command("sample", "Generate images of one class from a joint-task checkpoint, or unconditional images from a generation-task checkpoint (with --compare, two side by side).") { checkpoint, classIndex, count, seed, compare, output, device };
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
                if (result.GetValue(compare) is string other)
                {
                    WriteSideBySide(info, other, path, result);
                    return 0;
                }
                using var generationBackend = CommonOptions.CreateBackend(result.GetValue(device));
                using var generator = new GenerationModel(generationBackend, info.Config);
                Checkpoint.LoadModel(info, generator.Parameters);
                RunOutputs.WriteUnconditionalSamples(path, generator, result.GetValue(count), result.GetValue(seed));
                Console.WriteLine($"wrote {path}");
                return 0;
            }
            if (result.GetValue(compare) is not null)
                throw new ArgumentException($"--compare: compares generation-task checkpoints; {info.Path} is a joint-task one.");
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

        static string LatentName(CheckpointInfo info) => info.Config.Decoder.ZeroLatent ? "none" : "lzn";

        void WriteSideBySide(CheckpointInfo info, string otherPath, string path, ParseResult result)
        {
            var otherInfo = Checkpoint.Open(otherPath);
            foreach (string warning in otherInfo.Warnings)
                Console.Error.WriteLine($"warning: {warning}");
            Checkpoint.RequireTask(otherInfo, "lzn sample --compare", TrainingTask.Generation);
            if (RunOutputs.Shape(otherInfo.Config) != RunOutputs.Shape(info.Config))
                throw new ArgumentException($"--compare {otherInfo.Path}: its images are {RunOutputs.Shape(otherInfo.Config)}, --checkpoint's {RunOutputs.Shape(info.Config)}; side by side needs one shape.");
            // Different sampler steps would compare two samplers as well as two decoders.
            if (otherInfo.Config.Decoder.SampleSteps != info.Config.Decoder.SampleSteps)
                throw new ArgumentException($"--compare {otherInfo.Path}: samples in {otherInfo.Config.Decoder.SampleSteps} steps, --checkpoint in {info.Config.Decoder.SampleSteps}; side by side needs the same sampler.");
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            using var left = new GenerationModel(backend, info.Config);
            Checkpoint.LoadModel(info, left.Parameters);
            using var right = new GenerationModel(backend, otherInfo.Config);
            Checkpoint.LoadModel(otherInfo, right.Parameters);
            RunOutputs.WriteSideBySide(path, left, right, result.GetValue(count), result.GetValue(seed));
            Console.WriteLine($"wrote {path}: left {info.Path} (latent {LatentName(info)}), right {otherInfo.Path} (latent {LatentName(otherInfo)}), seed {result.GetValue(seed)}");
        }
    }
}
