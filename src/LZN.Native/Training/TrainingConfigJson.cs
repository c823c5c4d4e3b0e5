using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using LZN.Native.Zones;

namespace LZN.Native.Training;

/// <summary>
/// The config as checkpoints store it: one flat JSON object, its keys in this order (the snake_case of each property).
/// Required keys have been written since the first checkpoint format; the nullable ones came later or apply to some
/// tasks only, and an absent one reads as <see cref="TrainingConfig"/>'s default. Joint configs leave the task keys
/// out and configs without staged freezing the freeze keys, so their JSON reads byte for byte as before those existed.
/// </summary>
internal sealed record TrainingConfigDocument
{
    public required string Preset { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Task { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? FeatureDim { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ProjectionHidden { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ProbeFeatures { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string[]? Views { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Latent { get; init; }

    public required string Encoder { get; init; }

    public required int[] HiddenSizes { get; init; }

    public int[]? EncoderChannels { get; init; }

    public int? EncoderDepth { get; init; }

    public float? EncoderDropout { get; init; }

    public required int LatentDim { get; init; }

    public required int DecoderChannels { get; init; }

    public required int DecoderGroups { get; init; }

    public required int BatchSize { get; init; }

    public required int Epochs { get; init; }

    /// <summary>A string: JSON readers elsewhere hold numbers as float64, which loses a 64-bit seed.</summary>
    public required string Seed { get; init; }

    public required double EncoderLr { get; init; }

    public required double DecoderLr { get; init; }

    public required double LabelLr { get; init; }

    public required double WeightDecay { get; init; }

    public required long WarmupSteps { get; init; }

    public required double ClipNorm { get; init; }

    public required double EmaDecay { get; init; }

    public string? LrDecay { get; init; }

    public string? LabelLoss { get; init; }

    public double? RfWeight { get; init; }

    public double? LabelWeight { get; init; }

    public bool? AugmentFlip { get; init; }

    public int? AugmentShift { get; init; }

    public required int LatentSteps { get; init; }

    public required float LatentNoiseScale { get; init; }

    /// <summary>Absent for Euler, so configs of Euler runs read byte for byte as before the solver was an option.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? LatentSolver { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? LatentSolverOrder { get; init; }

    /// <summary>Written as null when the decoder shares the label loss's latents.</summary>
    public float? DecoderLatentNoiseScale { get; init; }

    public required int LabelSteps { get; init; }

    public required int SampleSteps { get; init; }

    public required int EvalBatch { get; init; }

    public required int LogEvery { get; init; }

    public required int CheckpointEvery { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? FreezeEncoderAfter { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? FreezeDecoderAfter { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? FreezeLabelsAfter { get; init; }

    public required string Data { get; init; }

    public required int TrainLimit { get; init; }

    public required int ImageChannels { get; init; }

    public required int ImageHeight { get; init; }

    public required int ImageWidth { get; init; }

    public required int ClassCount { get; init; }

    public static TrainingConfigDocument From(TrainingConfig config)
    {
        // The task keys are left out of joint configs (they predate tasks).
        bool taskKeys = config.Task != TrainingTask.Joint;
        return new TrainingConfigDocument
        {
            Preset = config.Preset,
            Task = taskKeys ? TrainingConfig.TaskName(config.Task) : null,
            FeatureDim = taskKeys ? config.Representation.FeatureDim : null,
            ProjectionHidden = taskKeys ? config.Representation.ProjectionHidden : null,
            // Written only when not the default, so configs from before the key read byte for byte as before.
            ProbeFeatures = config.Representation.ProbeFeatures == Training.ProbeFeatures.Backbone ? null : RepresentationConfig.ProbeFeatureName(config.Representation.ProbeFeatures),
            Views = taskKeys ? [.. config.Augmentation.Views] : null,
            Latent = taskKeys ? (config.Decoder.ZeroLatent ? "none" : "lzn") : null,
            Encoder = config.Encoder.Kind == EncoderKind.Mlp ? "mlp" : "cnn",
            HiddenSizes = [.. config.Encoder.HiddenSizes],
            EncoderChannels = [.. config.Encoder.Channels],
            EncoderDepth = config.Encoder.Depth,
            EncoderDropout = config.Encoder.Dropout,
            LatentDim = config.Latent.Dim,
            DecoderChannels = config.Decoder.Channels,
            DecoderGroups = config.Decoder.Groups,
            BatchSize = config.Schedule.BatchSize,
            Epochs = config.Schedule.Epochs,
            Seed = config.Seed.ToString(CultureInfo.InvariantCulture),
            EncoderLr = config.Optimizer.EncoderLearningRate,
            DecoderLr = config.Optimizer.DecoderLearningRate,
            LabelLr = config.Optimizer.LabelLearningRate,
            WeightDecay = config.Optimizer.WeightDecay,
            WarmupSteps = config.Optimizer.WarmupSteps,
            ClipNorm = config.Optimizer.ClipNorm,
            EmaDecay = config.Optimizer.EmaDecay,
            LrDecay = config.Optimizer.LearningRateDecay == LearningRateDecay.Cosine ? "cosine" : "constant",
            LabelLoss = AssignmentLoss.Name(config.Loss.Label),
            RfWeight = config.Loss.RectifiedFlowWeight,
            LabelWeight = config.Loss.LabelWeight,
            AugmentFlip = config.Augmentation.Flip,
            AugmentShift = config.Augmentation.Shift,
            LatentSteps = config.Latent.Steps,
            LatentNoiseScale = config.Latent.NoiseScale,
            LatentSolver = config.Latent.Solver == FlowSolver.Euler ? null : "dpm",
            LatentSolverOrder = config.Latent.Solver == FlowSolver.Euler ? null : config.Latent.SolverOrder,
            DecoderLatentNoiseScale = config.Decoder.LatentNoiseScale,
            LabelSteps = config.Latent.LabelSteps,
            SampleSteps = config.Decoder.SampleSteps,
            EvalBatch = config.Schedule.EvalBatch,
            LogEvery = config.Schedule.LogEvery,
            CheckpointEvery = config.Schedule.CheckpointEvery,
            FreezeEncoderAfter = config.Optimizer.FreezeEncoderAfter,
            FreezeDecoderAfter = config.Optimizer.FreezeDecoderAfter,
            FreezeLabelsAfter = config.Optimizer.FreezeLabelsAfter,
            Data = config.Data.Source,
            TrainLimit = config.Data.TrainLimit,
            ImageChannels = config.Data.ImageChannels,
            ImageHeight = config.Data.ImageHeight,
            ImageWidth = config.Data.ImageWidth,
            ClassCount = config.Data.ClassCount,
        };
    }

    /// <summary>
    /// The config this document describes (not yet validated): an absent optional key reads as the setting of a
    /// default <see cref="TrainingConfig"/>, which is what runs used before the key existed; a name no enum knows throws
    /// a <see cref="FormatException"/> naming its key.
    /// </summary>
    public TrainingConfig ToConfig()
    {
        var defaults = new TrainingConfig();
        return new()
        {
            Preset = Preset,
            Task = Task is null ? defaults.Task : TrainingConfig.ParseTask(Task) ?? throw Unknown("task", Task),
            Seed = ulong.TryParse(Seed, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed)
                ? seed : throw new FormatException("training config: 'seed' is not an unsigned integer."),
            Data = new()
            {
                Source = Data, TrainLimit = TrainLimit, ImageChannels = ImageChannels, ImageHeight = ImageHeight, ImageWidth = ImageWidth, ClassCount = ClassCount,
            },
            Encoder = new()
            {
                Kind = Encoder switch
                {
                    "mlp" => EncoderKind.Mlp,
                    "cnn" => EncoderKind.Cnn,
                    _ => throw Unknown("encoder", Encoder),
                },
                HiddenSizes = HiddenSizes,
                Channels = EncoderChannels ?? defaults.Encoder.Channels,
                Depth = EncoderDepth ?? defaults.Encoder.Depth,
                Dropout = EncoderDropout ?? defaults.Encoder.Dropout,
            },
            Decoder = new()
            {
                Channels = DecoderChannels,
                Groups = DecoderGroups,
                SampleSteps = SampleSteps,
                LatentNoiseScale = DecoderLatentNoiseScale,
                ZeroLatent = Latent switch
                {
                    null => defaults.Decoder.ZeroLatent,
                    "lzn" => false,
                    "none" => true,
                    _ => throw Unknown("latent", Latent),
                },
            },
            Latent = new()
            {
                Dim = LatentDim,
                Steps = LatentSteps,
                Solver = LatentSolver switch
                {
                    null or "euler" => FlowSolver.Euler,
                    "dpm" => FlowSolver.DpmSolverPlusPlus,
                    _ => throw Unknown("latent_solver", LatentSolver),
                },
                SolverOrder = LatentSolverOrder ?? defaults.Latent.SolverOrder,
                NoiseScale = LatentNoiseScale,
                LabelSteps = LabelSteps,
            },
            Loss = new()
            {
                Label = LabelLoss is null ? defaults.Loss.Label : AssignmentLoss.Parse(LabelLoss) ?? throw Unknown("label_loss", LabelLoss),
                RectifiedFlowWeight = RfWeight ?? defaults.Loss.RectifiedFlowWeight,
                LabelWeight = LabelWeight ?? defaults.Loss.LabelWeight,
            },
            Optimizer = new()
            {
                EncoderLearningRate = EncoderLr,
                DecoderLearningRate = DecoderLr,
                LabelLearningRate = LabelLr,
                WeightDecay = WeightDecay,
                WarmupSteps = WarmupSteps,
                ClipNorm = ClipNorm,
                EmaDecay = EmaDecay,
                LearningRateDecay = LrDecay switch
                {
                    null => defaults.Optimizer.LearningRateDecay,
                    "constant" => LearningRateDecay.Constant,
                    "cosine" => LearningRateDecay.Cosine,
                    _ => throw Unknown("lr_decay", LrDecay),
                },
                FreezeEncoderAfter = FreezeEncoderAfter,
                FreezeDecoderAfter = FreezeDecoderAfter,
                FreezeLabelsAfter = FreezeLabelsAfter,
            },
            Schedule = new() { BatchSize = BatchSize, Epochs = Epochs, EvalBatch = EvalBatch, LogEvery = LogEvery, CheckpointEvery = CheckpointEvery },
            Augmentation = new()
            {
                Flip = AugmentFlip ?? defaults.Augmentation.Flip,
                Shift = AugmentShift ?? defaults.Augmentation.Shift,
                Views = Views ?? defaults.Augmentation.Views,
            },
            Representation = new()
            {
                FeatureDim = FeatureDim ?? defaults.Representation.FeatureDim,
                ProjectionHidden = ProjectionHidden ?? defaults.Representation.ProjectionHidden,
                ProbeFeatures = ProbeFeatures is null ? defaults.Representation.ProbeFeatures
                    : RepresentationConfig.ParseProbeFeatures(ProbeFeatures) ?? throw Unknown("probe_features", ProbeFeatures),
            },
        };
    }

    private static FormatException Unknown(string key, string? value) => new($"training config: unknown {key} '{value}'.");
}

/// <summary>
/// The serializer of the JSON a checkpoint's metadata holds, <see cref="TrainingConfigDocument"/> and
/// <see cref="EpochSums"/>, generated at compile time (no reflection, trimming-safe). Strict where readers differ: a
/// key named twice, a null where a value is required, a missing constructor parameter, a number given as a string or a
/// string as a number are errors; keys it does not know are skipped, as the hand-written reader before it skipped them.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    AllowDuplicateProperties = false,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(TrainingConfigDocument))]
[JsonSerializable(typeof(EpochSums))]
internal sealed partial class CheckpointMetadataJsonContext : JsonSerializerContext;
