using LZN.Native.Backends.Cpu;
using LZN.Native.IO;
using LZN.Native.Metrics;

namespace LZN.Tests.Metrics;

public class RepresentationMetricsTests
{
    /// <summary>k-NN against a float64 brute force: cosine similarities, the k best, majority vote.</summary>
    [TestCase(1)]
    [TestCase(5)]
    [TestCase(20)]
    public void NearestNeighboursMatchesABruteForce(int k)
    {
        using var backend = new CpuBackend();
        var random = new Random(7);
        int dim = 6, bankCount = 300, queryCount = 50, classes = 4;
        float[] bank = [.. Enumerable.Range(0, bankCount * dim).Select(_ => (float)(random.NextDouble() * 2 - 1))];
        int[] bankLabels = [.. Enumerable.Range(0, bankCount).Select(i => i % classes)];
        float[] queries = [.. Enumerable.Range(0, queryCount * dim).Select(_ => (float)(random.NextDouble() * 2 - 1))];

        var predicted = NearestNeighbours.Classify(backend, bank, bankLabels, queries, dim, classes, k);
        for (int q = 0; q < queryCount; q++)
        {
            var best = Enumerable.Range(0, bankCount).OrderByDescending(j => Cosine(queries, q, bank, j, dim)).Take(k).ToList();
            var votes = best.GroupBy(j => bankLabels[j]).Select(g => (Class: g.Key, Count: g.Count(), Weight: g.Sum(j => Cosine(queries, q, bank, j, dim))))
                .OrderByDescending(v => v.Count).ThenByDescending(v => v.Weight).First();
            Assert.That(predicted[q], Is.EqualTo(votes.Class), $"query {q}");
        }
    }

    private static double Cosine(float[] a, int i, float[] b, int j, int dim)
    {
        double dot = 0, na = 0, nb = 0;
        for (int t = 0; t < dim; t++)
        {
            dot += (double)a[i * dim + t] * b[j * dim + t];
            na += (double)a[i * dim + t] * a[i * dim + t];
            nb += (double)b[j * dim + t] * b[j * dim + t];
        }
        return dot / Math.Sqrt(na * nb);
    }

    [Test]
    public void SeparableFeaturesScoreFullMarksAndNoiseScoresChance()
    {
        using var backend = new CpuBackend();
        var random = new Random(3);
        int dim = 8, classes = 4;
        float[] Features(int count, int[] labels, bool informative) => [.. Enumerable.Range(0, count * dim).Select(index =>
            (float)((informative && index % dim == labels[index / dim] ? 5 : 0) + random.NextDouble() - 0.5))];
        int[] trainLabels = [.. Enumerable.Range(0, 400).Select(i => i % classes)], testLabels = [.. Enumerable.Range(0, 200).Select(i => i % classes)];
        var clean = RepresentationScores.Measure(backend, Features(400, trainLabels, true), trainLabels, Features(200, testLabels, true), testLabels, dim, classes, 1);
        Assert.That((clean.LinearProbeAccuracy, clean.KnnAccuracy), Is.EqualTo((1.0, 1.0)));
        var noise = RepresentationScores.Measure(backend, Features(400, trainLabels, false), trainLabels, Features(200, testLabels, false), testLabels, dim, classes, 1);
        Assert.That(noise.KnnAccuracy, Is.LessThan(0.45));
    }

    [Test]
    public void ThePcaProjectionFindsTheTwoWidestDirectionsAndThePlotIsAPng()
    {
        var random = new Random(5);
        int count = 500, dim = 5;
        // Spread 10 along dimension 3, 3 along dimension 1, 0.1 elsewhere.
        float[] features = [.. Enumerable.Range(0, count * dim).Select(index =>
            (float)((random.NextDouble() - 0.5) * (index % dim == 3 ? 10 : index % dim == 1 ? 3 : 0.1)))];
        var points = EmbeddingPlot.Project(features, count, dim);
        double Correlation(int axis, int dimension)
        {
            double sxy = 0, sxx = 0, syy = 0;
            for (int i = 0; i < count; i++)
            {
                sxy += points[2 * i + axis] * features[i * dim + dimension];
                sxx += points[2 * i + axis] * points[2 * i + axis];
                syy += (double)features[i * dim + dimension] * features[i * dim + dimension];
            }
            return Math.Abs(sxy / Math.Sqrt(sxx * syy));
        }
        Assert.That(Correlation(0, 3), Is.GreaterThan(0.99));
        Assert.That(Correlation(1, 1), Is.GreaterThan(0.99));

        string path = Path.Combine(Path.GetTempPath(), $"lzn-pca-{Guid.NewGuid():N}.png");
        try
        {
            EmbeddingPlot.WritePca(path, features, [.. Enumerable.Range(0, count).Select(i => i % 10)], dim, size: 128);
            using var image = SixLabors.ImageSharp.Image.Load(path);
            Assert.That((image.Width, image.Height), Is.EqualTo((128, 128)));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
