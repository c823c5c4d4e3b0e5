using System.CommandLine;
using System.Globalization;
using LZN.Native.Data;
using LZN.Native.IO;
using LZN.Native.Metrics;
using LZN.Native.Training;
using LZN.Native.Zones;
using Spectre.Console;

namespace LZN.Cli.Commands;

/// <summary>`lzn train --task joint|representation`: trains a task's model into a run folder.</summary>
internal static class TrainCommand
{
    /// <summary>Exit code after Ctrl-C (128 + SIGINT): once the checkpoint is saved, or at once on a second Ctrl-C.</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>The preset of `--task representation` without --preset.</summary>
    public const string RepresentationPreset = "rep-cnn";

    /// <summary>Test images the end of a generation run reconstructs for summary.json.</summary>
    public const int ReconstructionImages = 1000;

    /// <summary>The preset of `--task generation` without --preset.</summary>
    public const string GenerationPreset = "gen-mlp";

    /// <summary>
    /// One option that overrides a config field: the option (its parser, and the message for a value it cannot parse),
    /// the field's JSON key (so a range error from <see cref="TrainingConfig.Validate"/> names the option), the tasks
    /// whose models have the field (any other task refuses the option), and how a given value changes the config.
    /// </summary>
    private sealed record Override(Option Option, string Key, TrainingTask[] Tasks, Func<ParseResult, TrainingConfig, TrainingConfig> Apply);

    private static readonly TrainingTask[] AllTasks = Enum.GetValues<TrainingTask>();
    private static readonly TrainingTask[] JointOnly = [TrainingTask.Joint];
    private static readonly TrainingTask[] OnlyGeneration = [TrainingTask.Generation];
    private static readonly TrainingTask[] WithDecoder = [TrainingTask.Joint, TrainingTask.Generation];
    private static readonly TrainingTask[] WithLabelFlow = [TrainingTask.Joint, TrainingTask.Representation];

    private static Override Set<T>(Option<T?> option, string key, TrainingTask[] tasks, Func<TrainingConfig, T, TrainingConfig> apply)
        where T : struct => new(option, key, tasks, (result, config) => result.GetValue(option) is T value ? apply(config, value) : config);

    private static Override Set(Option<string?> option, string key, TrainingTask[] tasks, Func<TrainingConfig, string, TrainingConfig> apply) =>
        new(option, key, tasks, (result, config) => result.GetValue(option) is string value ? apply(config, value) : config);

    /// <summary>Every option that sets a config field, in one table: the option, the field it sets, the tasks it applies to, and how.</summary>
    private static List<Override> Overrides() =>
    [
        Set(CliOptions.Int("--epochs", "epochs (default 1)"), "epochs", AllTasks, (c, v) => c with { Schedule = c.Schedule with { Epochs = v } }),
        Set(CliOptions.Int("--batch", "batch size (default: the preset's)"), "batch_size", AllTasks, (c, v) => c with { Schedule = c.Schedule with { BatchSize = v } }),
        Set(CliOptions.UInt64("--seed", "seed of every random stream (default 1)"), "seed", AllTasks, (c, v) => c with { Seed = v }),
        Set(CliOptions.Int("--checkpoint-every", "steps between checkpoints (default 500; 0 = end only)"), "checkpoint_every", AllTasks,
            (c, v) => c with { Schedule = c.Schedule with { CheckpointEvery = v } }),
        Set(CliOptions.Int("--log-every", "steps between metrics.jsonl lines"), "log_every", AllTasks, (c, v) => c with { Schedule = c.Schedule with { LogEvery = v } }),
        Set(CliOptions.Number("--lr-encoder", "encoder learning rate (default: the preset's)"), "encoder_lr", AllTasks,
            (c, v) => c with { Optimizer = c.Optimizer with { EncoderLearningRate = v } }),
        Set(CliOptions.Number("--lr-decoder", "decoder learning rate (default: the preset's)"), "decoder_lr", WithDecoder,
            (c, v) => c with { Optimizer = c.Optimizer with { DecoderLearningRate = v } }),
        Set(CliOptions.Number("--lr-labels", "label-anchor learning rate (default: the preset's)"), "label_lr", JointOnly,
            (c, v) => c with { Optimizer = c.Optimizer with { LabelLearningRate = v } }),
        Set(CliOptions.Long("--warmup", "linear warm-up steps (default: the preset's)"), "warmup_steps", AllTasks, (c, v) => c with { Optimizer = c.Optimizer with { WarmupSteps = v } }),
        Set(CliOptions.Number("--weight-decay", "decoupled (AdamW) weight decay of every parameter group (default: the preset's, 0)"), "weight_decay", AllTasks,
            (c, v) => c with { Optimizer = c.Optimizer with { WeightDecay = v } }),
        Set(CliOptions.Choice("--lr-decay", "constant | cosine: learning rate after the warm-up (default: the preset's)", "constant", "cosine"), "lr_decay", AllTasks,
            (c, v) => c with { Optimizer = c.Optimizer with { LearningRateDecay = v == "cosine" ? LearningRateDecay.Cosine : LearningRateDecay.Constant } }),
        Set(CliOptions.Choice("--label-loss", "prob | ce | ce-cutoff: the label loss (prob = the reference's; default: the preset's)", "prob", "ce", "ce-cutoff"), "label_loss",
            WithLabelFlow, (c, v) => c with { Loss = c.Loss with { Label = AssignmentLoss.Parse(v)!.Value } }),
        Set(CliOptions.Number("--rf-weight", "weight of the rectified-flow (decoder) loss; 0 trains a classifier only (default 1)"), "rf_weight", JointOnly,
            (c, v) => c with { Loss = c.Loss with { RectifiedFlowWeight = v } }),
        Set(CliOptions.Number("--label-weight", "weight of the label loss; 0 trains a generator only (default 1)"), "label_weight", JointOnly,
            (c, v) => c with { Loss = c.Loss with { LabelWeight = v } }),
        Set(CliOptions.Choice("--flip", "true | false: random horizontal flips of the training images (default: the preset's)", "true", "false"), "augment_flip", JointOnly,
            (c, v) => c with { Augmentation = c.Augmentation with { Flip = v == "true" } }),
        Set(CliOptions.Int("--shift", "random translation of the training images by up to N pixels (default: the preset's)"), "augment_shift", JointOnly,
            (c, v) => c with { Augmentation = c.Augmentation with { Shift = v } }),
        Set(CliOptions.Single("--latent-noise", "prior noise scale of the training latent flow (default: the preset's)"), "latent_noise_scale", AllTasks,
            (c, v) => c with { Latent = c.Latent with { NoiseScale = v } }),
        Set(DecoderLatentNoise(), "decoder_latent_noise_scale", JointOnly,
            (c, v) => c with { Decoder = c.Decoder with { LatentNoiseScale = v == "shared" ? null : float.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture) } }),
        Set(Widths("--hidden", "hidden widths of the MLP encoder, comma-separated, e.g. 1024,512 (default: the preset's)"), "hidden_sizes", WithDecoder,
            (c, v) => c with { Encoder = RequireEncoder(c, "--hidden", EncoderKind.Mlp, "widths") with { HiddenSizes = ParseWidths(v) } }),
        Set(Widths("--encoder-channels", "channels of the CNN encoder's convolutions, comma-separated, e.g. 64,128,256 (default: the preset's, 32,64,128)"), "encoder_channels",
            AllTasks, (c, v) => c with { Encoder = RequireEncoder(c, "--encoder-channels", EncoderKind.Cnn, "channels") with { Channels = ParseWidths(v) } }),
        Set(CliOptions.Int("--encoder-depth", "convolutions per stage of the CNN encoder (default: the preset's, 1)"), "encoder_depth", AllTasks,
            (c, v) => c with { Encoder = RequireEncoder(c, "--encoder-depth", EncoderKind.Cnn, "depth") with { Depth = v } }),
        Set(CliOptions.Single("--dropout", "dropout rate of the encoder, in [0, 1) (default: the preset's, 0)"), "encoder_dropout", JointOnly,
            (c, v) => c with { Encoder = c.Encoder with { Dropout = v } }),
        Set(CliOptions.Int("--decoder-channels", "U-Net base channels of the decoder (default: the preset's)"), "decoder_channels", WithDecoder,
            (c, v) => c with { Decoder = c.Decoder with { Channels = v } }),
        Set(CliOptions.Int("--latent-steps", "steps of the image latent flow (default: the preset's)"), "latent_steps", AllTasks,
            (c, v) => c with { Latent = c.Latent with { Steps = v } }),
        Set(CliOptions.Choice("--solver", "generation task: euler | dpm (DPM-Solver++, the reference's encoder flow): the solver of the image latent flow, "
            + "in training and in every later encode of the checkpoint (default euler)", "euler", "dpm"), "latent_solver", OnlyGeneration,
            (c, v) => c with { Latent = c.Latent with { Solver = v == "dpm" ? FlowSolver.DpmSolverPlusPlus : FlowSolver.Euler } }),
        Set(CliOptions.Int("--solver-order", "generation task with --solver dpm: the order of DPM-Solver++, 1 to 3 (default 3)"), "latent_solver_order", OnlyGeneration,
            (c, v) => c with { Latent = c.Latent with { SolverOrder = v } }),
        Set(CliOptions.Int("--label-steps", "Euler steps of the label flow (default: the preset's; 100 in the reference)"), "label_steps", WithLabelFlow,
            (c, v) => c with { Latent = c.Latent with { LabelSteps = v } }),
        Set(CliOptions.Int("--train-limit", "use only the first N training images (N >= 1)", min: 1), "train_limit", AllTasks,
            (c, v) => c with { Data = c.Data with { TrainLimit = v } }),
        Set(CliOptions.Int("--latent-dim", "latent size d, the anchors' width (default: the preset's)"), "latent_dim", AllTasks, (c, v) => c with { Latent = c.Latent with { Dim = v } }),
        Set(CliOptions.Number("--ema-decay", "EMA decay of the weights, in [0, 1]; 0 keeps no EMA (default: the preset's)"), "ema_decay", AllTasks,
            (c, v) => c with { Optimizer = c.Optimizer with { EmaDecay = v } }),
        Set(CliOptions.Long("--freeze-encoder-after", "optimiser steps after which the encoder stops training (default: never)"), "freeze_encoder_after", AllTasks,
            (c, v) => c with { Optimizer = c.Optimizer with { FreezeEncoderAfter = v } }),
        Set(CliOptions.Long("--freeze-decoder-after", "optimiser steps after which the decoder stops training (default: never)"), "freeze_decoder_after", WithDecoder,
            (c, v) => c with { Optimizer = c.Optimizer with { FreezeDecoderAfter = v } }),
        Set(CliOptions.Long("--freeze-labels-after", "optimiser steps after which the label anchors stop training (default: never)"), "freeze_labels_after", JointOnly,
            (c, v) => c with { Optimizer = c.Optimizer with { FreezeLabelsAfter = v } }),
        Set(CliOptions.Int("--feature-dim", "representation task: width of the backbone's features, what the probe reads (default: the preset's, 256)"), "feature_dim",
            [TrainingTask.Representation], (c, v) => c with { Representation = c.Representation with { FeatureDim = v } }),
        Set(CliOptions.Int("--projection-hidden", "representation task: hidden width of the projection head (default: the preset's, 256)"), "projection_hidden",
            [TrainingTask.Representation], (c, v) => c with { Representation = c.Representation with { ProjectionHidden = v } }),
        Set(ProbeCommand.FeaturesOption(), "probe_features", [TrainingTask.Representation],
            (c, v) => c with { Representation = c.Representation with { ProbeFeatures = RepresentationConfig.ParseProbeFeatures(v)!.Value } }),
        Set(CliOptions.Choice("--latent", "generation task: lzn (the decoder conditioned on each image's latent) | none (its latent input zeroed: the plain rectified-flow baseline)", "lzn", "none"),
            "latent", [TrainingTask.Generation], (c, v) => c with { Decoder = c.Decoder with { ZeroLatent = v == "none" } }),
        Set(Views(), "views", [TrainingTask.Representation],
            (c, v) => c with { Augmentation = c.Augmentation with { Views = v == "none" ? [] : v.Split(',', StringSplitOptions.TrimEntries) } }),
    ];

    /// <summary>"--views crop,flip": distinct names of the view augmentations, or none.</summary>
    private static Option<string?> Views()
    {
        var option = new Option<string?>("--views")
        {
            Description = $"representation task: the views' augmentations, comma-separated among {string.Join(",", ViewAugmentation.Names)}, or none (default: the preset's, {string.Join(",", ViewAugmentation.DefaultNames)})",
        };
        option.Validators.Add(result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "none";
            if (text != "none" && ViewAugmentation.Parse(text.Split(',', StringSplitOptions.TrimEntries)) is null)
                result.AddError($"--views {text}: expected distinct names among {string.Join(", ", ViewAugmentation.Names)} separated by commas, or none.");
        });
        return option;
    }

    public static Command Create()
    {
        var task = CliOptions.ChoiceOrDefault("--task",
            "the task to train: joint (generation + classification) | representation (unsupervised, two views) | generation (RF decoder conditioned on LZN latents)",
            "joint", "joint", "representation", "generation");
        var data = new Option<string>("--data") { Description = "fashion-mnist | synthetic | a folder of MNIST-style files", DefaultValueFactory = _ => FashionMnist.Name };
        var classes = CliOptions.Int("--classes", "classes of a folder's labels, 0..N-1 (default: the largest training label + 1, every class present)", min: 1);
        var device = CommonOptions.Device();
        var preset = CliOptions.Choice("--preset", $"model and optimiser preset: {string.Join(", ", TrainingConfig.Presets.Keys)} "
            + $"(default: {TrainingConfig.DefaultPreset} for the joint task, {RepresentationPreset} for the representation task)", [.. TrainingConfig.Presets.Keys]);
        var testLimit = CliOptions.Int("--test-limit", "evaluate on only the first N test images (N >= 1)", min: 1);
        var resume = new Option<bool>("--resume") { Description = "continue the run whose checkpoint the run folder holds" };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace the run the run folder holds (its checkpoint, metrics, summary and samples are deleted)" };
        var output = new Option<string>("--out") { Description = "run folder (default: runs/TASK)" };
        var overrides = Overrides();
        var command = new Command("train",
            "Train a model; writes metrics.jsonl, checkpoint.safetensors, summary.json and samples.png into the run folder (a folder holding a run needs --resume or --overwrite).")
        {
            task, data, classes, device, preset, testLimit, resume, overwrite, output,
        };
        foreach (var entry in overrides)
            command.Options.Add(entry.Option);
        var optionOfKey = overrides.ToDictionary(entry => entry.Key, entry => entry.Option.Name, StringComparer.Ordinal);
        command.SetAction(result => DistributedRun.Run(collective =>
        {
            bool resuming = result.GetValue(resume);
            if (resuming && result.GetValue(overwrite))
                throw new ArgumentException("--resume continues the run in the folder and --overwrite replaces it; give one of them.");
            var taskKind = TrainingConfig.ParseTask(result.GetValue(task)!)!.Value;
            string presetName = result.GetValue(preset) ?? taskKind switch
            {
                TrainingTask.Representation => RepresentationPreset,
                TrainingTask.Generation => GenerationPreset,
                _ => TrainingConfig.DefaultPreset,
            };
            var presetConfig = TrainingConfig.FromPreset(presetName);
            if (presetConfig.Task != taskKind)
            {
                throw new ArgumentException($"--preset {presetName} is a {TrainingConfig.TaskName(presetConfig.Task)}-task preset; --task {TrainingConfig.TaskName(taskKind)} takes "
                    + string.Join(", ", TrainingConfig.Presets.Keys.Where(name => TrainingConfig.FromPreset(name).Task == taskKind)) + ".");
            }
            foreach (var entry in overrides)
            {
                bool given = result.GetResult(entry.Option) is { Implicit: false };
                if (given && !entry.Tasks.Contains(taskKind))
                    throw new ArgumentException($"{entry.Option.Name} does not apply to --task {TrainingConfig.TaskName(taskKind)}.");
            }
            var config = overrides.Aggregate(presetConfig, (current, entry) => entry.Apply(result, current));
            // Range errors surface now, before the data is loaded or the run folder touched.
            config.Validate();
            if (config.Schedule.BatchSize < collective.WorldSize)
                throw new ArgumentException($"--batch {config.Schedule.BatchSize}: the global batch must give each of the {collective.WorldSize} ranks at least one image.");

            string runFolder = result.GetValue(output) ?? Path.Combine("runs", TrainingConfig.TaskName(taskKind));
            var mode = resuming ? RunFolderMode.Resume : result.GetValue(overwrite) ? RunFolderMode.Overwrite : RunFolderMode.New;
            // Rank 0 alone owns the run folder; the others read its checkpoint after rank 0 has opened (or cleared) it.
            using var folder = collective.Rank == 0 ? RunFolder.Open(runFolder, mode, Console.Error.WriteLine) : null;
            collective.Barrier();

            string dataName = result.GetValue(data)!;
            var (train, test) = DataSources.LoadAsync(dataName, classCount: result.GetValue(classes)).GetAwaiter().GetResult();
            config = config with
            {
                Data = config.Data with { Source = dataName, ImageChannels = train.Shape.Channels, ImageHeight = train.Shape.Height, ImageWidth = train.Shape.Width, ClassCount = train.ClassCount },
            };
            if (config.Data.TrainLimit > 0)
                train = train.Take(config.Data.TrainLimit);
            if (result.GetValue(testLimit) is int limit)
                test = test.Take(limit);
            if (train.Count < config.Schedule.BatchSize)
                throw new ArgumentException($"--batch {config.Schedule.BatchSize}: {dataName} has only {train.Count} training images{(config.Data.TrainLimit > 0 ? " within --train-limit" : "")}, fewer than one batch.");

            using var backend = CommonOptions.CreateBackend(DistributedRun.DeviceOfRank(result.GetValue(device), collective));
            using var nccl = LZN.Native.Distributed.DistributedLaunch.ForDevice(collective, backend);
            var ranks = (LZN.Native.Distributed.ICollective?)nccl ?? collective;
            using var trainer = TrainingLoop.CreateTrainer(backend, config, train, test, runFolder, ranks);
            if (resuming)
            {
                var checkpoint = Checkpoint.Open(trainer.CheckpointPath);
                foreach (string warning in checkpoint.Warnings)
                    Console.Error.WriteLine($"warning: {warning}");
                var repair = trainer.Resume(checkpoint);
                Console.WriteLine($"resuming {trainer.CheckpointPath} at step {trainer.Step} of {trainer.TotalSteps}");
                if (repair.Changed)
                {
                    Console.WriteLine($"{trainer.MetricsPath}: dropped {repair.DroppedLines} line(s) logged after the checkpoint"
                        + (repair.DroppedTornLine ? " and a torn last line" : ""));
                }
            }
            Console.WriteLine($"{TrainingConfig.TaskName(taskKind)} task: preset {config.Preset}, {train.Count} training / {test.Count} test images, batch {config.Schedule.BatchSize}, "
                + $"{config.Schedule.Epochs} epoch(s) = {trainer.TotalSteps} steps, {trainer.Parameters.Sum(p => p.Length):N0} parameters, {backend.Description}"
                + (collective.WorldSize > 1 ? $", {nccl?.Description ?? collective.Description} (rank 0 of {collective.WorldSize}: {BatchShardOf(collective, config.Schedule.BatchSize)})" : ""));

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
                // Open MPI hands its ranks a terminal even when mpirun's own output goes to a file: plain lines there too.
                outcome = Console.IsOutputRedirected || collective.WorldSize > 1
                    ? TrainingLoop.Run(trainer, interrupts.Token, progress => PrintStep(progress, taskKind), epoch => Console.WriteLine(DescribeEpoch(epoch, taskKind)))
                    : RunWithProgressBar(trainer, interrupts.Token);
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            ReportSkippedSteps(outcome, trainer.TotalSteps);
            if (trainer.NonFiniteEvaluations > 0)
            {
                Console.Error.WriteLine($"warning: at {trainer.NonFiniteEvaluations} evaluation(s) the model's outputs were not finite (its weights overflow the flows); "
                    + "the test accuracy there is n/a (null in metrics.jsonl).");
            }
            if (!outcome.Completed)
            {
                Console.WriteLine($"interrupted after step {outcome.Step}: checkpoint saved to {trainer.CheckpointPath}; continue with --resume");
                return InterruptedExitCode;
            }
            if (!trainer.IsWriter)
                return 0;
            if (trainer is RepresentationTrainer representation)
            {
                FinishRepresentation(representation, outcome, train, test, backend.Description);
                return 0;
            }
            if (trainer is GenerationTrainer generation)
            {
                // The reconstruction protocol is cheap (two Euler passes over 1,000 test images); FD needs the feature classifier: lzn eval --fd.
                var reconstructed = test.Take(Math.Min(ReconstructionImages, test.Count));
                var scores = reconstructed.Count == 0 ? (L2: double.NaN, Psnr: double.NaN)
                    : GenerationModel.ReconstructionScores(reconstructed.Images, generation.Model.Reconstruct(reconstructed.Images, reconstructed.Count, config.Seed), reconstructed.Count);
                RunOutputs.WriteSummary(Path.Combine(runFolder, RunOutputs.SummaryFileName), config, outcome, train.Count, test.Count, backend.Description,
                    new Dictionary<string, double>(StringComparer.Ordinal) { ["reconstruction_l2"] = scores.L2, ["reconstruction_psnr"] = scores.Psnr }, collective.WorldSize);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"reconstruction_l2 {scores.L2:F4}, reconstruction_psnr {scores.Psnr:F2} dB on the first {reconstructed.Count} test images (seed {config.Seed})"));
                RunOutputs.WriteUnconditionalSamples(Path.Combine(runFolder, RunOutputs.SamplesFileName), generation.Model, 64, RunOutputs.SampleSeed);
                Console.WriteLine($"{outcome.WallSeconds:F1} s; wrote {runFolder}/{{{JointTrainer.MetricsFileName}, {JointTrainer.CheckpointFileName}, {RunOutputs.SummaryFileName}, "
                    + $"{RunOutputs.SamplesFileName}}}; FD and reconstruction: lzn eval --checkpoint {trainer.CheckpointPath} --fd --reconstruction");
                return 0;
            }
            var joint = (JointTrainer)trainer;
            RunOutputs.WriteSummary(Path.Combine(runFolder, RunOutputs.SummaryFileName), config, outcome, train.Count, test.Count, backend.Description,
                worldSize: collective.WorldSize);
            // With the decoder's loss switched off the decoder never trained: its "samples" would be noise.
            bool samples = config.Loss.RectifiedFlowWeight > 0;
            if (samples)
                RunOutputs.WriteSampleGrid(Path.Combine(runFolder, RunOutputs.SamplesFileName), joint.Model);
            Console.WriteLine($"test accuracy {Format(outcome.TestAccuracy ?? double.NaN)} on {test.Count} images (eval batch {config.Schedule.EvalBatch}), "
                + $"{outcome.WallSeconds:F1} s; wrote {runFolder}/{{{JointTrainer.MetricsFileName}, {JointTrainer.CheckpointFileName}, {RunOutputs.SummaryFileName}"
                + (samples ? $", {RunOutputs.SamplesFileName}}}" : "} (no samples: --rf-weight 0)"));
            return 0;
        }, optionOfKey));
        return command;
    }

    /// <summary>"rows per rank 43 + 43 + 42 of the global batch 128".</summary>
    private static string BatchShardOf(LZN.Native.Distributed.ICollective collective, int batchSize) =>
        $"rows per rank {string.Join(" + ", LZN.Native.Distributed.BatchShard.Of(collective, batchSize).RowCounts)} of the global batch {batchSize}";

    /// <summary>Steps whose loss or gradient was not finite were skipped, not applied: say how many, and what usually helps.</summary>
    private static void ReportSkippedSteps(TrainingResult outcome, long totalSteps)
    {
        if (outcome.SkippedSteps == 0)
            return;
        Console.Error.WriteLine($"warning: {outcome.SkippedSteps} of {totalSteps} steps were skipped because the loss or the gradient was not finite "
            + "(logged as null in metrics.jsonl); lower the learning rates (--lr-encoder, --lr-decoder, --lr-labels) if this keeps happening.");
    }

    private static Option<string?> DecoderLatentNoise()
    {
        var option = new Option<string?>("--decoder-latent-noise")
        {
            Description = "shared | a: the decoder's latents are the label loss's (shared) or come from their own latent flow at prior noise scale a (default: the preset's)",
        };
        option.Validators.Add(result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "shared";
            if (text != "shared" && !(float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float scale) && float.IsFinite(scale) && scale >= 0))
                result.AddError($"--decoder-latent-noise {text}: expected shared or a scale >= 0.");
        });
        return option;
    }

    /// <summary>"1024,512": positive widths separated by commas; anything else is a parse error naming the option.</summary>
    private static Option<string?> Widths(string name, string description)
    {
        var option = new Option<string?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count == 1 && !TryParseWidths(result.Tokens[0].Value, out _))
                result.AddError($"{name} {result.Tokens[0].Value}: expected positive widths separated by commas, e.g. 1024,512.");
        });
        return option;
    }

    private static int[] ParseWidths(string text) => TryParseWidths(text, out int[] widths) ? widths : throw new ArgumentException($"bad widths '{text}'.");

    private static bool TryParseWidths(string text, out int[] widths)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        widths = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out widths[i]) || widths[i] <= 0)
                return false;
        }
        return true;
    }

    /// <summary>The config's encoder, to change; an encoder-shape option given for a preset with the other encoder is an error naming both.</summary>
    private static EncoderConfig RequireEncoder(TrainingConfig config, string option, EncoderKind kind, string what) =>
        config.Encoder.Kind == kind ? config.Encoder : throw new ArgumentException(kind == EncoderKind.Mlp
            ? $"{option} sets the MLP encoder's {what}; preset {config.Preset} has a CNN encoder."
            : $"{option} sets the CNN encoder's {what}; preset {config.Preset} has an MLP encoder.");

    /// <summary>
    /// The representation task's end of run: the linear probe and k-NN of the trained backbone's features (train split vs
    /// test split), summary.json with both, and the test features' PCA picture.
    /// </summary>
    private static void FinishRepresentation(RepresentationTrainer trainer, TrainingResult outcome, ImageDataset train,
        ImageDataset test, string device)
    {
        var config = trainer.Config;
        var testFeatures = trainer.Model.Features(test.Images, test.Count);
        var scores = RepresentationScores.Measure(trainer.Model.Backbone.Backend, trainer.Model.Features(train.Images, train.Count), train.Labels,
            testFeatures, test.Labels, trainer.Model.FeatureWidth, Math.Max(train.ClassCount, test.ClassCount), config.Seed);
        RunOutputs.WriteSummary(Path.Combine(trainer.RunFolder, RunOutputs.SummaryFileName), config, outcome, train.Count, test.Count, device,
            new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["linear_probe_accuracy"] = scores.LinearProbeAccuracy,
                ["knn_accuracy"] = scores.KnnAccuracy,
            }, trainer.WorldSize);
        EmbeddingPlot.WritePca(Path.Combine(trainer.RunFolder, RunOutputs.EmbeddingFileName), testFeatures, test.Labels, trainer.Model.FeatureWidth);
        Console.WriteLine($"linear probe {Format(scores.LinearProbeAccuracy)}, k-NN (k={NearestNeighbours.DefaultK}, cosine) {Format(scores.KnnAccuracy)} on {test.Count} test images "
            + $"({trainer.Model.FeatureWidth} {RepresentationConfig.ProbeFeatureName(config.Representation.ProbeFeatures)} features, trained weights), {outcome.WallSeconds:F1} s of training; wrote {trainer.RunFolder}/{{{JointTrainer.MetricsFileName}, "
            + $"{JointTrainer.CheckpointFileName}, {RunOutputs.SummaryFileName}, {RunOutputs.EmbeddingFileName}}}");
    }

    private static TrainingResult RunWithProgressBar(ITaskTrainer trainer, CancellationToken cancellation)
    {
        TrainingResult? outcome = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn { Width = 20 }, new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var bar = context.AddTask("training", maxValue: trainer.TotalSteps);
                bar.Value = trainer.Step;
                outcome = TrainingLoop.Run(trainer, cancellation, progress =>
                {
                    bar.Value = progress.Step;
                    bar.Description = Markup.Escape(DescribeShort(progress, trainer.Config.Task));
                }, epoch => AnsiConsole.MarkupLine(Markup.Escape(DescribeEpoch(epoch, trainer.Config.Task))));
            });
        return outcome!;
    }

    private static void PrintStep(TrainingProgress progress, TrainingTask task)
    {
        if (progress.IsLogStep)
            Console.WriteLine(Describe(progress, task));
    }

    /// <summary>"(rf a, label b)" of the joint task; the representation task has one term, its zone loss (no decoder, rf weight 0).</summary>
    private static string Terms(JointLosses losses, TrainingTask task, string format, string separator) => task != TrainingTask.Joint
        ? ""
        : string.Create(CultureInfo.InvariantCulture, $" (rf {losses.RectifiedFlow.ToString(format, CultureInfo.InvariantCulture)}{separator}label {losses.Label.ToString(format, CultureInfo.InvariantCulture)})");

    private static string Describe(TrainingProgress p, TrainingTask task) => string.Create(CultureInfo.InvariantCulture,
        $"step {p.Step}/{p.TotalSteps} epoch {p.Epoch} loss {p.Losses.Total:F4}{Terms(p.Losses, task, "F4", ", ")} "
        + $"{p.ItemsPerSecond:F0} items/s ETA {p.Eta:hh\\:mm\\:ss}{(p.SkippedSteps > 0 ? $" ({p.SkippedSteps} skipped)" : "")}");

    /// <summary>Fits an 80-column terminal beside the bar, percentage and ETA columns.</summary>
    private static string DescribeShort(TrainingProgress p, TrainingTask task) => string.Create(CultureInfo.InvariantCulture,
        $"ep {p.Epoch} loss {p.Losses.Total:F3}{Terms(p.Losses, task, "F3", " ").Replace("label", "lbl", StringComparison.Ordinal)} {p.ItemsPerSecond:F0}/s");

    private static string DescribeEpoch(EpochResult e, TrainingTask task)
    {
        string score = task switch
        {
            TrainingTask.Representation => $"test k-NN accuracy (bank: {RepresentationTrainer.MonitorBankSize} training images) {Format(e.TestAccuracy)}, ",
            TrainingTask.Generation => "",
            _ => $"test accuracy {Format(e.TestAccuracy)}, ",
        };
        return string.Create(CultureInfo.InvariantCulture,
            $"epoch {e.Epoch} done at step {e.Step}: mean loss {e.MeanLosses.Total:F4}{Terms(e.MeanLosses, task, "F4", ", ")}, {score}{e.Seconds:F1} s{(e.SkippedSteps > 0 ? $", {e.SkippedSteps} step(s) skipped" : "")}");
    }

    private static string Format(double accuracy) =>
        double.IsFinite(accuracy) ? accuracy.ToString("P2", CultureInfo.InvariantCulture) : "n/a";
}
