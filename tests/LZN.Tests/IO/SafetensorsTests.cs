using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using LZN.Native.IO;

namespace LZN.Tests.IO;

public class SafetensorsTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("lzn-safetensors-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    /// <summary>A file laid out by hand: 8-byte little-endian header length, the header text, the data.</summary>
    private static byte[] FileBytes(string header, byte[] data, ulong? declaredLength = null)
    {
        byte[] headerBytes = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + headerBytes.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)headerBytes.Length);
        headerBytes.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + headerBytes.Length);
        return bytes;
    }

    private string WriteRaw(string header, byte[] data, ulong? declaredLength = null)
    {
        string path = Path.Combine(_folder, "raw.safetensors");
        File.WriteAllBytes(path, FileBytes(header, data, declaredLength));
        return path;
    }

    [Test]
    public void RoundTripsEveryDTypeAndTheMetadata()
    {
        string path = Path.Combine(_folder, "model.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "lzn", ["step"] = "1200", ["config"] = "{\"dim\": 8}" };
        float[] weights = [1.5f, -2f, float.Epsilon, float.MaxValue, 0f, -0f];
        long[] steps = [long.MinValue, 3, long.MaxValue];
        Safetensors.Write(path,
        [
            SafeTensor.FromFloat32("encoder.weight", weights, 2, 3),
            SafeTensor.FromFloat64("stats", [Math.PI, -1e300], 2),
            SafeTensor.FromInt32("zones", [7, -1, 0, 42], 4),
            SafeTensor.FromInt64("steps", steps, 3),
            SafeTensor.FromUInt8("mask", [0, 1, 255], 3),
            SafeTensor.FromFloat32("scalar", [0.25f]),
            SafeTensor.FromFloat32("empty", [], 0, 5),
        ], metadata);

        var file = Safetensors.Read(path);

        Assert.That(file.Metadata, Is.EquivalentTo(metadata));
        Assert.That(file.Tensors, Has.Count.EqualTo(7));
        Assert.That(file.Expect("encoder.weight", TensorDType.F32, 2, 3).ToFloat32(), Is.EqualTo(weights));
        Assert.That(file.Expect("stats", TensorDType.F64, 2).ToFloat64(), Is.EqualTo(new[] { Math.PI, -1e300 }));
        Assert.That(file.Expect("zones", TensorDType.I32, 4).ToInt32(), Is.EqualTo(new[] { 7, -1, 0, 42 }));
        Assert.That(file.Expect("steps", TensorDType.I64, 3).ToInt64(), Is.EqualTo(steps));
        Assert.That(file.Expect("mask", TensorDType.U8, 3).ToUInt8(), Is.EqualTo(new byte[] { 0, 1, 255 }));
        Assert.That(file.Expect("scalar", TensorDType.F32).ToFloat32(), Is.EqualTo(new[] { 0.25f }));
        Assert.That(file.Expect("empty", TensorDType.F32, 0, 5).ElementCount, Is.Zero);
    }

    [Test]
    public void LayoutMatchesTheReferenceWriter()
    {
        string path = Path.Combine(_folder, "layout.safetensors");
        Safetensors.Write(path, [SafeTensor.FromUInt8("b", [9], 1), SafeTensor.FromFloat32("a", [1f, 2f], 2)],
            new Dictionary<string, string> { ["k"] = "v" });

        byte[] bytes = File.ReadAllBytes(path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)headerLength);

        // Wider elements first, header padded with spaces so the data starts 8-byte aligned.
        Assert.That(headerLength % 8, Is.Zero);
        Assert.That(header.TrimEnd(' '), Is.EqualTo(
            """{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}}"""));
        Assert.That(bytes[(8 + (int)headerLength)..], Is.EqualTo(new byte[] { 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 9 }));
    }

    [Test]
    public void WritesTheReferenceImplementationsBytes()
    {
        // Expected bytes from huggingface/safetensors' own tests (tensor.rs: test_serialization_forced_alignement, test_empty).
        byte[] forcedAlignment =
        [
            72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
            121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
            91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
            115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
            32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
            160, 64,
        ];
        byte[] empty = [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32];
        byte[] emptyWithMetadata =
        [
            40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
            95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
            116, 34, 125, 125, 32, 32, 32, 32, 32,
        ];
        string path = Path.Combine(_folder, "reference.safetensors");

        Safetensors.Write(path, [SafeTensor.FromFloat32("attn0", [0f, 1f, 2f, 3f, 4f, 5f], 1, 1, 2, 3)]);
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(forcedAlignment));
        Safetensors.Write(path, []);
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(empty));
        Safetensors.Write(path, [], new Dictionary<string, string> { ["framework"] = "pt" });
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(emptyWithMetadata));
        Assert.That(Safetensors.Read(path).Metadata["framework"], Is.EqualTo("pt"));
    }

    [Test]
    public void OrdersTensorsByDTypeLikeTheReferenceThenByName()
    {
        string path = Path.Combine(_folder, "order.safetensors");
        Safetensors.Write(path,
        [
            SafeTensor.FromUInt8("a", [1], 1),
            SafeTensor.FromInt32("b", [2], 1),
            SafeTensor.FromFloat32("d", [3f], 1),
            SafeTensor.FromFloat32("c", [4f], 1),
            SafeTensor.FromFloat64("e", [5.0], 1),
            SafeTensor.FromInt64("f", [6], 1),
        ]);

        Assert.That(Safetensors.Read(path).Tensors.Select(t => t.Name), Is.EqualTo(new[] { "f", "e", "c", "d", "b", "a" }));
    }

    [Test]
    public void ReadsAHandMadeFileWithTensorsInAnyHeaderOrder()
    {
        // Offsets, not header order, place the data; the header may carry trailing spaces.
        string path = WriteRaw("""{"y":{"dtype":"I32","shape":[1],"data_offsets":[4,8]},"x":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}   """,
            [1, 0, 0, 0, 2, 0, 0, 0]);

        var file = Safetensors.Read(path);

        Assert.That(file.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "x", "y" }), "data order");
        Assert.That(file.Expect("x", TensorDType.I32).ToInt32(), Is.EqualTo(new[] { 1 }));
        Assert.That(file.Expect("y", TensorDType.I32, 1).ToInt32(), Is.EqualTo(new[] { 2 }));
        Assert.That(file.Metadata, Is.Empty);
    }

    [Test]
    public void ExpectNamesTheTensorOnAShapeOrDTypeMismatch()
    {
        string path = Path.Combine(_folder, "m.safetensors");
        Safetensors.Write(path, [SafeTensor.FromFloat32("decoder.bias", new float[6], 2, 3)]);
        var file = Safetensors.Read(path);

        Assert.That(() => file.Expect("decoder.bias", TensorDType.F32, 3, 2), Throws.TypeOf<SafetensorsFormatException>()
            .With.Message.EqualTo($"{path}: tensor 'decoder.bias' is F32 [2, 3]; expected F32 [3, 2]."));
        Assert.That(() => file.Expect("decoder.bias", TensorDType.F64, 2, 3), Throws.TypeOf<SafetensorsFormatException>()
            .With.Message.Contains("expected F64 [2, 3]"));
        Assert.That(() => file["decoder.weight"], Throws.TypeOf<SafetensorsFormatException>().With.Message.Contains("no tensor 'decoder.weight'"));
        Assert.That(() => file["decoder.bias"].ToInt32(), Throws.InvalidOperationException.With.Message.Contains("holds F32"));
    }

    private static IEnumerable<TestCaseData> CorruptFiles()
    {
        const string one = """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        byte[] eight = new byte[8];
        TestCaseData Case(string name, string header, byte[] data, string fault, ulong? declared = null) =>
            new TestCaseData(header, data, declared, fault).SetName($"Rejects{name}");

        yield return Case("HeaderLengthBeyondTheFile", one, eight, "runs beyond the end of the file", declared: 1000);
        yield return Case("AnAbsurdHeaderLength", one, eight, "exceeds the 100000000-byte limit", declared: ulong.MaxValue);
        yield return Case("BadJson", """{"t":{"dtype":"F32",""", eight, "not valid JSON");
        yield return Case("ANonObjectHeader", "[1, 2]", eight, "not a safetensors file: the 8-byte header length is not followed by a JSON object");
        yield return Case("AnUnknownDType", """{"t":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}}""", eight, "tensor 't': dtype 'BF16' is not supported");
        yield return Case("ALowercaseDType", """{"t":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}""", eight, "dtype 'f32' is not supported");
        yield return Case("ANumericDType", """{"t":{"dtype":"0","shape":[2],"data_offsets":[0,8]}}""", eight, "dtype '0' is not supported");
        yield return Case("AMissingShape", """{"t":{"dtype":"F32","data_offsets":[0,8]}}""", eight, "tensor 't': 'shape' is missing");
        yield return Case("ANegativeDimension", """{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", eight, "not a non-negative 32-bit integer");
        yield return Case("AnUnknownField", """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}""", eight, "unknown field 'extra'");
        yield return Case("OffsetsThatAreNotAPair", """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}}""", eight, "not a [begin, end] pair");
        yield return Case("OffsetsEndingBeforeTheyBegin", """{"t":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}""", eight, "end before they begin");
        yield return Case("ADTypeShapeSizeMismatch", """{"t":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}""", eight, "F64 [2] needs 16 bytes but data_offsets [0, 8] span 8");
        yield return Case("TruncatedData", one, new byte[5], "tensor 't' data_offsets [0, 8] run beyond the 5-byte data section");
        yield return Case("OverlappingTensors",
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", eight,
            "tensor 'b' at [4, 8] overlaps tensor 'a'");
        yield return Case("AGapBetweenTensors",
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}""", eight,
            "a gap of 2 bytes lies between tensor 'a' and tensor 'b'");
        yield return Case("TrailingBytes", one, new byte[12], "4 bytes follow the last tensor");
        yield return Case("ADuplicateName",
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", eight,
            "names 'a' twice");
        yield return Case("NonStringMetadata", """{"__metadata__":{"step":3},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", eight,
            "metadata 'step' is a JSON Number, not a string");
    }

    [TestCaseSource(nameof(CorruptFiles))]
    public void RejectsCorruptFilesNamingTheFileAndFault(string header, byte[] data, ulong? declaredLength, string fault)
    {
        string path = WriteRaw(header, data, declaredLength);

        var error = Assert.Throws<SafetensorsFormatException>(() => Safetensors.Read(path));

        Assert.That(error.Message, Does.StartWith(path + ": ").And.Contain(fault));
        Assert.That(error.FilePath, Is.EqualTo(path));
    }

    [Test]
    public void RejectsAHeaderThatIsNotUtf8()
    {
        string path = Path.Combine(_folder, "latin1.safetensors");
        byte[] header = [.. "{\"\u00e9\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}"u8];
        header[2] = 0xE9; // a lone Latin-1 byte where UTF-8 needs a two-byte sequence
        byte[] bytes = [.. BitConverter.GetBytes((ulong)header.Length), .. header];
        File.WriteAllBytes(path, bytes);

        Assert.That(() => Safetensors.Read(path), Throws.TypeOf<SafetensorsFormatException>().With.Message.Contains("not valid JSON"));
    }

    [Test]
    public void RejectsAFileTooShortForTheHeaderLength()
    {
        string path = Path.Combine(_folder, "tiny.safetensors");
        File.WriteAllBytes(path, [1, 0, 0]);

        Assert.That(() => Safetensors.Read(path), Throws.TypeOf<SafetensorsFormatException>().With.Message.Contains("cannot hold the 8-byte header length"));
    }

    [Test]
    public void AFailedWriteLeavesTheExistingFileIntact()
    {
        string path = Path.Combine(_folder, "checkpoint.safetensors");
        Safetensors.Write(path, [SafeTensor.FromFloat32("w", [1f, 2f], 2)]);
        byte[] before = File.ReadAllBytes(path);

        Assert.That(() => Safetensors.Write(path, [SafeTensor.FromFloat32("w", [3f], 1), SafeTensor.FromInt32("w", [4], 1)]),
            Throws.ArgumentException.With.Message.Contains("two tensors are named 'w'"));
        Assert.That(() => Safetensors.Write(path, [SafeTensor.FromFloat32("__metadata__", [3f], 1)]),
            Throws.ArgumentException.With.Message.Contains("reserved"));

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(Directory.GetFiles(_folder), Is.EqualTo(new[] { path }), "no temporary file remains");
    }

    [Test]
    public void OverwritesAnExistingCheckpoint()
    {
        string path = Path.Combine(_folder, "checkpoint.safetensors");
        Safetensors.Write(path, [SafeTensor.FromFloat32("w", [1f, 2f], 2)]);

        Safetensors.Write(path, [SafeTensor.FromFloat32("w", [5f], 1)]);

        Assert.That(Safetensors.Read(path).Expect("w", TensorDType.F32, 1).ToFloat32(), Is.EqualTo(new[] { 5f }));
        Assert.That(Directory.GetFiles(_folder), Has.Length.EqualTo(1));
    }

    [Test]
    public void TheHeaderIsPlainJsonOtherToolsCanRead()
    {
        string path = Path.Combine(_folder, "names.safetensors");
        Safetensors.Write(path, [SafeTensor.FromFloat32("layer.0/\"quoted\" é", [1f], 1)]);
        byte[] bytes = File.ReadAllBytes(path);

        using var document = JsonDocument.Parse(bytes.AsMemory(8, (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes)));

        Assert.That(document.RootElement.EnumerateObject().Single().Name, Is.EqualTo("layer.0/\"quoted\" é"));
        Assert.That(Safetensors.Read(path).Tensors.Single().Name, Is.EqualTo("layer.0/\"quoted\" é"));
    }

    [Test]
    public void TensorConstructionChecksTheDataSize()
    {
        Assert.That(() => new SafeTensor("t", TensorDType.F32, [2, 2], new byte[15]), Throws.ArgumentException.With.Message.Contains("tensor 't'"));
        Assert.That(() => SafeTensor.FromFloat32("t", [1f, 2f], 3), Throws.ArgumentException.With.Message.Contains("needs 12 bytes"));
    }

    [Test]
    public void AFileThatIsNotSafetensorsIsNamedAsSuch()
    {
        // A PNG's first 8 bytes read as a header length of about 7.5e17: say what the file is not, not that number alone.
        string path = Path.Combine(_folder, "grid.png");
        File.WriteAllBytes(path, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]);
        Assert.That(() => Safetensors.Read(path), Throws.TypeOf<SafetensorsFormatException>().With.Message.StartsWith(path + ": not a safetensors file"));
        string text = Path.Combine(_folder, "notes.safetensors");
        File.WriteAllText(text, "\u0004\0\0\0\0\0\0\0abcd");
        Assert.That(() => Safetensors.Read(text), Throws.TypeOf<SafetensorsFormatException>().With.Message.Contains("not a safetensors file: the 8-byte header length is not followed by a JSON object"));
    }

    [Test]
    public void APipeIsReadAndItsLayoutChecked()
    {
        string path = Path.Combine(_folder, "piped.safetensors");
        Safetensors.Write(path, [SafeTensor.FromFloat32("a", [1f, 2f], 2), SafeTensor.FromInt64("b", [7], 1)], new Dictionary<string, string> { ["k"] = "v" });
        byte[] bytes = File.ReadAllBytes(path);
        var file = ReadThroughPipe(bytes);
        Assert.That((file["a"].ToFloat32(), file["b"].ToInt64(), file.Metadata["k"]), Is.EqualTo((new[] { 1f, 2f }, new[] { 7L }, "v")));
        Assert.That(() => ReadThroughPipe(bytes[..^2]), Throws.TypeOf<SafetensorsFormatException>().With.Message.Contains("truncated"));
        Assert.That(() => ReadThroughPipe([.. bytes, 1]), Throws.TypeOf<SafetensorsFormatException>().With.Message.Contains("bytes follow the last tensor"));
    }

    private static SafetensorsFile ReadThroughPipe(byte[] bytes) => PipeReads.Read(bytes, stream => Safetensors.Read(stream, "pipe"));

    [Test]
    public void TheDataDigestIsTheSha256OfEverythingAfterTheHeader()
    {
        string path = Path.Combine(_folder, "digest.safetensors");
        var tensors = new[] { SafeTensor.FromFloat32("w", [1f, 2f, 3f], 3), SafeTensor.FromInt64("n", [5], 1), SafeTensor.FromUInt8("u", [9], 1) };
        Safetensors.Write(path, tensors);
        byte[] bytes = File.ReadAllBytes(path);
        int dataStart = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes.AsSpan(dataStart)));

        Assert.That(Safetensors.DataSha256(tensors), Is.EqualTo(expected));
        Assert.That(Safetensors.Read(path).DataSha256(), Is.EqualTo(expected));
    }
}
