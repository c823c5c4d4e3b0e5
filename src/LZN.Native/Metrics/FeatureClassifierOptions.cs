using System.Globalization;
using LZN.Native.Data;

namespace LZN.Native.Metrics;

/// <summary>The architecture of a <see cref="FeatureClassifier"/>: input images, trunk channels, GroupNorm groups, feature width, classes.</summary>
public sealed record FeatureClassifierConfig(ImageShape Shape, int ClassCount)
{
    /// <summary>Channels of the three 3x3 convolutions (strides 1, 2, 2), as in <see cref="Nn.CnnEncoder"/>.</summary>
    public IReadOnlyList<int> Channels { get; init; } = [32, 64, 128];

    public int Groups { get; init; } = 8;

    /// <summary>Width of the penultimate layer, the features the Frechet distance and probes read.</summary>
    public int FeatureDim { get; init; } = 128;

    /// <summary>One canonical line (invariant culture): the cache key and the file metadata use it.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"shape={Shape.Height}x{Shape.Width}x{Shape.Channels};classes={ClassCount};channels={string.Join(',', Channels)};groups={Groups};features={FeatureDim}");
}

/// <summary>The training recipe of a <see cref="FeatureClassifier"/>: AdamW, linear warm-up then cosine decay to zero.</summary>
public sealed record FeatureClassifierOptions
{
    public IReadOnlyList<int> Channels { get; init; } = [32, 64, 128];

    public int Groups { get; init; } = 8;

    public int FeatureDim { get; init; } = 128;

    public int Epochs { get; init; } = 2;

    public int BatchSize { get; init; } = 128;

    public double LearningRate { get; init; } = 2e-3;

    /// <summary>Decoupled decay on weights only (biases and norm parameters are exempt).</summary>
    public double WeightDecay { get; init; } = 1e-4;

    public long WarmupSteps { get; init; } = 50;

    /// <summary>The architecture these options give for a dataset.</summary>
    public FeatureClassifierConfig ConfigFor(ImageDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        return new FeatureClassifierConfig(dataset.Shape, dataset.ClassCount) { Channels = Channels, Groups = Groups, FeatureDim = FeatureDim };
    }

    /// <summary>One canonical line of the recipe (invariant culture), part of the cache key.</summary>
    public string DescribeRecipe() => string.Create(CultureInfo.InvariantCulture,
        $"epochs={Epochs};batch={BatchSize};lr={LearningRate:R};wd={WeightDecay:R};warmup={WarmupSteps};schedule=cosine");
}
