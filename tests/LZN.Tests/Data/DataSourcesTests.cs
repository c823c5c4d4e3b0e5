using LZN.Native.Data;

namespace LZN.Tests.Data;

public class DataSourcesTests
{
    [Test]
    public async Task SyntheticNeedsNoFiles()
    {
        var (train, test) = await DataSources.LoadAsync("synthetic");

        Assert.That((train.Count, test.Count), Is.EqualTo((2048, 512)));
        Assert.That(train.Shape, Is.EqualTo(new ImageShape(28, 28, 1)));
        Assert.That(train.Images[..test.Images.Length], Is.Not.EqualTo(test.Images), "train and test come from different seeds");
    }

    [Test]
    public async Task AFolderIsReadAsMnistStyleFiles()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-source-").FullName;
        try
        {
            IdxTestFiles.WriteFolder(folder, trainLabels: [0, 3, 1, 2], testLabels: [1], height: 9, width: 6);

            var (train, test) = await DataSources.LoadAsync(folder);

            Assert.That(train.Shape, Is.EqualTo(new ImageShape(9, 6, 1)));
            Assert.That((train.ClassCount, test.Count), Is.EqualTo((4, 1)));

            File.Delete(Path.Combine(folder, "train-images-idx3-ubyte"));
            Assert.That(() => DataSources.LoadAsync(folder), Throws.TypeOf<DirectoryNotFoundException>().With.Message.Contains("train-images-idx3-ubyte"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void AnUnknownNameThatIsNoFolderSaysSo()
    {
        Assert.That(() => DataSources.LoadAsync("/nonexistent/lzn-data"),
            Throws.TypeOf<DirectoryNotFoundException>().With.Message.Contains("not 'fashion-mnist', not 'synthetic', and no such folder"));
    }
}
