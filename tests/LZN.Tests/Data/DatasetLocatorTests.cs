using LZN.Native.Data;

namespace LZN.Tests.Data;

public class DatasetLocatorTests
{
    private string _root = "";
    private Dictionary<string, string> _environment = null!;

    [SetUp]
    public void CreateRoot()
    {
        _root = Directory.CreateTempSubdirectory("lzn-locate-").FullName;
        _environment = new Dictionary<string, string> { ["HOME"] = Path.Combine(_root, "home") };
    }

    [TearDown]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    private DatasetLocator Locator() =>
        new("toy", Path.Combine(_root, "system", "toy"), name => _environment.GetValueOrDefault(name));

    private string MakeDataset(params string[] parts)
    {
        string folder = Path.Combine([_root, .. parts]);
        IdxTestFiles.WriteFolder(folder, [0, 1], [1], gzip: true);
        return folder;
    }

    [Test]
    public void SearchesExplicitThenEnvironmentThenCacheThenSystem()
    {
        string system = MakeDataset("system", "toy");
        Assert.That(Locator().Locate(null), Is.EqualTo(new DatasetLocation(system, DatasetOrigin.SystemFolder)));

        string cache = MakeDataset("home", ".cache", "lzn", "datasets", "toy");
        Assert.That(Locator().Locate(null), Is.EqualTo(new DatasetLocation(cache, DatasetOrigin.UserCache)));

        string environmentRoot = Path.Combine(_root, "data");
        string environment = MakeDataset("data", "toy");
        _environment["LZN_DATA"] = environmentRoot;
        Assert.That(Locator().Locate(null), Is.EqualTo(new DatasetLocation(environment, DatasetOrigin.EnvironmentVariable)));

        string explicitFolder = MakeDataset("mine");
        Assert.That(Locator().Locate(explicitFolder), Is.EqualTo(new DatasetLocation(explicitFolder, DatasetOrigin.ExplicitPath)));
    }

    [Test]
    public void LznDataMayPointAtTheDatasetFolderItself()
    {
        string folder = MakeDataset("flat");
        _environment["LZN_DATA"] = folder;

        Assert.That(Locator().Locate(null), Is.EqualTo(new DatasetLocation(folder, DatasetOrigin.EnvironmentVariable)));
    }

    [Test]
    public void XdgCacheHomeReplacesTheHomeCache()
    {
        _environment["XDG_CACHE_HOME"] = Path.Combine(_root, "xdg");
        string cache = MakeDataset("xdg", "lzn", "datasets", "toy");
        MakeDataset("home", ".cache", "lzn", "datasets", "toy");

        Assert.That(Locator().UserCacheFolder, Is.EqualTo(cache));
        Assert.That(Locator().Locate(null).Folder, Is.EqualTo(cache));
    }

    [Test]
    public void AnIncompleteFolderIsSkippedButAnIncompleteExplicitPathIsAnError()
    {
        string system = MakeDataset("system", "toy");
        string cache = MakeDataset("home", ".cache", "lzn", "datasets", "toy");
        File.Delete(Path.Combine(cache, "t10k-labels-idx1-ubyte.gz"));

        Assert.That(Locator().Locate(null).Folder, Is.EqualTo(system));
        Assert.That(() => Locator().Locate(cache),
            Throws.TypeOf<DirectoryNotFoundException>().With.Message.Contains(cache).And.Message.Contains("missing t10k-labels-idx1-ubyte"));
    }

    [Test]
    public void NotFoundListsEveryPlaceSearched()
    {
        _environment["LZN_DATA"] = Path.Combine(_root, "data");
        var locator = Locator();

        Assert.That(locator.Find(null), Is.Null);
        var error = Assert.Throws<DirectoryNotFoundException>(() => locator.Locate(null));
        Assert.That(error.Message, Does.Contain(Path.Combine(_root, "data", "toy")).And.Contain(locator.UserCacheFolder)
            .And.Contain(Path.Combine(_root, "system", "toy")).And.Contain("LZN_DATA"));
    }

    [Test]
    public void FashionMnistLocatorEndsAtTheDebianFolder()
    {
        var candidates = FashionMnist.Locator(name => _environment.GetValueOrDefault(name)).Candidates(null);

        Assert.That(candidates[^1], Is.EqualTo(new DatasetLocation("/usr/share/datasets/fashion-mnist", DatasetOrigin.SystemFolder)));
        Assert.That(candidates[^2].Folder, Is.EqualTo(Path.Combine(_root, "home", ".cache", "lzn", "datasets", "fashion-mnist")));
    }
}
