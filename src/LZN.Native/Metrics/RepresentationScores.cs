using LZN.Native.Backends;

namespace LZN.Native.Metrics;

/// <summary>The representation protocol's two scores of one set of features: linear probe and k-NN test accuracy.</summary>
public sealed record RepresentationScores(LinearProbeResult Probe, double KnnAccuracy, int FeatureDim)
{
    public double LinearProbeAccuracy => Probe.TestAccuracy;

    /// <summary>
    /// Trains the linear probe (<see cref="LinearProbe"/>, default recipe) on the training features and scores it on the test
    /// features, and classifies the test features by their k = 20 cosine nearest neighbours among the training features.
    /// </summary>
    /// <param name="trainFeatures">[trainCount, dim]</param>
    /// <param name="testFeatures">[testCount, dim]</param>
    public static RepresentationScores Measure(IBackend backend, float[] trainFeatures, int[] trainLabels, float[] testFeatures, int[] testLabels,
        int dim, int classCount, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(trainLabels);
        var probe = LinearProbe.Run(backend, trainFeatures, trainLabels, testFeatures, testLabels, dim, classCount, new LinearProbeOptions(), seed);
        double knn = NearestNeighbours.Accuracy(backend, trainFeatures, trainLabels, testFeatures, testLabels, dim, classCount,
            Math.Min(NearestNeighbours.DefaultK, trainLabels.Length));
        return new RepresentationScores(probe, knn, dim);
    }
}
