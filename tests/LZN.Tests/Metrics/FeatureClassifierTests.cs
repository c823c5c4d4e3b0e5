using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.IO;
using LZN.Native.Metrics;

namespace LZN.Tests.Metrics;

/// <summary>One small classifier trained on synthetic blobs (a few seconds), shared by the tests below.</summary>
public sealed class FeatureClassifierTests
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

    private CpuBackend _backend = null!;
    private ImageDataset _train = null!;
    private ImageDataset _test = null!;
    private FeatureClassifier _classifier = null!;
    private List<EpochSummary> _epochs = null!;
    private string _folder = null!;

    [OneTimeSetUp]
    public void TrainOnce()
    {
        _backend = new CpuBackend();
        _train = SyntheticImages.Generate(1024, 10, Shape, seed: 1);
        _test = SyntheticImages.Generate(512, 10, Shape, seed: 2);
        _epochs = [];
        _classifier = FeatureClassifier.Train(_backend, _train, SmallOptions, seed: 3, "synthetic", new SynchronousProgress(_epochs.Add));
        _folder = Path.Combine(Path.GetTempPath(), $"lzn-classifiers-{Guid.NewGuid():N}");
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        _classifier.Dispose();
        _backend.Dispose();
        if (Directory.Exists(_folder))
            Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public void LearnsTheSyntheticClasses()
    {
        double accuracy = _classifier.Accuracy(_test);
        foreach (var epoch in _epochs)
            TestContext.Out.WriteLine($"epoch {epoch.Epoch}: loss {epoch.MeanLoss:G4}, train accuracy {epoch.TrainAccuracy:P1}");
        TestContext.Out.WriteLine($"test accuracy {accuracy:P2} ({_classifier.Id})");
        Assert.That(_epochs, Has.Count.EqualTo(3));
        Assert.That(_epochs[^1].MeanLoss, Is.LessThan(_epochs[0].MeanLoss / 2));
        Assert.That(accuracy, Is.GreaterThanOrEqualTo(0.95));
        Assert.That(_classifier.Id, Does.Match("^synthetic-[0-9a-f]{16}$"));
    }

    [Test]
    public void DefaultArchitectureHasTheDocumentedSize()
    {
        var fashion = new FeatureClassifierConfig(Shape, 10);
        using var classifier = new FeatureClassifier(_backend, fashion, seed: 1, "shape-check");
        Assert.That(classifier.ParameterCount, Is.EqualTo(897_354));
        Assert.That(classifier.Parameters.Select(p => p.Name), Does.Contain("classifier.trunk.fc.weight").And.Contain("classifier.head.weight"));
    }

    [Test]
    public void FeaturesArePerImageAndPenultimate()
    {
        const int count = 300; // two evaluation batches: 256 + 44
        var features = _classifier.Features(_test.Images.AsSpan(0, count * Shape.Size), count);
        Assert.That(features, Has.Length.EqualTo(count * 32));
        var single = _classifier.Features(_test.Image(270), 1);
        Assert.That(single, Is.EqualTo(features.AsSpan(270 * 32, 32).ToArray()).Within(1e-4f));
        // SiLU outputs are bounded below by -0.2785.
        Assert.That(features.Min(), Is.GreaterThanOrEqualTo(-0.28f));
    }

    [Test]
    public void SaveAndLoadGiveIdenticalPredictions()
    {
        string path = Path.Combine(_folder, "roundtrip.safetensors");
        _classifier.Save(path, FeatureClassifier.Provenance(_train, SmallOptions, 3));
        using var loaded = FeatureClassifier.Load(_backend, path);
        Assert.That(loaded.Id, Is.EqualTo(_classifier.Id));
        Assert.That(loaded.Config.Describe(), Is.EqualTo(_classifier.Config.Describe()));
        Assert.That(loaded.Logits(_test.Images, _test.Count), Is.EqualTo(_classifier.Logits(_test.Images, _test.Count)));
        var file = Safetensors.Read(path);
        Assert.That(file.Contains("classifier.trunk.conv1.weight") && file.Contains("classifier.head.bias"));
        Assert.That(file.Metadata["seed"], Is.EqualTo("3"));
    }

    [Test]
    public void LoadRefusesOtherFiles()
    {
        string path = Path.Combine(_folder, "not-a-classifier.safetensors");
        Directory.CreateDirectory(_folder);
        Safetensors.Write(path, [SafeTensor.FromFloat32("x", [1f], 1)], new Dictionary<string, string> { ["lzn.format"] = "other" });
        Assert.That(() => FeatureClassifier.Load(_backend, path), Throws.TypeOf<SafetensorsFormatException>().With.Message.Contains("format"));
    }

    [Test]
    public void CacheTrainsOnceThenLoads()
    {
        var options = SmallOptions with { Epochs = 1 };
        var small = _train.Take(256);
        using var first = FeatureClassifierCache.GetOrTrain(_backend, "synthetic", small, options, seed: 4, _folder);
        string path = Path.Combine(_folder, first.Id + ".safetensors");
        Assert.That(File.Exists(path), path);
        var written = File.GetLastWriteTimeUtc(path);
        using var second = FeatureClassifierCache.GetOrTrain(_backend, "synthetic", small, options, seed: 4, _folder);
        Assert.That(second.Id, Is.EqualTo(first.Id));
        Assert.That(File.GetLastWriteTimeUtc(path), Is.EqualTo(written));
        Assert.That(second.Logits(_test.Images.AsSpan(0, 64 * Shape.Size), 64), Is.EqualTo(first.Logits(_test.Images.AsSpan(0, 64 * Shape.Size), 64)));
        Assert.That(FeatureClassifierCache.Key("synthetic", small, options, seed: 5), Is.Not.EqualTo(first.Id));
        Assert.That(FeatureClassifierCache.Key("synthetic", _train.Take(255), options, seed: 4), Is.Not.EqualTo(first.Id));
    }

    [Test]
    public void FrechetEvaluatorSeparatesRealFromNoise()
    {
        var evaluator = new FrechetEvaluator(_classifier);
        var fresh = SyntheticImages.Generate(512, 10, Shape, seed: 9);
        var real = evaluator.Evaluate(fresh.Images, fresh.Count, _test);
        var noise = new float[512 * Shape.Size];
        for (int i = 0; i < noise.Length; i++)
            noise[i] = LZN.Native.Backends.Philox.Uniform(10, (ulong)i) * 2 - 1;
        var fake = evaluator.Evaluate(noise, 512, _test, realCount: 512);
        var oneClass = SyntheticImages.Generate(512, 1, Shape, seed: 11);
        var collapsed = evaluator.Evaluate(oneClass.Images, 512, _test);
        TestContext.Out.WriteLine($"FD fresh real {real.Distance:G4}, one class {collapsed.Distance:G4}, uniform noise {fake.Distance:G4}");
        Assert.That(real.Distance, Is.LessThan(collapsed.Distance / 20));
        Assert.That(real.Distance, Is.LessThan(fake.Distance / 20));
        Assert.That(real with { Distance = 0 }, Is.EqualTo(new FrechetResult(0, _classifier.Id, FrechetEvaluator.FeatureLayer, 32, 512, 512, _test.Name)));
    }

    [Test]
    public void DivergentTrainingStopsWithAnError()
    {
        var options = SmallOptions with { Epochs = 1, LearningRate = 1e30, WarmupSteps = 0 };
        Assert.That(() => FeatureClassifier.Train(_backend, _train.Take(256), options, seed: 12),
            Throws.InvalidOperationException.With.Message.Contains("diverged"));
    }

    [Test]
    public void QuantiseMatchesThePngMapping()
    {
        Assert.That(FrechetEvaluator.Quantise([-2f, -1f, 0f, 1f, 5f, float.NaN]),
            Is.EqualTo(new[] { -1f, -1f, ImageDataset.ScalePixel(128), 1f, 1f, -1f }));
    }

    private sealed class SynchronousProgress(Action<EpochSummary> report) : IProgress<EpochSummary>
    {
        public void Report(EpochSummary value) => report(value);
    }
}
