using LZN.Native.Zones;

namespace LZN.Native.Training;

// The parts of a TrainingConfig, one record per concern. The defaults are also what a key added after the first
// checkpoints reads as when absent (TrainingConfigDocument.ToConfig; docs/training.md lists the keys), so a checkpoint
// written before a field existed reads as the setting it was trained with.

/// <summary>Where the images come from and their shape (keys data, train_limit, image_*, class_count).</summary>
public sealed record DataConfig
{
    /// <summary>The data source name ("fashion-mnist", "synthetic" or a folder); key <c>data</c>.</summary>
    public string Source { get; init; } = "fashion-mnist";

    /// <summary>Training images used (0 = all).</summary>
    public int TrainLimit { get; init; }

    /// <summary>Channels of each image.</summary>
    public int ImageChannels { get; init; } = 1;

    /// <summary>Height of each image in pixels.</summary>
    public int ImageHeight { get; init; } = 28;

    /// <summary>Width of each image in pixels.</summary>
    public int ImageWidth { get; init; } = 28;

    /// <summary>Classes of the labels, 0 to ClassCount - 1.</summary>
    public int ClassCount { get; init; } = 10;

    /// <summary>Values per image: channels x height x width.</summary>
    public int ImageSize => ImageChannels * ImageHeight * ImageWidth;
}

/// <summary>The image encoder (keys encoder, hidden_sizes, encoder_channels, encoder_depth, encoder_dropout).</summary>
public sealed record EncoderConfig
{
    /// <summary>MLP or CNN.</summary>
    public EncoderKind Kind { get; init; } = EncoderKind.Mlp;

    /// <summary>Hidden widths of the MLP encoder.</summary>
    public IReadOnlyList<int> HiddenSizes { get; init; } = [512, 256];

    /// <summary>Channels of the CNN encoder's 3x3 convolutions (the first at stride 1, the rest at stride 2).</summary>
    public IReadOnlyList<int> Channels { get; init; } = [32, 64, 128];

    /// <summary>Convolutions per stage of the CNN encoder (1: one per stage; each more is a stride-1 3x3 of the stage's width).</summary>
    public int Depth { get; init; } = 1;

    /// <summary>
    /// Dropout rate of the encoder (0 = none): after each hidden activation of the MLP, on the flattened features
    /// before the CNN's last Linear. Masks are keyed by the step, so resuming stays exact.
    /// </summary>
    public float Dropout { get; init; }
}

/// <summary>The rectified-flow decoder (keys decoder_channels, decoder_groups, sample_steps, decoder_latent_noise_scale, latent).</summary>
public sealed record DecoderConfig
{
    /// <summary>U-Net base channels (B = 32 in docs/nn.md).</summary>
    public int Channels { get; init; } = 32;

    /// <summary>GroupNorm groups of the U-Net (a divisor of <see cref="Channels"/>).</summary>
    public int Groups { get; init; } = 8;

    /// <summary>Euler steps of the decoder's rectified-flow sampler.</summary>
    public int SampleSteps { get; init; } = 20;

    /// <summary>
    /// Null: the decoder is conditioned on the same training latents as the label loss (one latent flow, as in the
    /// reference). A value: the decoder gets its own latents, a second flow over the same anchors with independent prior
    /// noise at this scale, so the label loss can train at the evaluation protocol's std 0 while the decoder sees latents
    /// spread over each zone, as the label flow produces them at sampling time.
    /// </summary>
    public float? LatentNoiseScale { get; init; }

    /// <summary>
    /// Generation task: true for the plain rectified-flow baseline, the same decoder with its latent input zeroed (the
    /// encoder is kept, untrained, so both runs have the same parameters); false for RF + LZN. Key <c>latent</c>, "none" or "lzn".
    /// </summary>
    public bool ZeroLatent { get; init; }
}

/// <summary>The latent and label flows (keys latent_dim, latent_steps, latent_noise_scale, label_steps).</summary>
public sealed record LatentConfig
{
    /// <summary>Latent size d.</summary>
    public int Dim { get; init; } = 64;

    /// <summary>Steps of the image latent flow (encode) during training and evaluation.</summary>
    public int Steps { get; init; } = 20;

    /// <summary>
    /// Generation task: the solver of the image latent flow in training and in every later encode of the checkpoint
    /// (Euler, or DPM-Solver++ from eps 1e-3 to 1 - eps as the reference's encoder flow).
    /// </summary>
    public FlowSolver Solver { get; init; } = FlowSolver.Euler;

    /// <summary>Order (1-3) of DPM-Solver++ when it is the <see cref="Solver"/>; the reference's is 3.</summary>
    public int SolverOrder { get; init; } = 3;

    /// <summary>
    /// Scale alpha of the N(0, I) prior noise of the training latents the label loss sees (and the decoder, unless
    /// <see cref="DecoderConfig.LatentNoiseScale"/> gives it its own); 1 in the reference's joint task.
    /// </summary>
    public float NoiseScale { get; init; } = 1f;

    /// <summary>Euler steps of the label flow (K = 100 in the reference).</summary>
    public int LabelSteps { get; init; } = 100;
}

/// <summary>What the run minimises (keys label_loss, rf_weight, label_weight).</summary>
public sealed record LossConfig
{
    /// <summary>
    /// The label loss: the reference's prob variant -mean max_k P_k(target); cross-entropy -mean log max_k P_k(target),
    /// whose gradient does not vanish on images the flow sends to the wrong class; or the cut-off cross-entropy
    /// -mean log P_u(target), which also keeps pulling on images already in the right zone.
    /// </summary>
    public AssignmentLossKind Label { get; init; } = AssignmentLossKind.Probability;

    /// <summary>Weight of the rectified-flow (decoder) loss; 0 skips the decoder (a classifier only, no samples).</summary>
    public double RectifiedFlowWeight { get; init; } = 1;

    /// <summary>Weight of the label loss; 0 skips the label flow (generation only, label anchors stay at their initial values).</summary>
    public double LabelWeight { get; init; } = 1;
}

/// <summary>
/// Adam, its learning-rate schedule, the EMA and staged freezing (keys encoder_lr, decoder_lr, label_lr, weight_decay,
/// warmup_steps, clip_norm, ema_decay, lr_decay, freeze_*_after).
/// </summary>
public sealed record OptimizerConfig
{
    /// <summary>Learning rate of the encoder (joint: the image encoder; representation: backbone and head).</summary>
    public double EncoderLearningRate { get; init; } = 1e-3;

    /// <summary>Learning rate of the decoder.</summary>
    public double DecoderLearningRate { get; init; } = 1e-3;

    /// <summary>Learning rate of the label anchors.</summary>
    public double LabelLearningRate { get; init; } = 1e-3;

    /// <summary>Decoupled (AdamW) weight decay of every parameter group, label anchors included; 0 in every preset.</summary>
    public double WeightDecay { get; init; }

    /// <summary>Steps of the linear warm-up.</summary>
    public long WarmupSteps { get; init; } = 20;

    /// <summary>The global gradient norm is clipped to this.</summary>
    public double ClipNorm { get; init; } = 1.0;

    /// <summary>Decay of the weights' exponential moving average (0 keeps none).</summary>
    public double EmaDecay { get; init; } = 0.999;

    /// <summary>Learning-rate decay after the warm-up; the cosine's horizon is the run's last step (Epochs x steps per epoch).</summary>
    public LearningRateDecay LearningRateDecay { get; init; } = LearningRateDecay.Constant;

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
}

/// <summary>Batches, epochs and what the run writes when (keys batch_size, epochs, eval_batch, log_every, checkpoint_every).</summary>
public sealed record ScheduleConfig
{
    /// <summary>Training images per step (each batch is its own set of anchors).</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Passes over the training images.</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Test images encoded together (they are each other's anchors): fixed so accuracy is reproducible.</summary>
    public int EvalBatch { get; init; } = 1000;

    /// <summary>Steps between metrics.jsonl lines.</summary>
    public int LogEvery { get; init; } = 10;

    /// <summary>Steps between checkpoints (0 = only at the end and on cancellation).</summary>
    public int CheckpointEvery { get; init; } = 500;
}

/// <summary>Training-time augmentation (keys augment_flip, augment_shift; views of the representation task).</summary>
public sealed record AugmentationConfig
{
    /// <summary>Training images are flipped horizontally at random (<see cref="Data.ImageAugmentation"/>).</summary>
    public bool Flip { get; init; }

    /// <summary>Training images are translated by up to this many pixels each way (0 = none).</summary>
    public int Shift { get; init; }

    /// <summary>Representation task: the augmentations of both views, names of <see cref="Data.ViewAugmentation.Names"/>.</summary>
    public IReadOnlyList<string> Views { get; init; } = Data.ViewAugmentation.DefaultNames;

    /// <summary>The image augmentation <see cref="Flip"/> and <see cref="Shift"/> describe.</summary>
    public Data.ImageAugmentation Images => new(Flip, Shift);
}

/// <summary>What the linear probe and k-NN read of the representation task's backbone (key probe_features).</summary>
public enum ProbeFeatures
{
    /// <summary>The backbone's output, the <see cref="RepresentationConfig.FeatureDim"/> features the head reads.</summary>
    Backbone,

    /// <summary>The last convolution's activations averaged over the image, one per channel.</summary>
    Pooled,

    /// <summary>Backbone features, then the pooled ones.</summary>
    Both,

    /// <summary>The last convolution's activations as they are, channel-major (LastChannels x h x w values).</summary>
    Map,
}

/// <summary>The representation task's backbone, projection head and probed features (keys feature_dim, projection_hidden, probe_features).</summary>
public sealed record RepresentationConfig
{
    /// <summary>The <see cref="ProbeFeatures"/> names, in declaration order.</summary>
    public static IReadOnlyList<string> ProbeFeatureNames => s_probeFeatureNames;

    private static readonly string[] s_probeFeatureNames = ["backbone", "pooled", "both", "map"];

    /// <summary>Width of the backbone's output, the features the linear probe and k-NN read (the projection head maps them to the latent).</summary>
    public int FeatureDim { get; init; } = 256;

    /// <summary>Hidden width of the projection head (features -> SiLU -> hidden -> SiLU -> latent).</summary>
    public int ProjectionHidden { get; init; } = 256;

    /// <summary>What the probe, the k-NN, the embedding plot and `lzn embed` read; training does not depend on it.</summary>
    public ProbeFeatures ProbeFeatures { get; init; } = ProbeFeatures.Backbone;

    public static string ProbeFeatureName(ProbeFeatures features) => ProbeFeatureNames[(int)features];

    /// <summary>The <see cref="ProbeFeatures"/> a name of <see cref="ProbeFeatureNames"/> stands for, or null.</summary>
    public static ProbeFeatures? ParseProbeFeatures(string? name) =>
        Array.IndexOf(s_probeFeatureNames, name) is int index and >= 0 ? (ProbeFeatures)index : null;
}
