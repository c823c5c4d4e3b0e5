using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using LZN.Native.Zones;

namespace LZN.Native.Training;

/// <summary>Which image encoder the joint model uses.</summary>
public enum EncoderKind
{
    /// <summary>784-hidden-...-d fully connected (fast on the CPU).</summary>
    Mlp,

    /// <summary>Three conv3x3 stages (32/64/128 channels) and a linear head.</summary>
    Cnn,
}

/// <summary>Which of the method's case studies a run trains (docs/training.md has a section on each).</summary>
public enum TrainingTask
{
    /// <summary>Generation + classification: image encoder, label flow and a rectified-flow decoder (<see cref="JointModel"/>).</summary>
    Joint,

    /// <summary>Unsupervised representation learning from two augmented views (<see cref="RepresentationModel"/>).</summary>
    Representation,

    /// <summary>Unconditional generation: a rectified-flow decoder conditioned on each image's latent (<see cref="GenerationModel"/>).</summary>
    Generation,
}

/// <summary>How the learning rate moves after the warm-up.</summary>
public enum LearningRateDecay
{
    /// <summary>Full rate until the end (the reference's schedule, made for hundreds of thousands of steps).</summary>
    Constant,

    /// <summary>Cosine decay to 0 at the last step of the run (<see cref="Optim.LearningRateSchedule"/>).</summary>
    Cosine,
}

/// <summary>
/// Everything that defines a run: the task, the model's shape, the optimiser, the flows and the schedule, one record
/// per concern. Stored as JSON in every checkpoint's metadata (<see cref="ToJson"/>, one flat object whose keys
/// docs/training.md lists); a resumed run must match it (except the fields <see cref="ResumeMismatch"/> allows).
/// </summary>
public sealed record TrainingConfig
{
    /// <summary>The preset the config started from ("custom" when none), for the record.</summary>
    public string Preset { get; init; } = "custom";

    /// <summary>The case study; a checkpoint records it, and commands refuse checkpoints of another task.</summary>
    public TrainingTask Task { get; init; } = TrainingTask.Joint;

    /// <summary>Seed of every random stream of the run.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>The images and their shape.</summary>
    public DataConfig Data { get; init; } = new();

    /// <summary>The image encoder.</summary>
    public EncoderConfig Encoder { get; init; } = new();

    /// <summary>The rectified-flow decoder.</summary>
    public DecoderConfig Decoder { get; init; } = new();

    /// <summary>The latent and label flows.</summary>
    public LatentConfig Latent { get; init; } = new();

    /// <summary>The loss terms and their weights.</summary>
    public LossConfig Loss { get; init; } = new();

    /// <summary>Adam, the learning-rate schedule, the EMA and staged freezing.</summary>
    public OptimizerConfig Optimizer { get; init; } = new();

    /// <summary>Batches, epochs, evaluation, logging and checkpoints.</summary>
    public ScheduleConfig Schedule { get; init; } = new();

    /// <summary>Training-time augmentation (and the representation task's views).</summary>
    public AugmentationConfig Augmentation { get; init; } = new();

    /// <summary>The representation task's backbone features and projection head.</summary>
    public RepresentationConfig Representation { get; init; } = new();

    /// <summary>The staged-freezing fields by their JSON keys.</summary>
    private IEnumerable<(string Key, long? Value)> Freezes =>
        [("freeze_encoder_after", Optimizer.FreezeEncoderAfter), ("freeze_decoder_after", Optimizer.FreezeDecoderAfter), ("freeze_labels_after", Optimizer.FreezeLabelsAfter)];

    /// <summary>The names configs, checkpoints and the command line use: joint, representation, generation.</summary>
    public static string TaskName(TrainingTask task) => task switch
    {
        TrainingTask.Joint => "joint",
        TrainingTask.Representation => "representation",
        TrainingTask.Generation => "generation",
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, "not a task."),
    };

    /// <summary>The task <paramref name="name"/> stands for (see <see cref="TaskName"/>), or null when none does.</summary>
    public static TrainingTask? ParseTask(string name) =>
        Enum.GetValues<TrainingTask>().Select(task => (TrainingTask?)task).FirstOrDefault(task => TaskName(task!.Value) == name);

    /// <summary>The preset names <see cref="FromPreset"/> knows, with one line each.</summary>
    public static IReadOnlyDictionary<string, string> Presets { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["mlp-small"] = "MLP encoder 784-512-256-64, U-Net base 16, batch 128 (the default; fast on the CPU)",
        ["mlp"] = "MLP encoder 784-512-256-64, U-Net base 32, batch 128",
        ["mlp-wide"] = "MLP encoder 784-1024-512-64, U-Net base 16, batch 128 (90.25% on Fashion-MNIST in 20 epochs)",
        ["cnn"] = "CNN encoder 32/64/128 -> 64, U-Net base 32, batch 128",
        ["cnn-deep"] = "CNN encoder 32/64/128 with two convolutions per stage -> 64 and dropout 0.3, U-Net base 16, batch 128, random flips and 1-pixel shifts (92.79% on Fashion-MNIST in 20 epochs)",
        ["tiny"] = "MLP encoder 784-64-16, U-Net base 8, batch 32, latent flow 10 steps, label flow 40 steps (tests and smoke runs)",
        ["rep-cnn"] = "representation task: CNN 32/64/128 -> 256 features, projection head 256 -> 64, batch 256, two augmented views, the reference recipe (Adam 8e-4, clip 1, EMA 0.9999, flows of 20 steps, noise 0.45)",
        ["rep-tiny"] = "representation task: CNN 8/16 -> 32 features, head 32 -> 16, batch 32, flows of 10 steps (tests and smoke runs)",
        ["gen-mlp"] = "generation task: MLP encoder 784-512-256 -> 64, latent flow 20 steps from full-scale noise, U-Net base 16, batch 128",
        ["gen-tiny"] = "generation task: MLP encoder 784-64 -> 16, U-Net base 8, batch 32, flows of 10 steps (tests and smoke runs)",
    };

    public const string DefaultPreset = "mlp-small";

    /// <summary>GroupNorm groups of the CNN encoder (fewer when a stage has fewer channels).</summary>
    public const int CnnGroups = 8;

    /// <summary>The config of the preset <paramref name="name"/> (one of <see cref="Presets"/>).</summary>
    public static TrainingConfig FromPreset(string name)
    {
        var shortRun = ShortRun(name);
        var representation = RepresentationRecipe(name);
        var generation = GenerationRecipe(name);
        var smokeSchedule = new ScheduleConfig { BatchSize = 32, EvalBatch = 256, LogEvery = 5 };
        return name switch
        {
            "mlp-small" => shortRun with { Decoder = shortRun.Decoder with { Channels = 16 } },
            "mlp" => shortRun,
            "mlp-wide" => shortRun with { Encoder = new() { HiddenSizes = [1024, 512] }, Decoder = shortRun.Decoder with { Channels = 16 } },
            "cnn" => shortRun with { Encoder = new() { Kind = EncoderKind.Cnn } },
            "cnn-deep" => shortRun with
            {
                Encoder = new() { Kind = EncoderKind.Cnn, Depth = 2, Dropout = 0.3f },
                Decoder = shortRun.Decoder with { Channels = 16 },
                Augmentation = new() { Flip = true, Shift = 1 },
            },
            "tiny" => new TrainingConfig
            {
                Preset = name,
                Encoder = new() { HiddenSizes = [64] },
                Latent = new() { Dim = 16, Steps = 10, LabelSteps = 40 },
                Decoder = new() { Channels = 8, Groups = 4, SampleSteps = 10 },
                Schedule = smokeSchedule,
                Optimizer = new() { WarmupSteps = 5 },
            },
            "rep-cnn" => representation,
            "gen-mlp" => generation,
            "gen-tiny" => generation with
            {
                Encoder = new() { HiddenSizes = [64] },
                Latent = generation.Latent with { Dim = 16, Steps = 10 },
                Decoder = new() { Channels = 8, Groups = 4, SampleSteps = 10 },
                Schedule = smokeSchedule,
                Optimizer = generation.Optimizer with { WarmupSteps = 5 },
            },
            "rep-tiny" => representation with
            {
                Encoder = representation.Encoder with { Channels = [8, 16] },
                Representation = new() { FeatureDim = 32, ProjectionHidden = 32 },
                Latent = representation.Latent with { Dim = 16, Steps = 10, LabelSteps = 10 },
                Schedule = smokeSchedule,
                Optimizer = representation.Optimizer with { WarmupSteps = 5, EmaDecay = 0.999 },
            },
            _ => throw new ArgumentException($"unknown preset '{name}'; known: {string.Join(", ", Presets.Keys)}.", nameof(name)),
        };
    }

    /// <summary>
    /// Settings of the full-size presets, tuned on Fashion-MNIST (docs/training.md has the measurements): the label loss
    /// is the cut-off cross-entropy on latents at prior noise 0, the evaluation protocol's std (3 classifier-only epochs
    /// of mlp-small: 88.7% against 85.3-85.8% with the max-over-steps cross-entropy at noise 0.45); the decoder is
    /// conditioned on its own latents at noise 1, spread over each zone as the label flow spreads them when sampling
    /// (one full epoch: FD 123 at 2,000 samples against 138 when both share latents at 0.45); the decoder learns at
    /// 3e-3 (+1.5%) and the rate decays to 0 by the last step.
    /// </summary>
    private static TrainingConfig ShortRun(string name) => new()
    {
        Preset = name,
        Latent = new() { NoiseScale = 0f },
        Decoder = new() { LatentNoiseScale = 1f },
        Optimizer = new() { DecoderLearningRate = 3e-3, LearningRateDecay = LearningRateDecay.Cosine },
        Loss = new() { Label = AssignmentLossKind.CutoffCrossEntropy },
    };

    /// <summary>
    /// The reference's representation recipe at Fashion-MNIST scale: each row's latent is its view-1 anchor's Euler flow
    /// (20 steps, prior noise 0.45) over the view-1 anchors, flowed back through the view-2 anchors (20 steps); the loss
    /// is -mean log max over the steps after the cut-off of P(row -> its own view-2 zone); Adam at 8e-4 after a
    /// warm-up, clip 1, EMA 0.9999, nothing frozen. No decoder: the label flow's fields carry the reverse flow.
    /// </summary>
    private static TrainingConfig RepresentationRecipe(string name) => new()
    {
        Preset = name,
        Task = TrainingTask.Representation,
        Encoder = new() { Kind = EncoderKind.Cnn },
        Schedule = new() { BatchSize = 256 },
        Optimizer = new() { EncoderLearningRate = 8e-4, WarmupSteps = 100, EmaDecay = 0.9999 },
        Latent = new() { Steps = 20, NoiseScale = 0.45f, LabelSteps = 20 },
        Loss = new() { Label = AssignmentLossKind.CrossEntropy, RectifiedFlowWeight = 0 },
    };

    /// <summary>
    /// The reference's generation task at Fashion-MNIST scale: each image's latent is its anchor's Euler flow from
    /// full-scale prior noise over the batch's anchors, the decoder is conditioned on it, and the encoder learns only
    /// through the rectified-flow loss back through that flow. No label flow.
    /// </summary>
    private static TrainingConfig GenerationRecipe(string name) => new()
    {
        Preset = name,
        Task = TrainingTask.Generation,
        Decoder = new() { Channels = 16 },
        Optimizer = new() { DecoderLearningRate = 3e-3, LearningRateDecay = LearningRateDecay.Cosine },
        Latent = new() { NoiseScale = 1f },
        Loss = new() { LabelWeight = 0 },
    };

    /// <summary>The most elements one buffer of the model may hold (activations of a batch, one weight matrix): int-indexed.</summary>
    public const long MaxBufferElements = int.MaxValue;

    /// <summary>The most weights the encoder may have (2 GB of float32), so a config can never ask for more than a machine holds.</summary>
    public const long MaxEncoderWeights = 500_000_000;

    /// <summary>
    /// Checks every field's range, with upper bounds on what the run may cost (widths, step counts, the largest buffer);
    /// throws a <see cref="TrainingConfigException"/> naming the first bad field by its JSON key (<see cref="ToJson"/>).
    /// </summary>
    public void Validate()
    {
        Range("latent_dim", Latent.Dim, 1, 4096);
        Range("batch_size", Schedule.BatchSize, 2, 8192, "the batch is its own set of anchors, so it needs at least 2 images");
        Range("eval_batch", Schedule.EvalBatch, 2, 16384, "test images are encoded together as each other's anchors");
        Range("epochs", Schedule.Epochs, 1, 100_000);
        Range("latent_steps", Latent.Steps, 1, 10_000);
        Range("label_steps", Latent.LabelSteps, 1, 10_000);
        Range("sample_steps", Decoder.SampleSteps, 1, 10_000);
        Range("log_every", Schedule.LogEvery, 1, int.MaxValue);
        Range("checkpoint_every", Schedule.CheckpointEvery, 0, int.MaxValue);
        Range("train_limit", Data.TrainLimit, 0, int.MaxValue);
        Range("warmup_steps", Optimizer.WarmupSteps, 0, 1_000_000_000);
        foreach (var (key, value) in Freezes)
        {
            if (value is long steps)
                Range(key, steps, 0, long.MaxValue - 1);
        }
        if (Task == TrainingTask.Generation && Optimizer.FreezeLabelsAfter is long noLabels)
            Fail("freeze_labels_after", noLabels, "does not apply to the generation task, which has no label anchors");
        if (Task == TrainingTask.Generation && (Augmentation.Flip || Augmentation.Shift != 0))
            Fail(Augmentation.Flip ? "augment_flip" : "augment_shift", Augmentation.Flip ? "true" : Augmentation.Shift, "does not apply to the generation task, whose decoder learns the images as they are");
        if (Task != TrainingTask.Generation && Decoder.ZeroLatent)
            Fail("latent", "none", "applies to the generation task only");
        if (!Enum.IsDefined(Latent.Solver))
            Fail("latent_solver", Latent.Solver, "is not a defined solver");
        if (Task != TrainingTask.Generation && Latent.Solver != FlowSolver.Euler)
            Fail("latent_solver", "dpm", "applies to the generation task only");
        if (Decoder.ZeroLatent && Latent.Solver != FlowSolver.Euler)
            Fail("latent_solver", "dpm", "does not apply to latent none, whose encoder never runs");
        Range("latent_solver_order", Latent.SolverOrder, 1, 3);
        if (Latent.Solver == FlowSolver.Euler && Latent.SolverOrder != 3)
            Fail("latent_solver_order", Latent.SolverOrder, "applies to the dpm solver only");
        if (Task == TrainingTask.Representation && (Optimizer.FreezeDecoderAfter ?? Optimizer.FreezeLabelsAfter) is long notHere)
            Fail(Optimizer.FreezeDecoderAfter is null ? "freeze_labels_after" : "freeze_decoder_after", notHere, "does not apply to the representation task, which has no decoder or label anchors");
        Range("augment_shift", Augmentation.Shift, 0, Math.Max(0, Math.Min(Data.ImageHeight, Data.ImageWidth) - 1), "a shift must leave part of the image");
        Range("image_channels", Data.ImageChannels, 1, 4);
        Range("image_height", Data.ImageHeight, 1, 1024);
        Range("image_width", Data.ImageWidth, 1, 1024);
        Range("class_count", Data.ClassCount, 1, 10_000);
        Range("decoder_channels", Decoder.Channels, 1, 512);
        Range("decoder_groups", Decoder.Groups, 1, Decoder.Channels);
        if (Decoder.Channels % Decoder.Groups != 0)
            Fail("decoder_channels", Decoder.Channels, $"must be a multiple of decoder_groups ({Decoder.Groups}), the decoder's GroupNorm groups");
        Range("encoder_depth", Encoder.Depth, 1, 8);
        if (!Enum.IsDefined(Task))
            Fail("task", Task, "is not a defined task");
        if (Task == TrainingTask.Representation)
        {
            Range("feature_dim", Representation.FeatureDim, 1, 16_384);
            Range("projection_hidden", Representation.ProjectionHidden, 1, 16_384);
            if (!Enum.IsDefined(Representation.ProbeFeatures))
                Fail("probe_features", Representation.ProbeFeatures, $"must be one of {string.Join(", ", RepresentationConfig.ProbeFeatureNames)}");
            if (Encoder.Kind != EncoderKind.Cnn)
                Fail("encoder", "mlp", "must be cnn for the representation task (a CNN backbone with a projection head)");
            if (Augmentation.Flip || Augmentation.Shift != 0)
                Fail(Augmentation.Flip ? "augment_flip" : "augment_shift", Augmentation.Flip ? "true" : Augmentation.Shift, "does not apply to the representation task, whose views have their own augmentations");
            if (Augmentation.Views is null || Native.Data.ViewAugmentation.Parse(Augmentation.Views) is null)
                Fail("views", Augmentation.Views is null ? null : string.Join(",", Augmentation.Views), $"must be distinct names among {string.Join(", ", Native.Data.ViewAugmentation.Names)} (or none)");
        }
        Count("hidden_sizes", Encoder.HiddenSizes, 1, 16, 1, 16_384);
        Count("encoder_channels", Encoder.Channels, 1, 8, 1, 2048);
        if (Encoder.Channels.Any(channels => channels % Math.Min(CnnGroups, channels) != 0))
            Fail("encoder_channels", string.Join(",", Encoder.Channels), $"must be multiples of the CNN's {CnnGroups} GroupNorm groups (or below {CnnGroups})");
        if (!(Encoder.Dropout is >= 0f and < 1f))
            Fail("encoder_dropout", Encoder.Dropout, "must lie in [0, 1)");
        NonNegative("encoder_lr", Optimizer.EncoderLearningRate);
        NonNegative("decoder_lr", Optimizer.DecoderLearningRate);
        NonNegative("label_lr", Optimizer.LabelLearningRate);
        NonNegative("weight_decay", Optimizer.WeightDecay);
        NonNegative("rf_weight", Loss.RectifiedFlowWeight);
        NonNegative("label_weight", Loss.LabelWeight);
        if (Loss.RectifiedFlowWeight + Loss.LabelWeight == 0)
            Fail("rf_weight", Loss.RectifiedFlowWeight, "and label_weight cannot both be 0 (nothing would train)");
        NonNegative("latent_noise_scale", Latent.NoiseScale);
        if (Decoder.LatentNoiseScale is { } decoderNoise)
            NonNegative("decoder_latent_noise_scale", decoderNoise);
        if (!(Optimizer.ClipNorm > 0 && double.IsFinite(Optimizer.ClipNorm)))
            Fail("clip_norm", Optimizer.ClipNorm, "must be finite and positive");
        if (!(Optimizer.EmaDecay is >= 0 and <= 1))
            Fail("ema_decay", Optimizer.EmaDecay, "must lie in [0, 1]");
        if (!Enum.IsDefined(Optimizer.LearningRateDecay))
            Fail("lr_decay", Optimizer.LearningRateDecay, "is not a defined schedule");
        if (!Enum.IsDefined(Loss.Label))
            Fail("label_loss", Loss.Label, "is not a defined loss");
        if (!Enum.IsDefined(Encoder.Kind))
            Fail("encoder", Encoder.Kind, "is not a defined encoder");
        if (string.IsNullOrEmpty(Data.Source) || Data.Source.Length > 4096)
            Fail("data", Data.Source, "must name a data source in at most 4096 characters");
        if (Preset is null || Preset.Length > 64)
            Fail("preset", Preset, "must be a name of at most 64 characters");
        CheckCost();
    }

    /// <summary>
    /// Bounds what the field ranges still allow in combination: the encoder's weights and the largest activation of a
    /// batch (training or evaluation), each checked in 64-bit arithmetic before anything is allocated.
    /// </summary>
    private void CheckCost()
    {
        // The representation task encodes both views of a batch together, and its CNN ends in the features, not the latent.
        long images = Math.Max(Task == TrainingTask.Representation ? 2L * Schedule.BatchSize : Schedule.BatchSize, Schedule.EvalBatch), pixels = (long)Data.ImageHeight * Data.ImageWidth;
        int encoderOutput = Task == TrainingTask.Representation ? Representation.FeatureDim : Latent.Dim;
        long weights = 0, widest = (long)Data.ImageChannels * pixels;
        if (Encoder.Kind == EncoderKind.Mlp)
        {
            long previous = (long)Data.ImageChannels * pixels;
            foreach (int width in Encoder.HiddenSizes.Append(Latent.Dim))
            {
                weights += previous * width;
                widest = Math.Max(widest, width);
                previous = width;
            }
        }
        else
        {
            long channelsIn = Data.ImageChannels, height = Data.ImageHeight, width = Data.ImageWidth;
            for (int stage = 0; stage < Encoder.Channels.Count; stage++)
            {
                if (stage > 0)
                    (height, width) = ((height + 1) / 2, (width + 1) / 2);
                weights += 9 * channelsIn * Encoder.Channels[stage] + 9L * (Encoder.Depth - 1) * Encoder.Channels[stage] * Encoder.Channels[stage];
                widest = Math.Max(widest, Encoder.Channels[stage] * height * width);
                channelsIn = Encoder.Channels[stage];
            }
            weights += channelsIn * height * width * encoderOutput;
        }
        if (weights > MaxEncoderWeights)
            Fail(Encoder.Kind == EncoderKind.Mlp ? "hidden_sizes" : "encoder_channels", Encoder.Kind == EncoderKind.Mlp ? string.Join(",", Encoder.HiddenSizes) : string.Join(",", Encoder.Channels),
                $"give the encoder {weights:N0} weights on {Data.ImageChannels}x{Data.ImageHeight}x{Data.ImageWidth} images, more than the {MaxEncoderWeights:N0} allowed");
        // The decoder's widest level holds twice its base channels at full resolution.
        long decoderWidest = 2L * Decoder.Channels * pixels;
        if (images * Math.Max(widest, decoderWidest) > MaxBufferElements)
            Fail(Schedule.BatchSize >= Schedule.EvalBatch ? "batch_size" : "eval_batch", images,
                $"needs a buffer of {images * Math.Max(widest, decoderWidest):N0} values for one batch, more than the {MaxBufferElements:N0} one buffer may hold; use a smaller batch or a narrower model");
    }

    [DoesNotReturn]
    private static void Fail(string key, object? value, string problem) =>
        throw new TrainingConfigException(key, Convert.ToString(value, CultureInfo.InvariantCulture) ?? "null", problem);

    private static void Range(string key, long value, long min, long max, string? why = null)
    {
        if (value < min || value > max)
            Fail(key, value, (max == int.MaxValue ? $"must be at least {min}" : $"must lie in [{min}, {max}]") + (why is null ? "" : $" ({why})"));
    }

    private static void NonNegative(string key, double value)
    {
        if (!(value >= 0 && double.IsFinite(value)))
            Fail(key, value, "must be finite and non-negative");
    }

    private static void Count(string key, IReadOnlyList<int>? values, int minCount, int maxCount, int min, int max)
    {
        if (values is null || values.Count < minCount || values.Count > maxCount || values.Any(value => value < min || value > max))
        {
            Fail(key, values is null ? null : string.Join(",", values),
                $"must be {minCount} to {maxCount} values, each in [{min}, {max}]");
        }
    }

    /// <summary>
    /// Null when a run with this config may resume from a checkpoint written with <paramref name="stored"/>;
    /// otherwise the differing field. Epochs, LogEvery and CheckpointEvery may change between runs.
    /// </summary>
    public string? ResumeMismatch(TrainingConfig stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var mine = this with
        {
            Schedule = Schedule with { Epochs = stored.Schedule.Epochs, LogEvery = stored.Schedule.LogEvery, CheckpointEvery = stored.Schedule.CheckpointEvery },
        };
        if (mine.ToJson() == stored.ToJson())
            return null;
        using var a = JsonDocument.Parse(mine.ToJson());
        using var b = JsonDocument.Parse(stored.ToJson());
        // Keys written only when set (staged freezing, the latent solver) may be in one config alone.
        foreach (string name in a.RootElement.EnumerateObject().Concat(b.RootElement.EnumerateObject()).Select(property => property.Name).Distinct())
        {
            string here = Raw(a.RootElement, name), other = Raw(b.RootElement, name);
            if (here != other)
                return $"{name} is {other} in the checkpoint but {here} here";
        }
        return "the configuration differs";

        static string Raw(JsonElement root, string name) => root.TryGetProperty(name, out var value) ? value.GetRawText() : "absent (its default)";
    }

    /// <summary>The config as one flat JSON object (<see cref="TrainingConfigDocument"/> has the keys and their order).</summary>
    public string ToJson() => JsonSerializer.Serialize(TrainingConfigDocument.From(this), CheckpointMetadataJsonContext.Default.TrainingConfigDocument);

    /// <summary>
    /// Parses <see cref="ToJson"/>'s output (or an older checkpoint's) and validates it; JSON that does not fit (a
    /// missing, mistyped or repeated key) throws a <see cref="FormatException"/> naming the key, a value out of range a
    /// <see cref="TrainingConfigException"/>.
    /// </summary>
    public static TrainingConfig FromJson(string json)
    {
        TrainingConfigDocument? document;
        try
        {
            document = JsonSerializer.Deserialize(json, CheckpointMetadataJsonContext.Default.TrainingConfigDocument);
        }
        catch (JsonException ex)
        {
            throw new FormatException(Describe(ex), ex);
        }
        var config = (document ?? throw new FormatException("training config is not a JSON object.")).ToConfig();
        config.Validate();
        return config;
    }

    /// <summary>The serializer's complaint in the reader's terms, one line: the key it concerns and what was expected there.</summary>
    private static string Describe(JsonException ex)
    {
        // The serializer wraps the reader's syntax errors; its own errors (types, nulls, repeats) carry the key's path.
        if (ex.InnerException is JsonException syntax)
            return $"training config is not valid JSON: {syntax.Message}";
        if (ex.Message.Contains("missing required properties", StringComparison.Ordinal))
        {
            var missing = System.Text.RegularExpressions.Regex.Match(ex.Message, "'([a-z_]+)'");
            return missing.Success ? $"training config has no '{missing.Groups[1].Value}'." : "training config lacks a required key.";
        }
        string? key = ex.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..].Split('[')[0] : null;
        var property = key is null ? null : CheckpointMetadataJsonContext.Default.TrainingConfigDocument.Properties.FirstOrDefault(p => p.Name == key);
        if (property is null)
            return ex.Path == "$" ? "training config is not a JSON object." : $"training config is not valid JSON: {ex.Message}";
        if (ex.Message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase))
            return $"training config names '{key}' twice.";
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        string expected = type == typeof(string) ? "a string"
            : type == typeof(bool) ? "true or false"
            : type == typeof(int[]) ? "an array of integers"
            : type == typeof(string[]) ? "an array of strings"
            : type == typeof(int) || type == typeof(long) ? $"an integer in [{(type == typeof(int) ? int.MinValue : long.MinValue)}, {(type == typeof(int) ? int.MaxValue : long.MaxValue)}]"
            : "a finite number";
        return $"training config: '{key}' is not {expected}.";
    }
}

/// <summary>
/// A training-config field out of its range: <see cref="Key"/> is the field's JSON key (as in a checkpoint's metadata),
/// so the CLI can name its option instead and a checkpoint reader can name the file.
/// </summary>
public sealed class TrainingConfigException(string key, string value, string problem)
    : ArgumentException($"training config {key} {value}: {problem}.")
{
    public string Key { get; } = key;

    public string Value { get; } = value;

    /// <summary>What is wrong, without the field's name or value ("must lie in [1, 4096]").</summary>
    public string Problem { get; } = problem;
}
