using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Metrics;

namespace LZN.Tests.Metrics;

public sealed class LinearProbeTests
{
    [Test]
    public void SeparatesLinearlySeparableFeatures()
    {
        using var backend = new CpuBackend();
        var (trainFeatures, trainLabels) = Clusters(800, seed: 1);
        var (testFeatures, testLabels) = Clusters(400, seed: 2);
        var result = LinearProbe.Run(backend, trainFeatures, trainLabels, testFeatures, testLabels, Dim, Classes,
            new LinearProbeOptions { BatchSize = 64 }, seed: 3);
        TestContext.Out.WriteLine($"probe: train {result.TrainAccuracy:P2}, test {result.TestAccuracy:P2}, loss {result.FinalLoss:G4}");
        Assert.That(result.TestAccuracy, Is.GreaterThanOrEqualTo(0.99));
        Assert.That(result.FinalLoss, Is.LessThan(0.1));
        int total = 0;
        foreach (int count in result.TestConfusion)
            total += count;
        Assert.That(total, Is.EqualTo(400));
    }

    [Test]
    public void RandomLabelsStayNearChanceOnTheTestSplit()
    {
        using var backend = new CpuBackend();
        var (trainFeatures, _) = Clusters(800, seed: 4);
        var (testFeatures, _) = Clusters(800, seed: 5);
        int[] Random(int count, ulong seed) => [.. Enumerable.Range(0, count).Select(i => (int)(Philox.Generate(seed, (ulong)i).R0 % Classes))];
        var result = LinearProbe.Run(backend, trainFeatures, Random(800, 6), testFeatures, Random(800, 7), Dim, Classes,
            new LinearProbeOptions { Epochs = 10, BatchSize = 64 }, seed: 8);
        Assert.That(result.TestAccuracy, Is.InRange(0.15, 0.35));
    }

    private const int Dim = 16, Classes = 4;

    /// <summary>[count, Dim] features: class c is N(mu_c, I) with the class means 6 apart along distinct axes, plus a shared offset.</summary>
    private static (float[] Features, int[] Labels) Clusters(int count, ulong seed)
    {
        var features = new float[count * Dim];
        var labels = new int[count];
        for (int row = 0; row < count; row++)
        {
            int label = row % Classes;
            labels[row] = label;
            for (int j = 0; j < Dim; j++)
                features[row * Dim + j] = Philox.Normal(seed, (ulong)(row * Dim + j)) + (j == label ? 6f : 0f) + 0.5f * j;
        }
        return (features, labels);
    }
}
