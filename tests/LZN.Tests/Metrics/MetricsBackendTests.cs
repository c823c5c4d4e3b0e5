using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.Metrics;
using LZN.Tests.Backends;

namespace LZN.Tests.Metrics;

/// <summary>The metrics on every backend: the cross-entropy gradient, training, and a saved classifier's features against the managed CPU backend.</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class MetricsBackendTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private static readonly ImageShape Shape = new(28, 28, 1);

    private static readonly FeatureClassifierOptions SmallOptions = new()
    {
        Channels = [8, 16, 16],
        Groups = 4,
        FeatureDim = 32,
        Epochs = 3,
        BatchSize = 64,
        LearningRate = 3e-3,
        WarmupSteps = 10,
    };

    [Test]
    public void CrossEntropyGradientMatchesTheFloat64Formula()
    {
        const int rows = 37, classes = 10;
        var logits = RandomValues(rows * classes, seed: 1, scale: 8);
        var labels = Enumerable.Range(0, rows).Select(row => row * 7 % classes).ToArray();
        using var logitBuffer = Backend.FromHost(logits);
        using var labelBuffer = Backend.FromHost(labels);
        using var gradient = Backend.AllocateFloat(logits.Length);
        using var loss = new SoftmaxCrossEntropy(Backend);
        double value = loss.LossAndGradient(logitBuffer, labelBuffer, rows, classes, gradient);
        var actual = gradient.ToArray();
        double expectedLoss = 0;
        for (int row = 0; row < rows; row++)
        {
            var z = logits.AsSpan(row * classes, classes).ToArray().Select(v => (double)v).ToArray();
            double max = z.Max(), sum = z.Sum(v => Math.Exp(v - max));
            expectedLoss += (max + Math.Log(sum) - z[labels[row]]) / rows;
            for (int c = 0; c < classes; c++)
            {
                double expected = (Math.Exp(z[c] - max) / sum - (c == labels[row] ? 1 : 0)) / rows;
                Assert.That(actual[row * classes + c], Is.EqualTo(expected).Within(1e-7), $"row {row}, class {c}");
            }
        }
        Assert.That(value, Is.EqualTo(expectedLoss).Within(1e-12));
    }

    [Test]
    public void TrainsOnSyntheticImages()
    {
        var train = SyntheticImages.Generate(1024, 10, Shape, seed: 1);
        var test = SyntheticImages.Generate(512, 10, Shape, seed: 2);
        using var classifier = FeatureClassifier.Train(Backend, train, SmallOptions, seed: 3, "synthetic");
        double accuracy = classifier.Accuracy(test);
        TestContext.Out.WriteLine($"{Backend.Description}: test accuracy {accuracy:P2}");
        Assert.That(accuracy, Is.GreaterThanOrEqualTo(0.95));
    }

    [Test]
    public void SavedClassifierGivesTheReferenceFeatures()
    {
        var train = SyntheticImages.Generate(256, 10, Shape, seed: 4);
        var images = SyntheticImages.Generate(40, 10, Shape, seed: 5);
        string path = Path.Combine(Path.GetTempPath(), $"lzn-classifier-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var reference = new CpuBackend(CpuGemmProvider.Managed);
            using var trained = FeatureClassifier.Train(reference, train, SmallOptions with { Epochs = 1 }, seed: 6, "synthetic");
            trained.Save(path);
            using var loaded = FeatureClassifier.Load(Backend, path);
            var expected = trained.Features(images.Images, images.Count);
            var actual = loaded.Features(images.Images, images.Count);
            for (int i = 0; i < expected.Length; i++)
                Assert.That(actual[i], Is.EqualTo(expected[i]).Within(1e-4 + 1e-3 * Math.Abs(expected[i])), $"feature {i}");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
