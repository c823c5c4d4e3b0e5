using System.CommandLine;
using System.Globalization;
using LZN.Native.Data;
using LZN.Native.Training;
using LZN.Native.Zones;
using Spectre.Console;

namespace LZN.Cli.Commands;

/// <summary>`lzn train --task joint`: trains the joint generation + classification model into a run folder.</summary>
internal static class TrainCommand
{
    /// <summary>Exit code after Ctrl-C (128 + SIGINT): once the checkpoint is saved, or at once on a second Ctrl-C.</summary>
    public const int InterruptedExitCode = 130;

    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "the task to train: joint (generation + classification)", DefaultValueFactory = _ => "joint" };
        var data = new Option<string>("--data") { Description = "fashion-mnist | synthetic | a folder of MNIST-style files", DefaultValueFactory = _ => FashionMnist.Name };
        var device = CommonOptions.Device();
        var preset = new Option<string>("--preset")
        {
            Description = $"model and optimiser preset: {string.Join(", ", TrainingConfig.Presets.Keys)}",
            DefaultValueFactory = _ => TrainingConfig.DefaultPreset,
        };
        var epochs = new Option<int?>("--epochs") { Description = "epochs (default 1)" };
        var batch = new Option<int?>("--batch") { Description = "batch size (default: the preset's)" };
        var trainLimit = new Option<int?>("--train-limit") { Description = "use only the first N training images" };
        var testLimit = new Option<int?>("--test-limit") { Description = "evaluate on only the first N test images" };
        var seed = new Option<ulong?>("--seed") { Description = "seed of every random stream (default 1)" };
        var checkpointEvery = new Option<int?>("--checkpoint-every") { Description = "steps between checkpoints (default 500; 0 = end only)" };
        var logEvery = new Option<int?>("--log-every") { Description = "steps between metrics.jsonl lines" };
        var encoderRate = new Option<double?>("--lr-encoder") { Description = "encoder learning rate (default: the preset's)" };
        var decoderRate = new Option<double?>("--lr-decoder") { Description = "decoder learning rate (default: the preset's)" };
        var labelRate = new Option<double?>("--lr-labels") { Description = "label-anchor learning rate (default: the preset's)" };
        var warmup = new Option<long?>("--warmup") { Description = "linear warm-up steps (default: the preset's)" };
        var weightDecay = new Option<double?>("--weight-decay") { Description = "decoupled (AdamW) weight decay of every parameter group (default: the preset's, 0)" };
        var lrDecay = new Option<string?>("--lr-decay") { Description = "constant | cosine: learning rate after the warm-up (default: the preset's)" };
        var labelLoss = new Option<string?>("--label-loss") { Description = "prob | ce | ce-cutoff: the label loss (prob = the reference's; default: the preset's)" };
        var rfWeight = new Option<double?>("--rf-weight") { Description = "weight of the rectified-flow (decoder) loss; 0 trains a classifier only (default 1)" };
        var labelWeight = new Option<double?>("--label-weight") { Description = "weight of the label loss; 0 trains a generator only (default 1)" };
        var flip = new Option<bool?>("--flip") { Description = "true | false: random horizontal flips of the training images (default: the preset's)" };
        var shift = new Option<int?>("--shift") { Description = "random translation of the training images by up to N pixels (default: the preset's)" };
        var latentNoise = new Option<float?>("--latent-noise") { Description = "prior noise scale of the training latent flow (default: the preset's)" };
        var decoderLatentNoise = new Option<string?>("--decoder-latent-noise")
        {
            Description = "shared | a: the decoder's latents are the label loss's (shared) or come from their own latent flow at prior noise scale a (default: the preset's)",
        };
        var hidden = new Option<string?>("--hidden") { Description = "hidden widths of the MLP encoder, comma-separated, e.g. 1024,512 (default: the preset's)" };
        var encoderChannels = new Option<string?>("--encoder-channels") { Description = "channels of the CNN encoder's convolutions, comma-separated, e.g. 64,128,256 (default: the preset's, 32,64,128)" };
        var encoderDepth = new Option<int?>("--encoder-depth") { Description = "convolutions per stage of the CNN encoder (default: the preset's, 1)" };
        var encoderDropout = new Option<float?>("--dropout") { Description = "dropout rate of the encoder, in [0, 1) (default: the preset's, 0)" };
        var decoderChannels = new Option<int?>("--decoder-channels") { Description = "U-Net base channels of the decoder (default: the preset's)" };
        var latentSteps = new Option<int?>("--latent-steps") { Description = "Euler steps of the image latent flow (default: the preset's)" };
        var labelSteps = new Option<int?>("--label-steps") { Description = "Euler steps of the label flow (default: the preset's; 100 in the reference)" };
        var resume = new Option<bool>("--resume") { Description = "continue from the run folder's checkpoint" };
        var output = new Option<string>("--out") { Description = "run folder", DefaultValueFactory = _ => Path.Combine("runs", "joint") };
        var command = new Command("train", "Train a model; writes metrics.jsonl, checkpoint.safetensors, summary.json and samples.png into the run folder.")
        {
            task, data, device, preset, epochs, batch, trainLimit, testLimit, seed, checkpointEvery, logEvery,
            encoderRate, decoderRate, labelRate, warmup, weightDecay, lrDecay, labelLoss, rfWeight, labelWeight, flip, shift, latentNoise, decoderLatentNoise, hidden, encoderChannels, encoderDepth, encoderDropout, decoderChannels, latentSteps, labelSteps, resume, output,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            if (result.GetValue(task) != "joint")
                throw new ArgumentException($"--task {result.GetValue(task)}: only 'joint' is available.");
            string dataName = result.GetValue(data)!;
            var (train, test) = DataSources.LoadAsync(dataName).GetAwaiter().GetResult();
            var config = TrainingConfig.FromPreset(result.GetValue(preset)!);
            RequireEncoder(result.GetValue(hidden) is not null, "--hidden", EncoderKind.Mlp, "widths", config);
            RequireEncoder(result.GetValue(encoderChannels) is not null, "--encoder-channels", EncoderKind.Cnn, "channels", config);
            RequireEncoder(result.GetValue(encoderDepth) is not null, "--encoder-depth", EncoderKind.Cnn, "depth", config);
            config = config with
            {
                Epochs = result.GetValue(epochs) ?? config.Epochs,
                BatchSize = result.GetValue(batch) ?? config.BatchSize,
                Seed = result.GetValue(seed) ?? config.Seed,
                CheckpointEvery = result.GetValue(checkpointEvery) ?? config.CheckpointEvery,
                LogEvery = result.GetValue(logEvery) ?? config.LogEvery,
                EncoderLearningRate = result.GetValue(encoderRate) ?? config.EncoderLearningRate,
                DecoderLearningRate = result.GetValue(decoderRate) ?? config.DecoderLearningRate,
                LabelLearningRate = result.GetValue(labelRate) ?? config.LabelLearningRate,
                WarmupSteps = result.GetValue(warmup) ?? config.WarmupSteps,
                WeightDecay = result.GetValue(weightDecay) ?? config.WeightDecay,
                LatentNoiseScale = result.GetValue(latentNoise) ?? config.LatentNoiseScale,
                DecoderLatentNoiseScale = result.GetValue(decoderLatentNoise) switch
                {
                    null => config.DecoderLatentNoiseScale,
                    "shared" => null,
                    var text => float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float scale) && scale >= 0
                        ? scale
                        : throw new ArgumentException($"--decoder-latent-noise {text}: expected shared or a scale >= 0."),
                },
                HiddenSizes = result.GetValue(hidden) is { } widths ? ParseWidths(widths, "--hidden") : config.HiddenSizes,
                EncoderChannels = result.GetValue(encoderChannels) is { } channels ? ParseWidths(channels, "--encoder-channels") : config.EncoderChannels,
                EncoderDepth = result.GetValue(encoderDepth) ?? config.EncoderDepth,
                EncoderDropout = result.GetValue(encoderDropout) ?? config.EncoderDropout,
                DecoderChannels = result.GetValue(decoderChannels) ?? config.DecoderChannels,
                LatentSteps = result.GetValue(latentSteps) ?? config.LatentSteps,
                LabelSteps = result.GetValue(labelSteps) ?? config.LabelSteps,
                RectifiedFlowWeight = result.GetValue(rfWeight) ?? config.RectifiedFlowWeight,
                LabelWeight = result.GetValue(labelWeight) ?? config.LabelWeight,
                AugmentFlip = result.GetValue(flip) ?? config.AugmentFlip,
                AugmentShift = result.GetValue(shift) ?? config.AugmentShift,
                LearningRateDecay = result.GetValue(lrDecay) switch
                {
                    null => config.LearningRateDecay,
                    "constant" => LearningRateDecay.Constant,
                    "cosine" => LearningRateDecay.Cosine,
                    var other => throw new ArgumentException($"--lr-decay {other}: expected constant or cosine."),
                },
                LabelLoss = result.GetValue(labelLoss) switch
                {
                    null => config.LabelLoss,
                    var name => AssignmentLoss.Parse(name) ?? throw new ArgumentException($"--label-loss {name}: expected prob, ce or ce-cutoff."),
                },
                TrainLimit = result.GetValue(trainLimit) ?? 0,
                Data = dataName,
                ImageChannels = train.Shape.Channels,
                ImageHeight = train.Shape.Height,
                ImageWidth = train.Shape.Width,
                ClassCount = train.ClassCount,
            };
            if (config.TrainLimit > 0)
                train = train.Take(config.TrainLimit);
            if (result.GetValue(testLimit) is int limit)
                test = test.Take(limit);
            string runFolder = result.GetValue(output)!;
            Directory.CreateDirectory(runFolder);
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            using var trainer = new JointTrainer(backend, config, train, test, runFolder);
            if (result.GetValue(resume))
            {
                var repair = trainer.Resume(Checkpoint.Open(trainer.CheckpointPath));
                Console.WriteLine($"resuming {trainer.CheckpointPath} at step {trainer.Step} of {trainer.TotalSteps}");
                if (repair.Changed)
                {
                    Console.WriteLine($"{trainer.MetricsPath}: dropped {repair.DroppedLines} line(s) logged after the checkpoint"
                        + (repair.DroppedTornLine ? " and a torn last line" : ""));
                }
            }
            else
            {
                File.Delete(Path.Combine(runFolder, JointTrainer.MetricsFileName));
            }
            Console.WriteLine($"joint task: preset {config.Preset}, {train.Count} training / {test.Count} test images, batch {config.BatchSize}, "
                + $"{config.Epochs} epoch(s) = {trainer.TotalSteps} steps, {trainer.Model.Parameters.Sum(p => p.Length):N0} parameters, {backend.Description}");

            using var interrupts = new InterruptController();
            // The second Ctrl-C leaves e.Cancel false, so the runtime ends the process by SIGINT (exit code 130).
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                if (interrupts.Interrupt() == InterruptAction.StopAfterStep)
                {
                    e.Cancel = true;
                    Console.Error.WriteLine(InterruptController.StopNotice);
                }
            };
            Console.CancelKeyPress += onCancel;
            TrainingResult outcome;
            try
            {
                outcome = Console.IsOutputRedirected
                    ? trainer.Run(interrupts.Token, PrintStep, PrintEpoch)
                    : RunWithProgressBar(trainer, interrupts.Token);
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            if (!outcome.Completed)
            {
                Console.WriteLine($"interrupted after step {outcome.Step}: checkpoint saved to {trainer.CheckpointPath}; continue with --resume");
                return InterruptedExitCode;
            }
            RunOutputs.WriteSummary(Path.Combine(runFolder, RunOutputs.SummaryFileName), config, outcome, train.Count, test.Count, backend.Description);
            // With the decoder's loss switched off the decoder never trained: its "samples" would be noise.
            bool samples = config.RectifiedFlowWeight > 0;
            if (samples)
                RunOutputs.WriteSampleGrid(Path.Combine(runFolder, RunOutputs.SamplesFileName), trainer.Model);
            Console.WriteLine($"test accuracy {Format(outcome.TestAccuracy ?? 0)} on {test.Count} images (eval batch {config.EvalBatch}), "
                + $"{outcome.WallSeconds:F1} s; wrote {runFolder}/{{{JointTrainer.MetricsFileName}, {JointTrainer.CheckpointFileName}, {RunOutputs.SummaryFileName}"
                + (samples ? $", {RunOutputs.SamplesFileName}}}" : "} (no samples: --rf-weight 0)"));
            return 0;
        }));
        return command;
    }

    private static TrainingResult RunWithProgressBar(JointTrainer trainer, CancellationToken cancellation)
    {
        TrainingResult? outcome = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn { Width = 20 }, new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var bar = context.AddTask("training", maxValue: trainer.TotalSteps);
                bar.Value = trainer.Step;
                outcome = trainer.Run(cancellation, progress =>
                {
                    bar.Value = progress.Step;
                    bar.Description = Markup.Escape(DescribeShort(progress));
                }, epoch => AnsiConsole.MarkupLine(Markup.Escape(DescribeEpoch(epoch))));
            });
        return outcome!;
    }

    private static void PrintStep(TrainingProgress progress)
    {
        if (progress.IsLogStep)
            Console.WriteLine(Describe(progress));
    }

    private static void PrintEpoch(EpochResult epoch) => Console.WriteLine(DescribeEpoch(epoch));

    private static string Describe(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"step {p.Step}/{p.TotalSteps} epoch {p.Epoch} loss {p.Losses.Total:F4} (rf {p.Losses.RectifiedFlow:F4}, label {p.Losses.Label:F4}) "
        + $"{p.ItemsPerSecond:F0} items/s ETA {p.Eta:hh\\:mm\\:ss}");

    /// <summary>Fits an 80-column terminal beside the bar, percentage and ETA columns.</summary>
    private static string DescribeShort(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"ep {p.Epoch} loss {p.Losses.Total:F3} (rf {p.Losses.RectifiedFlow:F3} lbl {p.Losses.Label:F3}) {p.ItemsPerSecond:F0}/s");

    private static string DescribeEpoch(EpochResult e) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {e.Epoch} done at step {e.Step}: mean loss {e.MeanLosses.Total:F4} (rf {e.MeanLosses.RectifiedFlow:F4}, label {e.MeanLosses.Label:F4}), "
        + $"test accuracy {Format(e.TestAccuracy)}, {e.Seconds:F1} s");

    /// <summary>An encoder-shape option given for a preset with the other encoder is an error naming both.</summary>
    private static void RequireEncoder(bool given, string option, EncoderKind kind, string what, TrainingConfig config)
    {
        if (given && config.Encoder != kind)
            throw new ArgumentException(kind == EncoderKind.Mlp
                ? $"{option} sets the MLP encoder's {what}; preset {config.Preset} has a CNN encoder."
                : $"{option} sets the CNN encoder's {what}; preset {config.Preset} has an MLP encoder.");
    }

    /// <summary>"1024,512" -> [1024, 512]; anything else is an error naming the option.</summary>
    private static int[] ParseWidths(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var widths = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out widths[i]) || widths[i] <= 0)
                throw new ArgumentException($"{option} {text}: expected positive widths separated by commas, e.g. 1024,512.");
        }
        return widths;
    }

    private static string Format(double accuracy) => accuracy.ToString("P2", CultureInfo.InvariantCulture);
}
