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

    /// <summary>Builds a .npy file the way numpy.save lays it out (header padded to 64 bytes, newline-terminated).</summary>
    private static byte[] NumpyFile(string header, byte[] payload, int major = 1)
    {
        int prefix = major == 1 ? 10 : 12;
        int padding = (64 - (prefix + header.Length + 1) % 64) % 64;
        byte[] headerBytes = Encoding.Latin1.GetBytes(header + new string(' ', padding) + "\n");
        var bytes = new List<byte>();
        bytes.AddRange([0x93, .. "NUMPY"u8.ToArray()]);
        bytes.Add((byte)major);
        bytes.Add(0);
        if (major == 1)
            bytes.AddRange(BitConverter.GetBytes((ushort)headerBytes.Length));
        else
            bytes.AddRange(BitConverter.GetBytes((uint)headerBytes.Length));
        bytes.AddRange(headerBytes);
        bytes.AddRange(payload);
        return [.. bytes];
    }

    private static byte[] Doubles(params double[] values)
    {
        var payload = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteDoubleLittleEndian(payload.AsSpan(i * 8), values[i]);
        return payload;
    }

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
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", Doubles(0.1, -2, 1e300)));
        var array = Npy.Read(path);
        Assert.That(array.Shape, Is.EqualTo(new[] { 3 }));
        Assert.That(array.Data, Is.EqualTo(new[] { 0.1f, -2f, float.PositiveInfinity }));
        Assert.That(array.Matrix, Is.EqualTo((3, 1)));
    }

    [Test]
    public void ReadsVersionTwoHeaders()
    {
        string path = Path.Combine(_folder, "v2.npy");
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", Doubles(4, 5), major: 2));
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
        File.WriteAllBytes(path, NumpyFile(header, Doubles(1)));
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
}
