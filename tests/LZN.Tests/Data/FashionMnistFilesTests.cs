using System.Diagnostics;
using System.Numerics.Tensors;
using LZN.Native.Data;

namespace LZN.Tests.Data;

/// <summary>The real Fashion-MNIST files (Debian's dataset-fashion-mnist; CI installs it).</summary>
public class FashionMnistFilesTests
{
    private ImageDataset _train = null!;
    private ImageDataset _test = null!;

    [OneTimeSetUp]
    public void LoadOnce()
    {
        if (!MnistFolder.IsComplete(FashionMnist.SystemFolder))
            Assert.Ignore($"{FashionMnist.SystemFolder} is absent (apt-get install dataset-fashion-mnist).");
        var watch = Stopwatch.StartNew();
        (_train, _test) = MnistFolder.Load(FashionMnist.SystemFolder);
        TestContext.Progress.WriteLine($"Fashion-MNIST train + test loaded in {watch.ElapsedMilliseconds} ms");
    }

    [Test]
    public void HasTheDocumentedSizes()
    {
        Assert.That((_train.Count, _test.Count), Is.EqualTo((60_000, 10_000)));
        Assert.That(_train.Shape, Is.EqualTo(new ImageShape(28, 28, 1)));
        Assert.That((_train.ClassCount, _test.ClassCount), Is.EqualTo((10, 10)));
        Assert.That(_train.Images, Has.Length.EqualTo(60_000 * 784));
    }

    [Test]
    public void ClassesAreBalanced()
    {
        Assert.That(_train.Labels.CountBy(label => label).Select(pair => pair.Value), Is.All.EqualTo(6000));
        Assert.That(_test.Labels.CountBy(label => label).Select(pair => pair.Value), Is.All.EqualTo(1000));
    }

    [Test]
    public void MatchesValuesReadIndependently()
    {
        // Read with Python's gzip module from the same files: the first labels, the byte sum of the first
        // training image and the mean byte over all training pixels.
        Assert.That(_train.Labels[..10], Is.EqualTo(new[] { 9, 0, 0, 3, 0, 2, 7, 2, 5, 5 }));
        Assert.That(_test.Labels[..10], Is.EqualTo(new[] { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7 }));
        double firstImageByteSum = 0;
        foreach (float value in _train.Image(0))
            firstImageByteSum += (value + 1) * 127.5;
        Assert.That(firstImageByteSum, Is.EqualTo(76247).Within(0.5));
        double mean = _train.Images.Average(value => (double)value);
        Assert.That(mean, Is.EqualTo(72.94035223214286 / 127.5 - 1).Within(1e-6));
    }

    [Test]
    public void PixelsSpanMinusOneToOne()
    {
        Assert.That(TensorPrimitives.Min(_train.Images), Is.EqualTo(-1f));
        Assert.That(TensorPrimitives.Max(_train.Images), Is.EqualTo(1f));
    }
}
