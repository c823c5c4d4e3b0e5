using LZN.Native.IO;

namespace LZN.Tests.IO;

public class AtomicFileTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("lzn-atomic-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void AWriteThatFailsHalfwayKeepsTheOldFileAndLeavesNoTemporary()
    {
        string path = Path.Combine(_folder, "state.bin");
        File.WriteAllBytes(path, [1, 2, 3]);

        Assert.That(() => AtomicFile.Write(path, stream =>
        {
            stream.Write([9, 9, 9, 9]);
            throw new IOException("disk full");
        }), Throws.TypeOf<IOException>().With.Message.EqualTo("disk full"));

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(Directory.GetFiles(_folder), Is.EqualTo(new[] { path }));
    }

    [Test]
    public void AnAsyncWriteThatFailsLeavesNothingNew()
    {
        string path = Path.Combine(_folder, "sub", "new.bin");

        Assert.ThrowsAsync<InvalidDataException>(() => AtomicFile.WriteAsync(path, async (stream, token) =>
        {
            await stream.WriteAsync(new byte[] { 5 }, token);
            throw new InvalidDataException("checksum");
        }));

        Assert.That(Directory.GetFiles(Path.Combine(_folder, "sub")), Is.Empty);
    }

    [Test]
    public async Task ASuccessfulWriteReplacesTheFile()
    {
        string path = Path.Combine(_folder, "state.bin");
        File.WriteAllBytes(path, [1, 2, 3]);

        AtomicFile.Write(path, stream => stream.Write([4, 5]));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 4, 5 }));

        await AtomicFile.WriteAsync(path, (stream, token) => stream.WriteAsync(new byte[] { 6 }, token).AsTask());
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 6 }));
        Assert.That(Directory.GetFiles(_folder), Has.Length.EqualTo(1));
    }

    [Test]
    public void TemporariesOfDeadWritersAreRemovedAndEverythingElseIsKept()
    {
        string path = Path.Combine(_folder, "checkpoint.safetensors");
        File.WriteAllBytes(path, [1]);
        // No process can have PID int.MaxValue (Linux caps PIDs at 2^22).
        string abandoned = $"{path}.tmp-{int.MaxValue}-{Guid.NewGuid():N}";
        string ours = $"{path}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        string notOurs = $"{path}.tmp-notes";
        string otherTarget = Path.Combine(_folder, $"summary.json.tmp-{int.MaxValue}-{Guid.NewGuid():N}");
        foreach (string file in new[] { abandoned, ours, notOurs, otherTarget })
            File.WriteAllBytes(file, [2]);

        Assert.That(AtomicFile.RemoveAbandonedTemporaries(path), Is.EqualTo(1));

        Assert.That(Directory.GetFiles(_folder).Order(), Is.EqualTo(new[] { path, ours, notOurs, otherTarget }.Order()));
        Assert.That(AtomicFile.RemoveAbandonedTemporaries(Path.Combine(_folder, "missing", "x.bin")), Is.Zero);
    }
}
