using System.Buffers.Binary;
using System.Text;
using LZN.Native.IO;

namespace LZN.Tests.IO;

public class NpyTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("lzn-npy-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void RoundTripsFloat32WithNumpysLayout()
    {
        string path = Path.Combine(_folder, "a.npy");
        float[] data = [1.5f, -2.25f, 3e-8f, float.MaxValue, 0f, 7f];
        Npy.Write(path, data, 2, 3);

        byte[] bytes = File.ReadAllBytes(path);
        Assert.That(bytes[0], Is.EqualTo(0x93), "magic byte");
        Assert.That((bytes.Length - data.Length * 4) % 64, Is.Zero, "header is padded to a multiple of 64");
        string header = Encoding.Latin1.GetString(bytes, 10, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)));
        Assert.That(header, Does.StartWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        Assert.That(header, Does.EndWith("\n"));

        var array = Npy.Read(path);
        Assert.That(array.Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(array.Data, Is.EqualTo(data));
        Assert.That(Directory.GetFiles(_folder), Has.Length.EqualTo(1), "no temporary file is left behind");
    }

    [Test]
    public void ReadsFloat64AndOneDimensionalShapes()
    {
        string path = Path.Combine(_folder, "b.npy");
        File.WriteAllBytes(path, NpyTestFiles.Build("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", NpyTestFiles.Doubles(0.1, -2, 1e30)));
        var array = Npy.Read(path);
        Assert.That(array.Shape, Is.EqualTo(new[] { 3 }));
        Assert.That(array.Data, Is.EqualTo(new[] { 0.1f, -2f, 1e30f }));
        Assert.That(array.Matrix, Is.EqualTo((3, 1)));
    }

    [Test]
    public void ReadsVersionTwoHeaders()
    {
        string path = Path.Combine(_folder, "v2.npy");
        File.WriteAllBytes(path, NpyTestFiles.Build("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", NpyTestFiles.Doubles(4, 5), major: 2));
        Assert.That(Npy.Read(path).Data, Is.EqualTo(new[] { 4f, 5f }));
    }

    [TestCase("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "big-endian")]
    [TestCase("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", "dtype '<i8' is not supported")]
    [TestCase("{'descr': '<f8', 'fortran_order': True, 'shape': (1,), }", "Fortran-order")]
    [TestCase("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", "data size mismatch")]
    [TestCase("{'fortran_order': False, 'shape': (1,), }", "no 'descr' entry")]
    public void RejectsWhatItDoesNotReadNamingTheFile(string header, string problem)
    {
        string path = Path.Combine(_folder, "bad.npy");
        File.WriteAllBytes(path, NpyTestFiles.Build(header, NpyTestFiles.Doubles(1)));
        var error = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.That(error!.Message, Does.StartWith(path).And.Contain(problem));
    }

    [Test]
    public void RejectsFilesThatAreNotNpy()
    {
        string path = Path.Combine(_folder, "text.npy");
        File.WriteAllText(path, "hello, this is not numpy");
        var error = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.That(error!.Message, Does.Contain("magic"));
    }

    [Test]
    public void WritesInt32Zones()
    {
        string path = Path.Combine(_folder, "zones.npy");
        Npy.Write(path, new[] { 3, 0, 2 }, 3);
        byte[] bytes = File.ReadAllBytes(path);
        string header = Encoding.Latin1.GetString(bytes, 10, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)));
        Assert.That(header, Does.Contain("'descr': '<i4'").And.Contain("'shape': (3,)"));
        Assert.That(BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(bytes.Length - 12)), Is.EqualTo(3));
    }

    /// <summary>A version 2.0 file whose 4-byte header length is given as is (no padding: the header must not matter).</summary>
    private static byte[] VersionTwo(uint declaredHeaderLength, string header)
    {
        byte[] headerBytes = Encoding.Latin1.GetBytes(header);
        return [0x93, .. "NUMPY"u8.ToArray(), 2, 0, .. BitConverter.GetBytes(declaredHeaderLength), .. headerBytes];
    }

    [Test]
    public void AnAbsurdHeaderLengthIsRefusedBeforeAnythingIsRead()
    {
        // The reproduction: a v2 header length of 0x80000000 overflowed the parser.
        string path = Path.Combine(_folder, "long-header.npy");
        File.WriteAllBytes(path, VersionTwo(0x80000000, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n"));
        var error = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.That(error!.Message, Does.StartWith(path).And.Contain("declares 2147483648 bytes").And.Contain($"{Npy.MaxHeaderLength}"));
    }

    [TestCase("(2000000000, 2000000000, 2000000000)", "more than 9223372036854775807 elements")]
    [TestCase("(3000000000,)", "larger than 2147483647")]
    [TestCase("(65536, 65536)", "4294967296 elements, more than one array can hold")]
    [TestCase("(-1,)", "non-negative integers")]
    [TestCase("(2, x)", "non-negative integers")]
    public void AShapeNoArrayCanHoldIsRefusedWithoutOverflow(string shape, string problem)
    {
        string path = Path.Combine(_folder, "huge.npy");
        File.WriteAllBytes(path, NpyTestFiles.Build($"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}", []));
        var error = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.That(error!.Message, Does.StartWith(path).And.Contain(problem));
    }

    [TestCase("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", "the key 'descr' appears twice")]
    [TestCase("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1, }", "unknown key 'extra'")]
    [TestCase("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "structured dtypes")]
    [TestCase("{'descr': '<f8', 'fortran_order': maybe, 'shape': (1,), }", "must be True or False")]
    [TestCase("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), } trailing", "after the closing brace")]
    [TestCase("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)", "expected '}'")]
    [TestCase("{'descr' '<f8', 'fortran_order': False, 'shape': (1,), }", "expected ':'")]
    public void AHeaderIsParsedAsTheDictLiteralItIs(string header, string problem)
    {
        string path = Path.Combine(_folder, "header.npy");
        File.WriteAllBytes(path, NpyTestFiles.Build(header, NpyTestFiles.Doubles(1)));
        var error = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.That(error!.Message, Does.StartWith(path).And.Contain("header").And.Contain(problem));
    }

    [Test]
    public void KeysMayComeInAnyOrderWithDoubleQuotesAndPythonTwoLongs()
    {
        string path = Path.Combine(_folder, "order.npy");
        File.WriteAllBytes(path, NpyTestFiles.Build("{\"shape\": (1L, 2L), \"fortran_order\": False, \"descr\": \"<f8\"}", NpyTestFiles.Doubles(4, 5)));
        var array = Npy.Read(path);
        Assert.That((array.Shape, array.Data), Is.EqualTo((new[] { 1, 2 }, new[] { 4f, 5f })));
    }

    [Test]
    public void AFloat64BeyondFloat32sRangeIsRefusedNotTurnedIntoInfinity()
    {
        string path = Path.Combine(_folder, "range.npy");
        File.WriteAllBytes(path, NpyTestFiles.Build("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", NpyTestFiles.Doubles(0.1, -2, 1e300)));
        var error = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.That(error!.Message, Does.StartWith(path).And.Contain("element 2 (1E+300) is beyond float32's range"));
    }

    [Test]
    public void TrailingBytesAfterTheDataAreRefused()
    {
        string path = Path.Combine(_folder, "trailing.npy");
        File.WriteAllBytes(path, NpyTestFiles.Build("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", NpyTestFiles.Doubles(1, 2)));
        Assert.That(() => Npy.Read(path), Throws.TypeOf<NpyFormatException>().With.Message.Contains("needs 8 bytes of data, the file holds 16"));
    }

    [Test]
    public void APipeIsReadWithoutKnowingItsLengthAndItsSizeIsStillChecked()
    {
        byte[] file = NpyTestFiles.Build("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", NpyTestFiles.Doubles(3, 4));
        Assert.That(ReadThroughPipe(file).Data, Is.EqualTo(new[] { 3f, 4f }));
        Assert.That(() => ReadThroughPipe(file[..^3]), Throws.TypeOf<NpyFormatException>().With.Message.Contains("the file holds 13"));
        Assert.That(() => ReadThroughPipe([.. file, 0]), Throws.TypeOf<NpyFormatException>().With.Message.Contains("more bytes follow"));
    }

    private static NpyArray ReadThroughPipe(byte[] bytes) => PipeReads.Read(bytes, stream => Npy.Read(stream, "pipe"));

    [TestCase(float.NaN, "element [1, 0] is NaN")]
    [TestCase(float.NegativeInfinity, "element [1, 0] is -Infinity")]
    [TestCase(2e15f, "element [1, 0] is 2E+15")]
    public void RequireFiniteNamesTheFileTheArrayAndTheFirstBadIndex(float bad, string problem)
    {
        var array = new NpyArray([2, 3], [0f, 1f, 2f, bad, float.NaN, 5f]);
        var error = Assert.Throws<NpyFormatException>(() => array.RequireFinite("A.npy", "anchors", 1e15f));
        Assert.That(error!.Message, Is.EqualTo($"A.npy: {problem}; anchors must be finite and at most 1E+15 in magnitude."));
        Assert.That(() => new NpyArray([2], [1e30f, -1e30f]).RequireFinite("B.npy", "values"), Throws.Nothing);
    }
}
