using LZN.Native.Data;

namespace LZN.Tests.Data;

public class ImageDatasetTests
{
    private static ImageDataset Tiny() =>
        ImageDataset.FromBytes("tiny", new ImageShape(1, 2, 1), pixels: [0, 255, 51, 204, 127, 128], labels: [2, 0, 1]);

    [Test]
    public void ScalesBytesToMinusOneToOne()
    {
        var dataset = Tiny();

        Assert.That(dataset.Images, Is.EqualTo(new[] { -1f, 1f, -0.6f, 0.6f, -1f / 255, 1f / 255 }).Within(1e-6f));
        Assert.That(dataset.ClassCount, Is.EqualTo(3));
        Assert.That(dataset.Image(1).ToArray(), Is.EqualTo(new[] { -0.6f, 0.6f }).Within(1e-6f));
    }

    [Test]
    public void GatherCopiesImagesAndLabelsInIndexOrder()
    {
        var dataset = Tiny();
        var images = new float[2 * 2]; // [batchSize, 2]
        var labels = new int[2]; // [batchSize]

        dataset.Gather([2, 0], images, labels);

        Assert.That(images, Is.EqualTo(new[] { -1f / 255, 1f / 255, -1f, 1f }).Within(1e-6f));
        Assert.That(labels, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(() => dataset.Gather([0], new float[3], new int[1]), Throws.ArgumentException);
    }

    [Test]
    public void TakeKeepsTheFirstImagesAndTheClassCount()
    {
        var subset = Tiny().Take(2);

        Assert.That(subset.Count, Is.EqualTo(2));
        Assert.That(subset.Labels, Is.EqualTo(new[] { 2, 0 }));
        Assert.That(subset.ClassCount, Is.EqualTo(3));
        Assert.That(subset.Images, Has.Length.EqualTo(4));
        Assert.That(Tiny().Take(10).Count, Is.EqualTo(3));
    }

    [Test]
    public void RejectsInconsistentContents()
    {
        var shape = new ImageShape(2, 2, 1);
        Assert.That(() => new ImageDataset("x", shape, new float[7], new int[2], 2), Throws.ArgumentException.With.Message.Contains("do not make 2 images"));
        Assert.That(() => new ImageDataset("x", shape, new float[8], [0, 2], 2), Throws.ArgumentException.With.Message.Contains("label 2"));
    }
}
