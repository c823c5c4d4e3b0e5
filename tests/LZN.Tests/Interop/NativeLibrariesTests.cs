using LZN.Native.Interop;

namespace LZN.Tests.Interop;

public class NativeLibrariesTests
{
    [Test]
    public void AMissingLibraryReportsEveryAttemptedPath()
    {
        string root = Path.Combine(Path.GetTempPath(), "lzn-resolver-tests", Guid.NewGuid().ToString("N"));
        string[] folders = [Path.Combine(root, "first"), Path.Combine(root, "second")];
        var result = NativeLibraries.Probe(NativeLibraries.Nvrtc, folders, includeLoaderPath: false);

        Assert.That(result.Loaded, Is.False);
        var error = new NativeLibraryNotFoundException(result.LogicalName, result.Attempts);
        var fileNames = NativeLibraries.FileNames(NativeLibraries.Nvrtc);
        Assert.That(fileNames, Is.Not.Empty);
        Assert.That(result.Attempts, Has.Count.EqualTo(folders.Length * fileNames.Count));
        foreach (string folder in folders)
        {
            foreach (string fileName in fileNames)
                Assert.That(error.Message, Does.Contain(Path.Combine(folder, fileName)));
        }
    }

    [Test]
    public void AFileThatIsNotALibraryIsReportedAsAFailedLoad()
    {
        string folder = Path.Combine(Path.GetTempPath(), "lzn-resolver-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            string fake = Path.Combine(folder, NativeLibraries.FileNames(NativeLibraries.Cublas)[0]);
            File.WriteAllText(fake, "not a shared object");
            var result = NativeLibraries.Probe(NativeLibraries.Cublas, [folder], includeLoaderPath: false);
            Assert.That(result.Loaded, Is.False);
            string attempt = result.Attempts.Single(line => line.StartsWith(fake, StringComparison.Ordinal));
            Assert.That(attempt, Does.Not.EndWith("not found"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void UnknownLogicalNamesAreRejected() =>
        Assert.Throws<ArgumentException>(() => NativeLibraries.Probe("libnothing", [], includeLoaderPath: false));
}
