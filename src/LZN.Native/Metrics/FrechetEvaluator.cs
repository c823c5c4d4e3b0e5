using LZN.Native.Data;

namespace LZN.Native.Metrics;

/// <summary>
/// A Frechet distance with its protocol: the feature network's id and layer, the feature width, how many generated
/// and real images entered, and which real data.
/// </summary>
public sealed record FrechetResult(double Distance, string FeatureNetId, string FeatureLayer, int FeatureDim, int GeneratedCount, int RealCount, string RealData);

/// <summary>
/// Frechet distance between generated images and a real dataset in the feature space of a <see cref="FeatureClassifier"/>
/// (docs/metrics.md). Generated images are clamped to [-1, 1] and quantised to the 256 levels real images have
/// (as a PNG would store them) before their features are taken; real images enter as the dataset holds them. The real
/// statistics are computed once per (dataset, count) and reused.
/// </summary>
public sealed class FrechetEvaluator(FeatureClassifier classifier)
{
    /// <summary>The layer the features come from, quoted in every result.</summary>
    public const string FeatureLayer = "classifier.features (SiLU of the trunk's Linear, penultimate layer)";

    private readonly Dictionary<(ImageDataset Data, int Count), FeatureStatistics> _realStatistics = [];

    public FeatureClassifier Classifier { get; } = classifier ?? throw new ArgumentNullException(nameof(classifier));

    /// <summary>FD between <paramref name="generatedCount"/> generated images [generatedCount, Shape.Size] and the first
    /// <paramref name="realCount"/> images of <paramref name="real"/> (all of them when null).</summary>
    public FrechetResult Evaluate(ReadOnlySpan<float> generated, int generatedCount, ImageDataset real, int? realCount = null)
    {
        var realStatistics = RealStatistics(real, realCount);
        var generatedStatistics = GeneratedStatistics(generated, generatedCount);
        double distance = FrechetDistance.Compute(generatedStatistics, realStatistics);
        return new FrechetResult(distance, Classifier.Id, FeatureLayer, Classifier.FeatureDim, generatedCount, realStatistics.Count, real.Name);
    }

    /// <summary>Feature moments of the first <paramref name="count"/> images of <paramref name="real"/> (cached).</summary>
    public FeatureStatistics RealStatistics(ImageDataset real, int? count = null)
    {
        Classifier.CheckDataset(real);
        int rows = Math.Min(count ?? real.Count, real.Count);
        if (!_realStatistics.TryGetValue((real, rows), out var statistics))
        {
            var features = Classifier.Features(real.Images.AsSpan(0, rows * real.Shape.Size), rows); // [rows, FeatureDim]
            statistics = FeatureStatistics.FromFeatures(features, rows, Classifier.FeatureDim);
            _realStatistics[(real, rows)] = statistics;
        }
        return statistics;
    }

    /// <summary>Feature moments of generated images [count, Shape.Size], after clamping and 8-bit quantisation.</summary>
    public FeatureStatistics GeneratedStatistics(ReadOnlySpan<float> generated, int count)
    {
        var quantised = Quantise(generated); // [count, Shape.Size]
        var features = Classifier.Features(quantised, count); // [count, FeatureDim]
        return FeatureStatistics.FromFeatures(features, count, Classifier.FeatureDim);
    }

    /// <summary>round((clamp(v, -1, 1) + 1) * 127.5) / 127.5 - 1, halves to even (the PNG writer's mapping); NaN becomes -1 (black).</summary>
    public static float[] Quantise(ReadOnlySpan<float> images)
    {
        var result = new float[images.Length];
        for (int i = 0; i < images.Length; i++)
        {
            float value = float.IsNaN(images[i]) ? -1f : Math.Clamp(images[i], -1f, 1f);
            result[i] = ImageDataset.ScalePixel((byte)MathF.Round((value + 1f) * 127.5f, MidpointRounding.ToEven));
        }
        return result;
    }
}
