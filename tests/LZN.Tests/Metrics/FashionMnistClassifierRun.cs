using System.Diagnostics;
using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.Metrics;

namespace LZN.Tests.Metrics;

/// <summary>
/// The documented Fashion-MNIST run (docs/metrics.md): the default classifier recipe on the full training split,
/// cached under the user cache like any evaluation would, then its test accuracy, a linear probe on its features and
/// reference Frechet distances. Minutes on a CPU, so explicit; ignored when the data is not on this machine.
/// </summary>
[Explicit("trains the Fashion-MNIST feature classifier: minutes on a CPU")]
[Category("FashionMnist")]
public sealed class FashionMnistClassifierRun
{
    [Test]
    public async Task TrainsTheDefaultClassifier()
    {
        ImageDataset train, test;
        try
        {
            (train, test) = await DataSources.LoadAsync(FashionMnist.Name);
        }
        catch (DirectoryNotFoundException ex)
        {
            Assert.Ignore(ex.Message);
            return;
        }
        using var backend = new CpuBackend();
        var options = new FeatureClassifierOptions();
        var clock = Stopwatch.StartNew();
        using var classifier = FeatureClassifierCache.GetOrTrain(backend, FashionMnist.Name, train, options, seed: 1,
            progress: new Progress(summary => TestContext.Out.WriteLine(
                $"epoch {summary.Epoch}: loss {summary.MeanLoss:F4}, train accuracy {summary.TrainAccuracy:P2} ({clock.Elapsed.TotalSeconds:F0} s)")));
        TestContext.Out.WriteLine($"{classifier.Id} ({classifier.ParameterCount:N0} parameters): ready after {clock.Elapsed.TotalSeconds:F0} s on {backend.Description}");

        var predicted = classifier.Predict(test.Images, test.Count);
        double accuracy = ClassificationMetrics.Accuracy(predicted, test.Labels);
        var perClass = ClassificationMetrics.PerClassAccuracy(ClassificationMetrics.ConfusionMatrix(predicted, test.Labels, test.ClassCount));
        TestContext.Out.WriteLine($"test accuracy {accuracy:P2}; per class {string.Join(", ", perClass.Select(a => a.ToString("P0", System.Globalization.CultureInfo.InvariantCulture)))}");

        var probeTrain = train.Take(10_000);
        var probe = LinearProbe.Run(backend, classifier.Features(probeTrain.Images, probeTrain.Count), probeTrain.Labels,
            classifier.Features(test.Images, test.Count), test.Labels, classifier.FeatureDim, test.ClassCount, new LinearProbeOptions(), seed: 2);
        TestContext.Out.WriteLine($"linear probe on its features (10,000 train images): test accuracy {probe.TestAccuracy:P2}");

        var evaluator = new FrechetEvaluator(classifier);
        var trainPart = train.Take(10_000);
        var trainVsTest = evaluator.Evaluate(trainPart.Images, trainPart.Count, test);
        int half = test.Count / 2, size = test.Shape.Size;
        var secondHalf = new ImageDataset($"{test.Name} [{half}, {test.Count})", test.Shape, test.Images[(half * size)..], test.Labels[half..], test.ClassCount);
        var halfVsHalf = evaluator.Evaluate(test.Images.AsSpan(0, half * size), half, secondHalf);
        var blobs = SyntheticImages.Generate(10_000, 10, test.Shape, seed: 3);
        var blobsVsTest = evaluator.Evaluate(blobs.Images, blobs.Count, test);
        TestContext.Out.WriteLine($"FD train[0,10k) vs test: {trainVsTest.Distance:F3}; test halves: {halfVsHalf.Distance:F3}; synthetic blobs vs test: {blobsVsTest.Distance:F1}");
        TestContext.Out.WriteLine($"total {clock.Elapsed.TotalSeconds:F0} s");

        Assert.That(accuracy, Is.GreaterThanOrEqualTo(0.88));
        Assert.That(trainVsTest.Distance, Is.LessThan(blobsVsTest.Distance / 50));
    }

    private sealed class Progress(Action<EpochSummary> report) : IProgress<EpochSummary>
    {
        public void Report(EpochSummary value) => report(value);
    }
}
