using System.Buffers.Binary;
using LZN.Native.Data;

namespace LZN.Tests.Data;

public class IdxFileTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("lzn-idx-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private string WriteFile(string name, byte[] bytes)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ReadsImagesRawAndGzipped(bool gzip)
    {
        byte[] bytes = IdxTestFiles.ImageBytes(count: 3, height: 5, width: 4);
        // The name says nothing about compression: detection is by the gzip magic alone.
        string path = WriteFile("images", gzip ? IdxTestFiles.Gzip(bytes) : bytes);

        var images = IdxFile.ReadImages(path);

        Assert.That((images.Count, images.Height, images.Width), Is.EqualTo((3, 5, 4)));
        Assert.That(images.Pixels, Is.EqualTo(bytes[16..]));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ReadsLabelsRawAndGzipped(bool gzip)
    {
        byte[] bytes = IdxTestFiles.LabelBytes(4, 0, 9, 255);
        string path = WriteFile("labels.gz", gzip ? IdxTestFiles.Gzip(bytes) : bytes);

        Assert.That(IdxFile.ReadLabels(path), Is.EqualTo(new byte[] { 4, 0, 9, 255 }));
    }

    [Test]
    public void RejectsABadMagic()
    {
        byte[] bytes = IdxTestFiles.ImageBytes(2, 3, 3);
        bytes[0] = 0x12;
        string path = WriteFile("bad-magic", bytes);

        var error = Assert.Throws<IdxFormatException>(() => IdxFile.ReadImages(path));
        Assert.That(error.Message, Does.StartWith(path).And.Contain("not an IDX file").And.Contain("0x00000803"));
        Assert.That(error.FilePath, Is.EqualTo(path));
    }

    [Test]
    public void RejectsANonByteElementType()
    {
        byte[] bytes = IdxTestFiles.ImageBytes(2, 3, 3);
        bytes[2] = 0x0D; // float32 in the IDX type table
        string path = WriteFile("float-type", bytes);

        var error = Assert.Throws<IdxFormatException>(() => IdxFile.ReadImages(path));
        Assert.That(error.Message, Does.StartWith(path).And.Contain("element type 0x0D"));
    }

    [Test]
    public void RejectsLabelsWhereImagesBelongAndTheReverse()
    {
        string labels = WriteFile("labels", IdxTestFiles.LabelBytes(1, 2));
        string images = WriteFile("images", IdxTestFiles.ImageBytes(2, 2, 2));

        Assert.That(() => IdxFile.ReadImages(labels), Throws.TypeOf<IdxFormatException>().With.Message.Contains("has 1 dimensions"));
        Assert.That(() => IdxFile.ReadLabels(images), Throws.TypeOf<IdxFormatException>().With.Message.Contains("has 3 dimensions"));
    }

    [Test]
    public void RejectsATruncatedHeader()
    {
        string path = WriteFile("short-header", IdxTestFiles.ImageBytes(2, 3, 3)[..10]);

        Assert.That(() => IdxFile.ReadImages(path),
            Throws.TypeOf<IdxFormatException>().With.Message.StartsWith(path).And.Message.Contains("truncated header"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void RejectsTruncatedPixelData(bool gzip)
    {
        byte[] bytes = IdxTestFiles.ImageBytes(count: 4, height: 3, width: 3)[..^5];
        string path = WriteFile("truncated", gzip ? IdxTestFiles.Gzip(bytes) : bytes);

        var error = Assert.Throws<IdxFormatException>(() => IdxFile.ReadImages(path));
        Assert.That(error.Message, Does.StartWith(path).And.Contain("truncated").And.Contain("36 bytes").And.Contain("holds 31"));
    }

    [Test]
    public void AHeaderClaimingHugeSizesFailsWithoutAllocatingThem()
    {
        byte[] raw = IdxTestFiles.ImageBytes(count: 2, height: 2, width: 2);
        BinaryPrimitives.WriteInt32BigEndian(raw.AsSpan(4), 100_000_000); // 400 MB claimed, 8 bytes present
        string rawPath = WriteFile("huge-raw", raw);
        byte[] beyondArrays = IdxTestFiles.ImageBytes(count: 2, height: 2, width: 2);
        BinaryPrimitives.WriteInt32BigEndian(beyondArrays.AsSpan(8), 100_000);
        BinaryPrimitives.WriteInt32BigEndian(beyondArrays.AsSpan(12), 100_000);
        string gzipPath = WriteFile("huge.gz", IdxTestFiles.Gzip(beyondArrays));

        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<IdxFormatException>(() => IdxFile.ReadImages(rawPath));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        Assert.That(error.Message, Does.Contain("truncated").And.Contain("holds 8"));
        Assert.That(allocated, Is.LessThan(1 << 20), "the claimed 400 MB must not be allocated");
        Assert.That(() => IdxFile.ReadImages(gzipPath), Throws.TypeOf<IdxFormatException>().With.Message.Contains("more than one array can hold"));
    }

    [Test]
    public void RejectsTrailingBytes()
    {
        string path = WriteFile("long", [.. IdxTestFiles.LabelBytes(1, 2, 3), 7]);

        Assert.That(() => IdxFile.ReadLabels(path), Throws.TypeOf<IdxFormatException>().With.Message.Contains("1 unexpected bytes"));
    }

    [Test]
    public void RejectsCorruptGzipData()
    {
        byte[] compressed = IdxTestFiles.Gzip(IdxTestFiles.ImageBytes(50, 8, 8));
        // Keep the gzip magic but give the first deflate block the reserved block type 11 (bits 1-2).
        compressed[10] |= 0x06;
        string path = WriteFile("bad.gz", compressed);

        var error = Assert.Throws<IdxFormatException>(() => IdxFile.ReadImages(path));
        Assert.That(error.Message, Does.StartWith(path).And.Contain("gzip"));
    }

    [Test]
    public void RejectsATruncatedGzipStream()
    {
        byte[] compressed = IdxTestFiles.Gzip(IdxTestFiles.ImageBytes(50, 8, 8, pixel: i => (byte)(i * 31 % 251)));
        string path = WriteFile("cut.gz", compressed[..(compressed.Length / 2)]);

        // Either the inflater notices the cut stream or the IDX size check catches the short payload.
        Assert.That(() => IdxFile.ReadImages(path), Throws.TypeOf<IdxFormatException>().With.Message.StartsWith(path));
    }

    [Test]
    public void MissingFileIsAnIdxErrorNamingThePath()
    {
        string path = Path.Combine(_folder, "absent");

        Assert.That(() => IdxFile.ReadLabels(path), Throws.TypeOf<IdxFormatException>().With.Message.StartsWith(path));
    }

    [TestCase(1)]
    [TestCase(4)]
    [TestCase(8)]
    public void AGzipFileCutInsideItsTrailerIsRefused(int cut)
    {
        // GZipStream itself reads such a file without complaint: the data is complete, the trailer is not.
        byte[] compressed = IdxTestFiles.Gzip(IdxTestFiles.ImageBytes(count: 3, height: 5, width: 4));
        string path = WriteFile("cut.gz", compressed[..^cut]);
        Assert.That(() => IdxFile.ReadImages(path), Throws.TypeOf<IdxFormatException>().With.Message.Contains(path));
    }

    [Test]
    public void ASmallGzipFileClaimingAHugeImageIsRefusedBeforeItIsAllocated()
    {
        byte[] header = IdxTestFiles.ImageBytes(count: 0, height: 1, width: 1)[..16];
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 2_000_000);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), 1000);
        string path = WriteFile("bomb.gz", IdxTestFiles.Gzip(header));
        Assert.That(() => IdxFile.ReadImages(path), Throws.TypeOf<IdxFormatException>().With.Message.Contains("more than a").And.Message.Contains("gzip file can hold"));
    }
}
