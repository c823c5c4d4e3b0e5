using LZN.Native.Data;

namespace LZN.Tests.Data;

/// <summary>The download path against a loopback HTTP server (there is no internet in CI).</summary>
public class DatasetDownloaderTests
{
    private string _root = "";
    private string _mirror = "";
    private LoopbackFileServer _server = null!;
    private HttpClient _client = null!;

    [SetUp]
    public void StartServer()
    {
        _root = Directory.CreateTempSubdirectory("lzn-download-").FullName;
        _mirror = Path.Combine(_root, "mirror");
        IdxTestFiles.WriteFolder(_mirror, [0, 2, 1], [1, 0], gzip: true);
        _server = new LoopbackFileServer(_mirror);
        _client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
    }

    [TearDown]
    public void StopServer()
    {
        _client.Dispose();
        _server.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private async Task<List<DatasetFile>> PublishedFilesAsync()
    {
        var files = new List<DatasetFile>();
        foreach (string stem in MnistFolder.FileStems)
        {
            string name = stem + ".gz";
            files.Add(new DatasetFile(name, await DatasetDownloader.Md5OfFileAsync(Path.Combine(_mirror, name))));
        }
        return files;
    }

    private static string[] Leftovers(string folder) =>
        Directory.Exists(folder) ? Directory.GetFiles(folder).Select(path => Path.GetFileName(path)).ToArray() : [];

    [Test]
    public async Task Md5MatchesTheRfc1321TestVector()
    {
        string path = Path.Combine(_root, "abc");
        await File.WriteAllTextAsync(path, "abc");

        Assert.That(await DatasetDownloader.Md5OfFileAsync(path), Is.EqualTo("900150983cd24fb0d6963f7d28e17f72"));
    }

    [Test]
    public async Task DownloadsVerifiedFilesThatThenLoad()
    {
        string target = Path.Combine(_root, "cache", "toy");
        var downloader = new DatasetDownloader(_client, _server.BaseUri);

        await downloader.DownloadAsync(await PublishedFilesAsync(), target);

        Assert.That(Leftovers(target), Is.EquivalentTo(MnistFolder.FileStems.Select(stem => stem + ".gz")));
        var (train, test) = MnistFolder.Load(target);
        Assert.That(train.Labels, Is.EqualTo(new[] { 0, 2, 1 }));
        Assert.That(test.Labels, Is.EqualTo(new[] { 1, 0 }));
    }

    [Test]
    public async Task AnMd5MismatchIsRejectedAndLeavesNoFileBehind()
    {
        string target = Path.Combine(_root, "cache", "toy");
        var files = await PublishedFilesAsync();
        files[0] = files[0] with { Md5 = "00000000000000000000000000000000" };
        var downloader = new DatasetDownloader(_client, _server.BaseUri);

        var error = Assert.ThrowsAsync<DatasetDownloadException>(() => downloader.DownloadAsync(files, target));

        Assert.That(error!.Message, Does.Contain(new Uri(_server.BaseUri, files[0].FileName).ToString())
            .And.Contain("MD5 mismatch").And.Contain("00000000000000000000000000000000"));
        Assert.That(Leftovers(target), Is.Empty, "neither the file nor its temporary may remain");
    }

    [Test]
    public async Task AMismatchKeepsAnEarlierGoodFile()
    {
        string target = Path.Combine(_root, "cache", "toy");
        var files = await PublishedFilesAsync();
        files[1] = files[1] with { Md5 = "ffffffffffffffffffffffffffffffff" };

        Assert.ThrowsAsync<DatasetDownloadException>(() => new DatasetDownloader(_client, _server.BaseUri).DownloadAsync(files, target));

        Assert.That(Leftovers(target), Is.EqualTo(new[] { files[0].FileName }));
    }

    [Test]
    public void AMissingFileOnTheServerNamesTheUrlAndStatus()
    {
        string target = Path.Combine(_root, "cache", "toy");
        var files = new[] { new DatasetFile("absent.gz", "00000000000000000000000000000000") };

        var error = Assert.ThrowsAsync<DatasetDownloadException>(() => new DatasetDownloader(_client, _server.BaseUri).DownloadAsync(files, target));

        Assert.That(error!.Message, Does.Contain("absent.gz").And.Contain("404"));
        Assert.That(Leftovers(target), Is.Empty);
    }

    [Test]
    public void ATimeoutIsADownloadErrorAndLeavesNoFile()
    {
        string target = Path.Combine(_root, "cache", "toy");
        File.Copy(Path.Combine(_mirror, "train-labels-idx1-ubyte.gz"), Path.Combine(_mirror, "slow.gz"));
        _server.SlowDelay = TimeSpan.FromSeconds(1);
        using var impatient = new HttpClient { Timeout = TimeSpan.FromMilliseconds(200) };
        var files = new[] { new DatasetFile("slow.gz", "00000000000000000000000000000000") };

        var error = Assert.ThrowsAsync<DatasetDownloadException>(() => new DatasetDownloader(impatient, _server.BaseUri).DownloadAsync(files, target));

        Assert.That(error!.Message, Does.Contain("slow.gz").And.Contain("no complete answer within 0.2 s"));
        Assert.That(Leftovers(target), Is.Empty);
    }

    [Test]
    public async Task FilesAlreadyPresentWithTheRightSumAreNotFetchedAgain()
    {
        string target = Path.Combine(_root, "cache", "toy");
        var files = await PublishedFilesAsync();
        var downloader = new DatasetDownloader(_client, _server.BaseUri);
        await downloader.DownloadAsync(files, target);
        int requests = _server.Requests;

        await downloader.DownloadAsync(files, target);

        Assert.That(requests, Is.EqualTo(4));
        Assert.That(_server.Requests, Is.EqualTo(4));
    }

    [Test]
    public async Task LocateOrDownloadFillsTheUserCacheWhenNothingIsFound()
    {
        var environment = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = Path.Combine(_root, "xdg") };
        var locator = new DatasetLocator("toy", systemFolder: null, name => environment.GetValueOrDefault(name));
        var downloader = new DatasetDownloader(_client, _server.BaseUri);

        var location = await locator.LocateOrDownloadAsync(null, downloader, await PublishedFilesAsync());

        Assert.That(location, Is.EqualTo(new DatasetLocation(Path.Combine(_root, "xdg", "lzn", "datasets", "toy"), DatasetOrigin.Downloaded)));
        Assert.That(locator.Locate(null).Origin, Is.EqualTo(DatasetOrigin.UserCache), "the next search finds the download");
    }

    [Test]
    public void FashionMnistListsThePublishedFiles()
    {
        Assert.That(FashionMnist.Files.Select(f => f.FileName), Is.EqualTo(MnistFolder.FileStems.Select(stem => stem + ".gz")));
        Assert.That(FashionMnist.Files.Select(f => f.Md5), Is.All.Match("^[0-9a-f]{32}$"));
        Assert.That(FashionMnist.OfficialMirror.Host, Is.EqualTo("fashion-mnist.s3-website.eu-central-1.amazonaws.com"));
    }
}
