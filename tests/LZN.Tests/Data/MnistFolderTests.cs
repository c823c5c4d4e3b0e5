using LZN.Native.Data;

namespace LZN.Tests.Data;

public class MnistFolderTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("lzn-mnist-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [TestCase(false)]
    [TestCase(true)]
    public void LoadsAnyImageSizeAndClassCount(bool gzip)
    {
        IdxTestFiles.WriteFolder(_folder, trainLabels: [0, 4, 2, 1, 3], testLabels: [3, 0], height: 5, width: 7, gzip: gzip);

        var (train, test) = MnistFolder.Load(_folder);

        Assert.That(train.Shape, Is.EqualTo(new ImageShape(5, 7, 1)));
        Assert.That((train.Count, test.Count), Is.EqualTo((5, 2)));
        Assert.That(train.ClassCount, Is.EqualTo(5), "max label + 1");
        Assert.That(test.ClassCount, Is.EqualTo(5), "the test split takes the training class count");
        Assert.That(train.Labels, Is.EqualTo(new[] { 0, 4, 2, 1, 3 }));
        Assert.That(train.Images, Has.Length.EqualTo(5 * 35));
        // Pixel i of the file is i * 7 mod 256 (IdxTestFiles), scaled by x / 127.5 - 1.
        Assert.That(train.Images[3], Is.EqualTo(21 / 127.5f - 1f));
    }

    [Test]
    public void PrefersTheRawFileWhenBothExist()
    {
        IdxTestFiles.WriteFolder(_folder, [1, 0], [0], gzip: true);
        File.WriteAllBytes(Path.Combine(_folder, "train-labels-idx1-ubyte"), IdxTestFiles.LabelBytes(0, 0));

        var train = MnistFolder.Load(_folder, DatasetSplit.Train);

        Assert.That(train.Labels, Is.EqualTo(new[] { 0, 0 }));
    }

    [Test]
    public void RejectsAnImageLabelCountMismatchNamingBothFiles()
    {
        IdxTestFiles.WriteFolder(_folder, [1, 0, 1], [0]);
        File.WriteAllBytes(Path.Combine(_folder, "train-labels-idx1-ubyte"), IdxTestFiles.LabelBytes(1, 0));

        var error = Assert.Throws<IdxFormatException>(() => MnistFolder.Load(_folder));
        Assert.That(error.Message, Does.Contain("train-labels-idx1-ubyte").And.Contain("holds 2 labels")
            .And.Contain("train-images-idx3-ubyte").And.Contain("3 images"));
    }

    [Test]
    public void RejectsATestLabelOutsideTheTrainingClasses()
    {
        IdxTestFiles.WriteFolder(_folder, trainLabels: [0, 1], testLabels: [0, 2]);

        Assert.That(() => MnistFolder.Load(_folder),
            Throws.TypeOf<IdxFormatException>().With.Message.Contains("t10k-labels").And.Message.Contains("label 2 at index 1"));
    }

    [Test]
    public void RejectsSplitsOfDifferentImageSizes()
    {
        IdxTestFiles.WriteFolder(_folder, [0, 1], [1], height: 4, width: 4);
        File.WriteAllBytes(Path.Combine(_folder, "t10k-images-idx3-ubyte"), IdxTestFiles.ImageBytes(1, 5, 5));

        Assert.That(() => MnistFolder.Load(_folder), Throws.TypeOf<IdxFormatException>().With.Message.Contains("4x4x1").And.Message.Contains("5x5x1"));
    }

    [Test]
    public void AMissingFileIsNamed()
    {
        IdxTestFiles.WriteFolder(_folder, [0], [0]);
        File.Delete(Path.Combine(_folder, "t10k-images-idx3-ubyte"));

        Assert.That(MnistFolder.IsComplete(_folder), Is.False);
        Assert.That(() => MnistFolder.Load(_folder), Throws.TypeOf<FileNotFoundException>().With.Message.Contains("t10k-images-idx3-ubyte.gz"));
    }

    [Test]
    public void AStrayTrainingLabelIsRefusedInsteadOfAddingClasses()
    {
        // The reproduction: one label of 200 among 0..9 grew the model to 201 classes and wrecked accuracy.
        byte[] labels = [.. Enumerable.Range(0, 30).Select(i => (byte)(i % 10))];
        labels[17] = 200;
        IdxTestFiles.WriteFolder(_folder, trainLabels: labels, testLabels: [0, 1]);

        var error = Assert.Throws<IdxFormatException>(() => MnistFolder.Load(_folder));
        Assert.That(error!.Message, Does.Contain("train-labels-idx1-ubyte").And.Contain("label 200 (index 17) implies 201 classes, but class 10 has no image")
            .And.Contain("--classes 201"));
    }

    [Test]
    public void AGivenClassCountAllowsAbsentClassesAndRefusesLabelsBeyondIt()
    {
        IdxTestFiles.WriteFolder(_folder, trainLabels: [0, 4, 4], testLabels: [2]);
        var (train, _) = MnistFolder.Load(_folder, classCount: 5);
        Assert.That(train.ClassCount, Is.EqualTo(5));

        Assert.That(() => MnistFolder.Load(_folder, classCount: 4),
            Throws.TypeOf<IdxFormatException>().With.Message.Contains("label 4 at index 1 is outside the classes [0, 4)"));
    }

    [Test]
    public void AnEmptySplitIsRefused()
    {
        IdxTestFiles.WriteFolder(_folder, trainLabels: [0, 1], testLabels: []);
        Assert.That(() => MnistFolder.Load(_folder),
            Throws.TypeOf<IdxFormatException>().With.Message.Contains("t10k-images-idx3-ubyte").And.Message.Contains("holds no images; the test split needs at least one"));
    }
}
