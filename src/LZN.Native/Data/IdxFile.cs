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

    private const long MaxDeflateRatio = 1032;

    public static IdxImages ReadImages(string path) => Read(path, expectedDimensions: 3, (sizes, pixels) =>
    {
        if (sizes[1] == 0 || sizes[2] == 0)
            throw new IdxFormatException(path, $"images of size {sizes[1]}x{sizes[2]} hold no pixels.");
        return new IdxImages(sizes[0], sizes[1], sizes[2], pixels);
    });

    public static byte[] ReadLabels(string path) => Read(path, expectedDimensions: 1, (_, labels) => labels);

    /// <summary>
    /// Streams the file (through a GZipStream when it starts with the gzip magic 1f 8b): header first, then a
    /// payload buffer of exactly the declared size, so a 47 MB image file is never held twice.
    /// </summary>
    private static T Read<T>(string path, int expectedDimensions, Func<int[], byte[], T> build)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
            Span<byte> magic = stackalloc byte[2];
            int magicRead = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
            file.Position = 0;
            bool gzip = magicRead == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
            using Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
            int[] sizes = ReadHeader(stream, path, expectedDimensions);
            UInt128 length = 1; // three sizes below 2^31 multiply to below 2^93
            foreach (int size in sizes)
                length *= (uint)size;
            string what = expectedDimensions == 3 ? $"{sizes[0]} images of {sizes[1]}x{sizes[2]}" : $"{sizes[0]} labels";
            if (length > (UInt128)Array.MaxLength)
                throw new IdxFormatException(path, $"the header declares {what}, more than one array can hold.");
            long available = file.Length - (4 + 4 * expectedDimensions);
            // A raw file's size bounds its payload: report truncation before allocating what a bad header claims.
            if (!gzip && (long)length > available)
                throw new IdxFormatException(path, $"truncated: the header declares {what} ({length} bytes), the file holds {available}.");
            // Deflate expands at most 1032-fold: a small gzip file cannot hold what a bad header claims, so do not allocate it.
            if (gzip && (long)length > file.Length * MaxDeflateRatio)
                throw new IdxFormatException(path, $"truncated: the header declares {what} ({length} bytes), more than a {file.Length}-byte gzip file can hold.");
            var payload = new byte[(long)length]; // [count, height, width] or [count]
            int read = stream.ReadAtLeast(payload, payload.Length, throwOnEndOfStream: false);
            if (read < payload.Length)
                throw new IdxFormatException(path, $"truncated: the header declares {what} ({length} bytes), the file holds {read}.");
            long trailing = CountRemaining(stream);
            if (trailing > 0)
                throw new IdxFormatException(path, $"{trailing} unexpected bytes after the {what} the header declares.");
            if (gzip)
                CheckGzipTrailer(file, 4 + 4 * expectedDimensions + (long)length, path);
            return build(sizes, payload);
        }
        catch (InvalidDataException ex)
        {
            throw new IdxFormatException(path, $"corrupt gzip data ({ex.Message}).");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IdxFormatException(path, $"cannot read the file ({ex.Message}).");
        }
    }

    private static int[] ReadHeader(Stream stream, string path, int expectedDimensions)
    {
        int headerLength = 4 + 4 * expectedDimensions;
        Span<byte> header = stackalloc byte[headerLength];
        int read = stream.ReadAtLeast(header[..4], 4, throwOnEndOfStream: false);
        if (read < 4)
            throw new IdxFormatException(path, $"truncated: {read} bytes cannot hold the 4-byte IDX magic.");
        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        int expectedMagic = expectedDimensions == 3 ? ImageMagic : LabelMagic;
        string kind = expectedDimensions == 3 ? "image" : "label";
        if (header[0] != 0 || header[1] != 0)
            throw new IdxFormatException(path, $"not an IDX file (magic 0x{magic:X8}; an IDX {kind} file starts with 0x{expectedMagic:X8}).");
        if (header[2] != UnsignedByteType)
            throw new IdxFormatException(path, $"element type 0x{header[2]:X2} is not supported; {kind} files must hold unsigned bytes (0x08).");
        if (header[3] != expectedDimensions)
            throw new IdxFormatException(path, $"has {header[3]} dimensions; an IDX {kind} file has {expectedDimensions} (magic 0x{expectedMagic:X8}).");
        read += stream.ReadAtLeast(header[4..], headerLength - 4, throwOnEndOfStream: false);
        if (read < headerLength)
            throw new IdxFormatException(path, $"truncated header: {read} bytes, the header needs {headerLength}.");
        var sizes = new int[expectedDimensions]; // [dimensions]
        for (int d = 0; d < expectedDimensions; d++)
        {
            uint size = BinaryPrimitives.ReadUInt32BigEndian(header[(4 + 4 * d)..]);
            if (size > int.MaxValue)
                throw new IdxFormatException(path, $"dimension {d} has an impossible size {size}.");
            sizes[d] = (int)size;
        }
        return sizes;
    }

    /// <summary>
    /// GZipStream checks the CRC of a trailer it finds but accepts a file cut inside or before its trailer; the trailer's
    /// last 4 bytes hold the decompressed size mod 2^32, so a missing or damaged trailer shows there. (A file of several
    /// gzip members, which these files never are, would hold only the last member's size.)
    /// </summary>
    private static void CheckGzipTrailer(FileStream file, long decompressed, string path)
    {
        Span<byte> size = stackalloc byte[4];
        if (file.Length < 18)
            throw new IdxFormatException(path, "truncated gzip file (too short for a gzip header and trailer).");
        file.Position = file.Length - 4;
        file.ReadExactly(size);
        if (BinaryPrimitives.ReadUInt32LittleEndian(size) != (uint)decompressed)
            throw new IdxFormatException(path, "the gzip trailer does not match the data: the file was cut short or damaged.");
    }

    private static long CountRemaining(Stream stream)
    {
        var buffer = new byte[4096];
        long count = 0;
        int read;
        while ((read = stream.Read(buffer)) > 0)
            count += read;
        return count;
    }
}
