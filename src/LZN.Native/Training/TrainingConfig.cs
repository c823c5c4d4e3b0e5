using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
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
/// Everything that defines a joint-task run: model shape, optimiser, flows and the schedule. Stored as JSON in
/// every checkpoint's metadata; a resumed run must match it (except the fields <see cref="ResumeMismatch"/> allows).
/// </summary>
public sealed record TrainingConfig
{
    public string Preset { get; init; } = "custom";

    /// <summary>The case study; a checkpoint records it, and commands refuse checkpoints of another task.</summary>
    public TrainingTask Task { get; init; } = TrainingTask.Joint;

    /// <summary>
    /// Representation task: width of the backbone's output, the features the linear probe and k-NN read (the projection
    /// head maps them to the latent).
    /// </summary>
    public int FeatureDim { get; init; } = 256;

    /// <summary>Representation task: hidden width of the projection head (features -> SiLU -> hidden -> SiLU -> latent).</summary>
    public int ProjectionHidden { get; init; } = 256;

    /// <summary>Representation task: the augmentations of both views, names of <see cref="LZN.Native.Data.ViewAugmentation.Names"/>.</summary>
    public IReadOnlyList<string> Views { get; init; } = LZN.Native.Data.ViewAugmentation.DefaultNames;

    /// <summary>
    /// Generation task: true for the plain rectified-flow baseline, the same decoder with its latent input zeroed (the
    /// encoder is kept, untrained, so both runs have the same parameters); false for RF + LZN.
    /// </summary>
    public bool ZeroLatent { get; init; }

    public EncoderKind Encoder { get; init; } = EncoderKind.Mlp;

    /// <summary>Hidden widths of the MLP encoder.</summary>
    public IReadOnlyList<int> HiddenSizes { get; init; } = [512, 256];

    /// <summary>Channels of the CNN encoder's 3x3 convolutions (the first at stride 1, the rest at stride 2).</summary>
    public IReadOnlyList<int> EncoderChannels { get; init; } = [32, 64, 128];

    /// <summary>Convolutions per stage of the CNN encoder (1: one per stage; each more is a stride-1 3x3 of the stage's width).</summary>
    public int EncoderDepth { get; init; } = 1;

    /// <summary>
    /// Dropout rate of the encoder (0 = none): after each hidden activation of the MLP, on the flattened features
    /// before the CNN's last Linear. Masks are keyed by the step, so resuming stays exact.
    /// </summary>
    public float EncoderDropout { get; init; }

    /// <summary>Latent size d.</summary>
    public int LatentDim { get; init; } = 64;

    /// <summary>U-Net base channels (B = 32 in docs/nn.md).</summary>
    public int DecoderChannels { get; init; } = 32;

    public int DecoderGroups { get; init; } = 8;

    public int BatchSize { get; init; } = 128;

    public int Epochs { get; init; } = 1;

    public ulong Seed { get; init; } = 1;

    public double EncoderLearningRate { get; init; } = 1e-3;

    public double DecoderLearningRate { get; init; } = 1e-3;

    public double LabelLearningRate { get; init; } = 1e-3;

    /// <summary>Decoupled (AdamW) weight decay of every parameter group, label anchors included; 0 in every preset.</summary>
    public double WeightDecay { get; init; }

    public long WarmupSteps { get; init; } = 20;

    public double ClipNorm { get; init; } = 1.0;

    public double EmaDecay { get; init; } = 0.999;

    /// <summary>Learning-rate decay after the warm-up; the cosine's horizon is the run's last step (Epochs x steps per epoch).</summary>
    public LearningRateDecay LearningRateDecay { get; init; } = LearningRateDecay.Constant;

    /// <summary>
    /// The label loss: the reference's prob variant -mean max_k P_k(target); cross-entropy -mean log max_k P_k(target),
    /// whose gradient does not vanish on images the flow sends to the wrong class; or the cut-off cross-entropy
    /// -mean log P_u(target), which also keeps pulling on images already in the right zone.
    /// </summary>
    public AssignmentLossKind LabelLoss { get; init; } = AssignmentLossKind.Probability;

    /// <summary>Weight of the rectified-flow (decoder) loss; 0 skips the decoder (a classifier only, no samples).</summary>
    public double RectifiedFlowWeight { get; init; } = 1;

    /// <summary>Weight of the label loss; 0 skips the label flow (generation only, label anchors stay at their initial values).</summary>
    public double LabelWeight { get; init; } = 1;

    /// <summary>Training images are flipped horizontally at random (<see cref="Data.ImageAugmentation"/>).</summary>
    public bool AugmentFlip { get; init; }

    /// <summary>Training images are translated by up to this many pixels each way (0 = none).</summary>
    public int AugmentShift { get; init; }

    /// <summary>The training-time augmentation these settings describe.</summary>
    public Data.ImageAugmentation Augmentation => new(AugmentFlip, AugmentShift);

    /// <summary>Steps of the image latent flow (encode) during training and evaluation.</summary>
    public int LatentSteps { get; init; } = 20;

    /// <summary>
    /// Generation task: the solver of the image latent flow in training and in every later encode of the checkpoint
    /// (Euler, or DPM-Solver++ from eps 1e-3 to 1 - eps as the reference's encoder flow).
    /// </summary>
    public FlowSolver LatentSolver { get; init; } = FlowSolver.Euler;

    /// <summary>Order (1-3) of DPM-Solver++ when it is the <see cref="LatentSolver"/>; the reference's is 3.</summary>
    public int LatentSolverOrder { get; init; } = 3;

    /// <summary>
    /// Scale alpha of the N(0, I) prior noise of the training latents the label loss sees (and the decoder, unless
    /// <see cref="DecoderLatentNoiseScale"/> gives it its own); 1 in the reference's joint task.
    /// </summary>
    public float LatentNoiseScale { get; init; } = 1f;

    /// <summary>
    /// Null: the decoder is conditioned on the same training latents as the label loss (one latent flow, as in the
    /// reference). A value: the decoder gets its own latents, a second flow over the same anchors with independent prior
    /// noise at this scale, so the label loss can train at the evaluation protocol's std 0 while the decoder sees latents
    /// spread over each zone, as the label flow produces them at sampling time.
    /// </summary>
    public float? DecoderLatentNoiseScale { get; init; }

    /// <summary>Euler steps of the label flow (K = 100 in the reference).</summary>
    public int LabelSteps { get; init; } = 100;

    /// <summary>Euler steps of the decoder's rectified-flow sampler.</summary>
    public int SampleSteps { get; init; } = 20;

    /// <summary>Test images encoded together (they are each other's anchors): fixed so accuracy is reproducible.</summary>
    public int EvalBatch { get; init; } = 1000;

    public int LogEvery { get; init; } = 10;

    /// <summary>Steps between checkpoints (0 = only at the end and on cancellation).</summary>
    public int CheckpointEvery { get; init; } = 500;

    /// <summary>
    /// Optimiser steps after which the encoder (joint: the image encoder; representation: backbone and head) stops
    /// training (<see cref="Optim.ParameterGroupOptions.FrozenAfter"/>); null trains it throughout. The reference's joint
    /// task freezes its decoder after 60k iterations and the encoder and label anchors after 200k.
    /// </summary>
    public long? FreezeEncoderAfter { get; init; }

    /// <summary>Optimiser steps after which the joint task's decoder stops training; null trains it throughout.</summary>
    public long? FreezeDecoderAfter { get; init; }

    /// <summary>Optimiser steps after which the joint task's label anchors stop training; null trains them throughout.</summary>
    public long? FreezeLabelsAfter { get; init; }

    /// <summary>The data source name ("fashion-mnist", "synthetic" or a folder).</summary>
    public string Data { get; init; } = "fashion-mnist";

    /// <summary>Training images used (0 = all).</summary>
    public int TrainLimit { get; init; }

    public int ImageChannels { get; init; } = 1;

    public int ImageHeight { get; init; } = 28;

    public int ImageWidth { get; init; } = 28;

    public int ClassCount { get; init; } = 10;

    public int ImageSize => ImageChannels * ImageHeight * ImageWidth;

    /// <summary>The staged-freezing fields by their JSON keys.</summary>
    private IEnumerable<(string Key, long? Value)> Freezes =>
        [("freeze_encoder_after", FreezeEncoderAfter), ("freeze_decoder_after", FreezeDecoderAfter), ("freeze_labels_after", FreezeLabelsAfter)];

    /// <summary>The names configs, checkpoints and the command line use: joint, representation.</summary>
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

    public static TrainingConfig FromPreset(string name) => name switch
    {
        "mlp-small" => ShortRun with { Preset = name, DecoderChannels = 16 },
        "mlp" => ShortRun with { Preset = name },
        "mlp-wide" => ShortRun with { Preset = name, HiddenSizes = [1024, 512], DecoderChannels = 16 },
        "cnn" => ShortRun with { Preset = name, Encoder = EncoderKind.Cnn },
        "cnn-deep" => ShortRun with
        {
            Preset = name, Encoder = EncoderKind.Cnn, EncoderDepth = 2, EncoderDropout = 0.3f, DecoderChannels = 16, AugmentFlip = true, AugmentShift = 1,
        },
        "tiny" => new TrainingConfig
        {
            Preset = name, HiddenSizes = [64], LatentDim = 16, DecoderChannels = 8, DecoderGroups = 4, BatchSize = 32,
            LatentSteps = 10, LabelSteps = 40, SampleSteps = 10, EvalBatch = 256, WarmupSteps = 5, LogEvery = 5,
        },
        "rep-cnn" => Representation with { Preset = name },
        "gen-mlp" => Generation with { Preset = name },
        "gen-tiny" => Generation with
        {
            Preset = name, HiddenSizes = [64], LatentDim = 16, DecoderChannels = 8, DecoderGroups = 4, BatchSize = 32,
            LatentSteps = 10, SampleSteps = 10, EvalBatch = 256, WarmupSteps = 5, LogEvery = 5,
        },
        "rep-tiny" => Representation with
        {
            Preset = name, EncoderChannels = [8, 16], FeatureDim = 32, ProjectionHidden = 32, LatentDim = 16, BatchSize = 32,
            LatentSteps = 10, LabelSteps = 10, EvalBatch = 256, WarmupSteps = 5, LogEvery = 5, EmaDecay = 0.999,
        },
        _ => throw new ArgumentException($"unknown preset '{name}'; known: {string.Join(", ", Presets.Keys)}.", nameof(name)),
    };

    /// <summary>
    /// Settings of the full-size presets, tuned on Fashion-MNIST (docs/training.md has the measurements): the label loss
    /// is the cut-off cross-entropy on latents at prior noise 0, the evaluation protocol's std (3 classifier-only epochs
    /// of mlp-small: 88.7% against 85.3-85.8% with the max-over-steps cross-entropy at noise 0.45); the decoder is
    /// conditioned on its own latents at noise 1, spread over each zone as the label flow spreads them when sampling
    /// (one full epoch: FD 123 at 2,000 samples against 138 when both share latents at 0.45); the decoder learns at
    /// 3e-3 (+1.5%) and the rate decays to 0 by the last step.
    /// </summary>
    private static TrainingConfig ShortRun => new()
    {
        LatentNoiseScale = 0f,
        DecoderLatentNoiseScale = 1f,
        DecoderLearningRate = 3e-3,
        LabelLoss = AssignmentLossKind.CutoffCrossEntropy,
        LearningRateDecay = LearningRateDecay.Cosine,
    };

    /// <summary>
    /// The reference's representation recipe at Fashion-MNIST scale: each row's latent is its view-1 anchor's Euler flow
    /// (20 steps, prior noise 0.45) over the view-1 anchors, flowed back through the view-2 anchors (20 steps); the loss
    /// is -mean log max over the steps after the cut-off of P(row -> its own view-2 zone); Adam at 8e-4 after a
    /// warm-up, clip 1, EMA 0.9999, nothing frozen. No decoder: the label flow's fields carry the reverse flow.
    /// </summary>
    private static TrainingConfig Representation => new()
    {
        Task = TrainingTask.Representation,
        Encoder = EncoderKind.Cnn,
        BatchSize = 256,
        EncoderLearningRate = 8e-4,
        WarmupSteps = 100,
        EmaDecay = 0.9999,
        LatentSteps = 20,
        LatentNoiseScale = 0.45f,
        LabelSteps = 20,
        LabelLoss = AssignmentLossKind.CrossEntropy,
        RectifiedFlowWeight = 0,
    };

    /// <summary>
    /// The reference's generation task at Fashion-MNIST scale: each image's latent is its anchor's Euler flow from
    /// full-scale prior noise over the batch's anchors, the decoder is conditioned on it, and the encoder learns only
    /// through the rectified-flow loss back through that flow. No label flow.
    /// </summary>
    private static TrainingConfig Generation => new()
    {
        Task = TrainingTask.Generation,
        DecoderChannels = 16,
        DecoderLearningRate = 3e-3,
        LatentNoiseScale = 1f,
        LabelWeight = 0,
        LearningRateDecay = LearningRateDecay.Cosine,
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
        Range("latent_dim", LatentDim, 1, 4096);
        Range("batch_size", BatchSize, 2, 8192, "the batch is its own set of anchors, so it needs at least 2 images");
        Range("eval_batch", EvalBatch, 2, 16384, "test images are encoded together as each other's anchors");
        Range("epochs", Epochs, 1, 100_000);
        Range("latent_steps", LatentSteps, 1, 10_000);
        Range("label_steps", LabelSteps, 1, 10_000);
        Range("sample_steps", SampleSteps, 1, 10_000);
        Range("log_every", LogEvery, 1, int.MaxValue);
        Range("checkpoint_every", CheckpointEvery, 0, int.MaxValue);
        Range("train_limit", TrainLimit, 0, int.MaxValue);
        Range("warmup_steps", WarmupSteps, 0, 1_000_000_000);
        foreach (var (key, value) in Freezes)
        {
            if (value is long steps)
                Range(key, steps, 0, long.MaxValue - 1);
        }
        if (Task == TrainingTask.Generation && FreezeLabelsAfter is long noLabels)
            Fail("freeze_labels_after", noLabels, "does not apply to the generation task, which has no label anchors");
        if (Task == TrainingTask.Generation && (AugmentFlip || AugmentShift != 0))
            Fail(AugmentFlip ? "augment_flip" : "augment_shift", AugmentFlip ? "true" : AugmentShift, "does not apply to the generation task, whose decoder learns the images as they are");
        if (Task != TrainingTask.Generation && ZeroLatent)
            Fail("latent", "none", "applies to the generation task only");
        if (!Enum.IsDefined(LatentSolver))
            Fail("latent_solver", LatentSolver, "is not a defined solver");
        if (Task != TrainingTask.Generation && LatentSolver != FlowSolver.Euler)
            Fail("latent_solver", "dpm", "applies to the generation task only");
        if (ZeroLatent && LatentSolver != FlowSolver.Euler)
            Fail("latent_solver", "dpm", "does not apply to latent none, whose encoder never runs");
        Range("latent_solver_order", LatentSolverOrder, 1, 3);
        if (LatentSolver == FlowSolver.Euler && LatentSolverOrder != 3)
            Fail("latent_solver_order", LatentSolverOrder, "applies to the dpm solver only");
        if (Task == TrainingTask.Representation && (FreezeDecoderAfter ?? FreezeLabelsAfter) is long notHere)
            Fail(FreezeDecoderAfter is null ? "freeze_labels_after" : "freeze_decoder_after", notHere, "does not apply to the representation task, which has no decoder or label anchors");
        Range("augment_shift", AugmentShift, 0, Math.Max(0, Math.Min(ImageHeight, ImageWidth) - 1), "a shift must leave part of the image");
        Range("image_channels", ImageChannels, 1, 4);
        Range("image_height", ImageHeight, 1, 1024);
        Range("image_width", ImageWidth, 1, 1024);
        Range("class_count", ClassCount, 1, 10_000);
        Range("decoder_channels", DecoderChannels, 1, 512);
        Range("decoder_groups", DecoderGroups, 1, DecoderChannels);
        if (DecoderChannels % DecoderGroups != 0)
            Fail("decoder_channels", DecoderChannels, $"must be a multiple of decoder_groups ({DecoderGroups}), the decoder's GroupNorm groups");
        Range("encoder_depth", EncoderDepth, 1, 8);
        if (!Enum.IsDefined(Task))
            Fail("task", Task, "is not a defined task");
        if (Task == TrainingTask.Representation)
        {
            Range("feature_dim", FeatureDim, 1, 16_384);
            Range("projection_hidden", ProjectionHidden, 1, 16_384);
            if (Encoder != EncoderKind.Cnn)
                Fail("encoder", "mlp", "must be cnn for the representation task (a CNN backbone with a projection head)");
            if (AugmentFlip || AugmentShift != 0)
                Fail(AugmentFlip ? "augment_flip" : "augment_shift", AugmentFlip ? "true" : AugmentShift, "does not apply to the representation task, whose views have their own augmentations");
            if (Views is null || LZN.Native.Data.ViewAugmentation.Parse(Views) is null)
                Fail("views", Views is null ? null : string.Join(",", Views), $"must be distinct names among {string.Join(", ", LZN.Native.Data.ViewAugmentation.Names)} (or none)");
        }
        Count("hidden_sizes", HiddenSizes, 1, 16, 1, 16_384);
        Count("encoder_channels", EncoderChannels, 1, 8, 1, 2048);
        if (EncoderChannels.Any(channels => channels % Math.Min(CnnGroups, channels) != 0))
            Fail("encoder_channels", string.Join(",", EncoderChannels), $"must be multiples of the CNN's {CnnGroups} GroupNorm groups (or below {CnnGroups})");
        if (!(EncoderDropout is >= 0f and < 1f))
            Fail("encoder_dropout", EncoderDropout, "must lie in [0, 1)");
        NonNegative("encoder_lr", EncoderLearningRate);
        NonNegative("decoder_lr", DecoderLearningRate);
        NonNegative("label_lr", LabelLearningRate);
        NonNegative("weight_decay", WeightDecay);
        NonNegative("rf_weight", RectifiedFlowWeight);
        NonNegative("label_weight", LabelWeight);
        if (RectifiedFlowWeight + LabelWeight == 0)
            Fail("rf_weight", RectifiedFlowWeight, "and label_weight cannot both be 0 (nothing would train)");
        NonNegative("latent_noise_scale", LatentNoiseScale);
        if (DecoderLatentNoiseScale is { } decoderNoise)
            NonNegative("decoder_latent_noise_scale", decoderNoise);
        if (!(ClipNorm > 0 && double.IsFinite(ClipNorm)))
            Fail("clip_norm", ClipNorm, "must be finite and positive");
        if (!(EmaDecay is >= 0 and <= 1))
            Fail("ema_decay", EmaDecay, "must lie in [0, 1]");
        if (!Enum.IsDefined(LearningRateDecay))
            Fail("lr_decay", LearningRateDecay, "is not a defined schedule");
        if (!Enum.IsDefined(LabelLoss))
            Fail("label_loss", LabelLoss, "is not a defined loss");
        if (!Enum.IsDefined(Encoder))
            Fail("encoder", Encoder, "is not a defined encoder");
        if (string.IsNullOrEmpty(Data) || Data.Length > 4096)
            Fail("data", Data, "must name a data source in at most 4096 characters");
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
        long images = Math.Max(Task == TrainingTask.Representation ? 2L * BatchSize : BatchSize, EvalBatch), pixels = (long)ImageHeight * ImageWidth;
        int encoderOutput = Task == TrainingTask.Representation ? FeatureDim : LatentDim;
        long weights = 0, widest = (long)ImageChannels * pixels;
        if (Encoder == EncoderKind.Mlp)
        {
            long previous = (long)ImageChannels * pixels;
            foreach (int width in HiddenSizes.Append(LatentDim))
            {
                weights += previous * width;
                widest = Math.Max(widest, width);
                previous = width;
            }
        }
        else
        {
            long channelsIn = ImageChannels, height = ImageHeight, width = ImageWidth;
            for (int stage = 0; stage < EncoderChannels.Count; stage++)
            {
                if (stage > 0)
                    (height, width) = ((height + 1) / 2, (width + 1) / 2);
                weights += 9 * channelsIn * EncoderChannels[stage] + 9L * (EncoderDepth - 1) * EncoderChannels[stage] * EncoderChannels[stage];
                widest = Math.Max(widest, EncoderChannels[stage] * height * width);
                channelsIn = EncoderChannels[stage];
            }
            weights += channelsIn * height * width * encoderOutput;
        }
        if (weights > MaxEncoderWeights)
            Fail(Encoder == EncoderKind.Mlp ? "hidden_sizes" : "encoder_channels", Encoder == EncoderKind.Mlp ? string.Join(",", HiddenSizes) : string.Join(",", EncoderChannels),
                $"give the encoder {weights:N0} weights on {ImageChannels}x{ImageHeight}x{ImageWidth} images, more than the {MaxEncoderWeights:N0} allowed");
        // The decoder's widest level holds twice its base channels at full resolution.
        long decoderWidest = 2L * DecoderChannels * pixels;
        if (images * Math.Max(widest, decoderWidest) > MaxBufferElements)
            Fail(BatchSize >= EvalBatch ? "batch_size" : "eval_batch", images,
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
        var mine = this with { Epochs = stored.Epochs, LogEvery = stored.LogEvery, CheckpointEvery = stored.CheckpointEvery };
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

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("preset", Preset);
            // Joint configs leave the task fields out, so a joint checkpoint's config reads byte for byte as before tasks existed.
            if (Task != TrainingTask.Joint)
            {
                writer.WriteString("task", TaskName(Task));
                writer.WriteNumber("feature_dim", FeatureDim);
                writer.WriteNumber("projection_hidden", ProjectionHidden);
                WriteStringArray("views", Views);
                writer.WriteString("latent", ZeroLatent ? "none" : "lzn");
            }
            writer.WriteString("encoder", Encoder == EncoderKind.Mlp ? "mlp" : "cnn");
            WriteIntArray("hidden_sizes", HiddenSizes);
            WriteIntArray("encoder_channels", EncoderChannels);
            writer.WriteNumber("encoder_depth", EncoderDepth);
            writer.WriteNumber("encoder_dropout", EncoderDropout);
            writer.WriteNumber("latent_dim", LatentDim);
            writer.WriteNumber("decoder_channels", DecoderChannels);
            writer.WriteNumber("decoder_groups", DecoderGroups);
            writer.WriteNumber("batch_size", BatchSize);
            writer.WriteNumber("epochs", Epochs);
            writer.WriteString("seed", Seed.ToString(CultureInfo.InvariantCulture));
            writer.WriteNumber("encoder_lr", EncoderLearningRate);
            writer.WriteNumber("decoder_lr", DecoderLearningRate);
            writer.WriteNumber("label_lr", LabelLearningRate);
            writer.WriteNumber("weight_decay", WeightDecay);
            writer.WriteNumber("warmup_steps", WarmupSteps);
            writer.WriteNumber("clip_norm", ClipNorm);
            writer.WriteNumber("ema_decay", EmaDecay);
            writer.WriteString("lr_decay", LearningRateDecay == LearningRateDecay.Cosine ? "cosine" : "constant");
            writer.WriteString("label_loss", AssignmentLoss.Name(LabelLoss));
            writer.WriteNumber("rf_weight", RectifiedFlowWeight);
            writer.WriteNumber("label_weight", LabelWeight);
            writer.WriteBoolean("augment_flip", AugmentFlip);
            writer.WriteNumber("augment_shift", AugmentShift);
            writer.WriteNumber("latent_steps", LatentSteps);
            writer.WriteNumber("latent_noise_scale", LatentNoiseScale);
            // Absent for Euler, so configs of Euler runs read byte for byte as before the solver was an option.
            if (LatentSolver != FlowSolver.Euler)
            {
                writer.WriteString("latent_solver", "dpm");
                writer.WriteNumber("latent_solver_order", LatentSolverOrder);
            }
            if (DecoderLatentNoiseScale is { } decoderNoise)
                writer.WriteNumber("decoder_latent_noise_scale", decoderNoise);
            else
                writer.WriteNull("decoder_latent_noise_scale");
            writer.WriteNumber("label_steps", LabelSteps);
            writer.WriteNumber("sample_steps", SampleSteps);
            writer.WriteNumber("eval_batch", EvalBatch);
            writer.WriteNumber("log_every", LogEvery);
            writer.WriteNumber("checkpoint_every", CheckpointEvery);
            // Absent unless set, so configs without staged freezing read byte for byte as before it existed.
            foreach (var (key, value) in Freezes)
            {
                if (value is long steps)
                    writer.WriteNumber(key, steps);
            }
            writer.WriteString("data", Data);
            writer.WriteNumber("train_limit", TrainLimit);
            writer.WriteNumber("image_channels", ImageChannels);
            writer.WriteNumber("image_height", ImageHeight);
            writer.WriteNumber("image_width", ImageWidth);
            writer.WriteNumber("class_count", ClassCount);
            writer.WriteEndObject();

            void WriteStringArray(string name, IReadOnlyList<string> values)
            {
                writer.WriteStartArray(name);
                foreach (string value in values)
                    writer.WriteStringValue(value);
                writer.WriteEndArray();
            }

            void WriteIntArray(string name, IReadOnlyList<int> values)
            {
                writer.WriteStartArray(name);
                foreach (int value in values)
                    writer.WriteNumberValue(value);
                writer.WriteEndArray();
            }
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Parses <see cref="ToJson"/>'s output; a missing or mistyped field throws a <see cref="FormatException"/> naming it.</summary>
    public static TrainingConfig FromJson(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"training config is not valid JSON: {ex.Message}", ex);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new FormatException("training config is not a JSON object.");
            // JSON allows a key twice and readers differ on which one wins: refuse rather than guess.
            var keys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!keys.Add(property.Name))
                    throw new FormatException($"training config names '{property.Name}' twice.");
            }
            JsonElement Field(string name) => root.TryGetProperty(name, out var value)
                ? value : throw new FormatException($"training config has no '{name}'.");
            int Int(string name) => Field(name).TryGetInt32(out int value) ? value : throw new FormatException($"training config: '{name}' is not an integer.");
            long Long(string name) => Field(name).TryGetInt64(out long value) ? value : throw new FormatException($"training config: '{name}' is not an integer.");
            double Double(string name) => Field(name).TryGetDouble(out double value) ? value : throw new FormatException($"training config: '{name}' is not a number.");
            bool OptionalBool(string name) => root.TryGetProperty(name, out var value)
                && (value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : throw new FormatException($"training config: '{name}' is not a boolean."));
            double OptionalDouble(string name, double absent) => root.TryGetProperty(name, out _) ? Double(name) : absent;
            long? OptionalLong(string name) => root.TryGetProperty(name, out _) ? Long(name) : null;
            int OptionalInt(string name, int absent) => root.TryGetProperty(name, out _) ? Int(name) : absent;
            string OptionalString(string name, string absent) => root.TryGetProperty(name, out _) ? String(name) : absent;
            string String(string name) => Field(name).ValueKind == JsonValueKind.String ? Field(name).GetString()! : throw new FormatException($"training config: '{name}' is not a string.");
            static string[] StringArray(JsonElement array, string name) => array.ValueKind == JsonValueKind.Array
                ? [.. array.EnumerateArray().Select(item => item.ValueKind == JsonValueKind.String ? item.GetString()! : throw new FormatException($"training config: '{name}' holds a non-string."))]
                : throw new FormatException($"training config: '{name}' is not an array.");
            static int[] IntArray(JsonElement array, string name) => array.ValueKind == JsonValueKind.Array
                ? [.. array.EnumerateArray().Select(item => item.TryGetInt32(out int value) ? value : throw new FormatException($"training config: '{name}' holds a non-integer."))]
                : throw new FormatException($"training config: '{name}' is not an array.");
            var config = new TrainingConfig
            {
                Preset = String("preset"),
                Task = ParseTask(OptionalString("task", TaskName(TrainingTask.Joint))) ?? throw new FormatException($"training config: unknown task '{String("task")}'."),
                FeatureDim = OptionalInt("feature_dim", 256),
                ProjectionHidden = OptionalInt("projection_hidden", 256),
                Views = root.TryGetProperty("views", out var views) ? StringArray(views, "views") : LZN.Native.Data.ViewAugmentation.DefaultNames,
                ZeroLatent = OptionalString("latent", "lzn") switch
                {
                    "lzn" => false,
                    "none" => true,
                    var other => throw new FormatException($"training config: unknown latent '{other}'."),
                },
                Encoder = String("encoder") switch
                {
                    "mlp" => EncoderKind.Mlp,
                    "cnn" => EncoderKind.Cnn,
                    var other => throw new FormatException($"training config: unknown encoder '{other}'."),
                },
                HiddenSizes = IntArray(Field("hidden_sizes"), "hidden_sizes"),
                EncoderChannels = root.TryGetProperty("encoder_channels", out var channels) ? IntArray(channels, "encoder_channels") : new TrainingConfig().EncoderChannels,
                EncoderDepth = OptionalInt("encoder_depth", 1),
                EncoderDropout = (float)OptionalDouble("encoder_dropout", 0),
                LatentDim = Int("latent_dim"),
                DecoderChannels = Int("decoder_channels"),
                DecoderGroups = Int("decoder_groups"),
                BatchSize = Int("batch_size"),
                Epochs = Int("epochs"),
                Seed = ulong.TryParse(String("seed"), NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed) ? seed : throw new FormatException("training config: 'seed' is not an unsigned integer."),
                EncoderLearningRate = Double("encoder_lr"),
                DecoderLearningRate = Double("decoder_lr"),
                LabelLearningRate = Double("label_lr"),
                WeightDecay = Double("weight_decay"),
                WarmupSteps = Long("warmup_steps"),
                ClipNorm = Double("clip_norm"),
                EmaDecay = Double("ema_decay"),
                LearningRateDecay = OptionalString("lr_decay", "constant") switch
                {
                    "constant" => LearningRateDecay.Constant,
                    "cosine" => LearningRateDecay.Cosine,
                    var other => throw new FormatException($"training config: unknown lr_decay '{other}'."),
                },
                LabelLoss = OptionalString("label_loss", "prob") is var lossName && AssignmentLoss.Parse(lossName) is { } loss
                    ? loss
                    : throw new FormatException($"training config: unknown label_loss '{lossName}'."),
                RectifiedFlowWeight = OptionalDouble("rf_weight", 1),
                LabelWeight = OptionalDouble("label_weight", 1),
                AugmentFlip = OptionalBool("augment_flip"),
                AugmentShift = OptionalInt("augment_shift", 0),
                LatentSteps = Int("latent_steps"),
                LatentNoiseScale = (float)Double("latent_noise_scale"),
                LatentSolver = OptionalString("latent_solver", "euler") switch
                {
                    "euler" => FlowSolver.Euler,
                    "dpm" => FlowSolver.DpmSolverPlusPlus,
                    var other => throw new FormatException($"training config: unknown latent_solver '{other}'."),
                },
                LatentSolverOrder = OptionalInt("latent_solver_order", 3),
                DecoderLatentNoiseScale = root.TryGetProperty("decoder_latent_noise_scale", out var decoderNoise) && decoderNoise.ValueKind != JsonValueKind.Null
                    ? (float)Double("decoder_latent_noise_scale")
                    : null,
                LabelSteps = Int("label_steps"),
                SampleSteps = Int("sample_steps"),
                EvalBatch = Int("eval_batch"),
                LogEvery = Int("log_every"),
                CheckpointEvery = Int("checkpoint_every"),
                FreezeEncoderAfter = OptionalLong("freeze_encoder_after"),
                FreezeDecoderAfter = OptionalLong("freeze_decoder_after"),
                FreezeLabelsAfter = OptionalLong("freeze_labels_after"),
                Data = String("data"),
                TrainLimit = Int("train_limit"),
                ImageChannels = Int("image_channels"),
                ImageHeight = Int("image_height"),
                ImageWidth = Int("image_width"),
                ClassCount = Int("class_count"),
            };
            config.Validate();
            return config;
        }
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
