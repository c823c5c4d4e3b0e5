using System.Buffers.Binary;
using System.IO.Compression;

namespace LZN.Native.Data;

/// <summary>Raised for an IDX file this project cannot read; the message names the file and the fault.</summary>
public sealed class IdxFormatException(string path, string problem)
    : FormatException($"{path}: {problem}")
{
    public string FilePath { get; } = path;
}

/// <summary>Images from an IDX3 file: <see cref="Pixels"/> is [count, height, width], one byte per pixel.</summary>
public sealed record IdxImages(int Count, int Height, int Width, byte[] Pixels);

/// <summary>
/// Reads the IDX format of MNIST and Fashion-MNIST (big-endian header: two zero bytes, a type byte
/// (0x08 = unsigned byte), a dimension count, then one 32-bit size per dimension, then the data).
/// Files may be gzip-compressed or raw; gzip is recognised by its magic bytes, not by the file name.
/// </summary>
public static class IdxFile
{
    /// <summary>Magic of an unsigned-byte file of three dimensions [count, height, width].</summary>
    public const int ImageMagic = 0x00000803;

    /// <summary>Magic of an unsigned-byte file of one dimension [count].</summary>
    public const int LabelMagic = 0x00000801;

    private const byte UnsignedByteType = 0x08;

    public static IdxImages ReadImages(string path)
    {
        byte[] bytes = ReadDecompressed(path);
        int[] sizes = ParseHeader(bytes, path, expectedDimensions: 3);
        int count = sizes[0], height = sizes[1], width = sizes[2];
        if (height == 0 || width == 0)
            throw new IdxFormatException(path, $"images of size {height}x{width} hold no pixels.");
        byte[] pixels = Payload(bytes, path, headerLength: 16, (long)count * height * width, $"{count} images of {height}x{width}");
        return new IdxImages(count, height, width, pixels);
    }

    public static byte[] ReadLabels(string path)
    {
        byte[] bytes = ReadDecompressed(path);
        int[] sizes = ParseHeader(bytes, path, expectedDimensions: 1);
        return Payload(bytes, path, headerLength: 8, sizes[0], $"{sizes[0]} labels");
    }

    /// <summary>The file's bytes, decompressed when they start with the gzip magic 1f 8b.</summary>
    private static byte[] ReadDecompressed(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IdxFormatException(path, $"cannot read the file ({ex.Message}).");
        }
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b)
            return bytes;
        try
        {
            using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var output = new MemoryStream(capacity: bytes.Length * 4);
            gzip.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException ex)
        {
            throw new IdxFormatException(path, $"corrupt gzip data ({ex.Message}).");
        }
    }

    private static int[] ParseHeader(byte[] bytes, string path, int expectedDimensions)
    {
        int headerLength = 4 + 4 * expectedDimensions;
        if (bytes.Length < 4)
            throw new IdxFormatException(path, $"truncated: {bytes.Length} bytes cannot hold the 4-byte IDX magic.");
        int magic = BinaryPrimitives.ReadInt32BigEndian(bytes);
        int expectedMagic = expectedDimensions == 3 ? ImageMagic : LabelMagic;
        string kind = expectedDimensions == 3 ? "image" : "label";
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new IdxFormatException(path, $"not an IDX file (magic 0x{magic:X8}; an IDX {kind} file starts with 0x{expectedMagic:X8}).");
        if (bytes[2] != UnsignedByteType)
            throw new IdxFormatException(path, $"element type 0x{bytes[2]:X2} is not supported; {kind} files must hold unsigned bytes (0x08).");
        if (bytes[3] != expectedDimensions)
            throw new IdxFormatException(path, $"has {bytes[3]} dimensions; an IDX {kind} file has {expectedDimensions} (magic 0x{expectedMagic:X8}).");
        if (bytes.Length < headerLength)
            throw new IdxFormatException(path, $"truncated header: {bytes.Length} bytes, the header needs {headerLength}.");
        var sizes = new int[expectedDimensions];
        for (int d = 0; d < expectedDimensions; d++)
        {
            uint size = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4 + 4 * d));
            if (size > int.MaxValue)
                throw new IdxFormatException(path, $"dimension {d} has an impossible size {size}.");
            sizes[d] = (int)size;
        }
        return sizes;
    }

    private static byte[] Payload(byte[] bytes, string path, int headerLength, long expectedLength, string what)
    {
        long actual = bytes.Length - headerLength;
        if (actual < expectedLength)
            throw new IdxFormatException(path, $"truncated: the header declares {what} ({expectedLength} bytes), the file holds {actual}.");
        if (actual > expectedLength)
            throw new IdxFormatException(path, $"{actual - expectedLength} unexpected bytes after the {what} the header declares.");
        return bytes[headerLength..];
    }
}
