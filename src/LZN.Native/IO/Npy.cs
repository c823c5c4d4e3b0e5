using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace LZN.Native.IO;

/// <summary>A dense array read from or written to a NumPy .npy file, held as float32 in C order.</summary>
/// <param name="Shape">Dimensions, outermost first.</param>
/// <param name="Data">Elements in C (row-major) order; length = product of <paramref name="Shape"/>.</param>
public sealed record NpyArray(int[] Shape, float[] Data)
{
    public int Rank => Shape.Length;

    /// <summary>Rows and columns of a 2-D array (a 1-D array of n elements is [n, 1]).</summary>
    public (int Rows, int Columns) Matrix => Shape.Length switch
    {
        2 => (Shape[0], Shape[1]),
        1 => (Shape[0], 1),
        _ => throw new InvalidOperationException($"Expected a 1-D or 2-D array; this one has shape ({string.Join(", ", Shape)})."),
    };

    /// <summary>
    /// Refuses an array holding NaN, an infinity or a value above <paramref name="maxMagnitude"/> in magnitude,
    /// naming <paramref name="sourceName"/>, the first such element's index and <paramref name="what"/> the array is.
    /// </summary>
    public void RequireFinite(string sourceName, string what, float maxMagnitude = float.MaxValue)
    {
        long bad = FiniteValues.FirstOutside(Data, maxMagnitude);
        if (bad < 0)
            return;
        string bound = maxMagnitude < float.MaxValue
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"finite and at most {maxMagnitude:G3} in magnitude")
            : "finite";
        throw new NpyFormatException(sourceName,
            $"element {FiniteValues.FormatIndex(bad, Shape)} {FiniteValues.DescribeValue(Data[bad])}; {what} must be {bound}.");
    }
}

/// <summary>Raised for a file that is not a .npy this project reads; the message names the file and the fault.</summary>
public sealed class NpyFormatException(string path, string problem)
    : FormatException($"{path}: {problem}")
{
    public string FilePath { get; } = path;
}

/// <summary>
/// Reads and writes the NumPy .npy format (versions 1.0-3.0): little-endian float32 ('&lt;f4') and float64
/// ('&lt;f8') in C order are read; anything else (big-endian, Fortran order, integers, objects) is refused
/// with a clear message. Writes float32 (or int32 for labels) version 1.0, through a temporary file and a rename.
/// Reading is bounded before anything is allocated: the header may hold at most <see cref="MaxHeaderLength"/>
/// bytes (numpy's own limit) and is parsed as the Python dict literal it is (exactly the keys descr,
/// fortran_order and shape, each once); the shape must fit one array; and the data must be exactly what the shape
/// needs, checked against the file's size before it is read. Files are streamed, so pipes and devices work and a
/// device that never ends (/dev/zero) is refused after its first bytes.
/// </summary>
public static class Npy
{
    /// <summary>The largest header read, in bytes: numpy refuses longer ones too (its max_header_size).</summary>
    public const int MaxHeaderLength = 10_000;

    // The first byte is 0x93 itself; a "\x93"u8 literal would encode U+0093 as two UTF-8 bytes.
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
            return Read(stream, path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new NpyFormatException(path, $"cannot read the file ({ex.Message}).");
        }
    }

    /// <summary>Parses .npy bytes; <paramref name="sourceName"/> names the source in errors.</summary>
    public static NpyArray Parse(ReadOnlySpan<byte> bytes, string sourceName)
    {
        using var stream = new MemoryStream(bytes.ToArray(), writable: false);
        return Read(stream, sourceName);
    }

    /// <summary>
    /// Reads one array from <paramref name="stream"/> (from its current position to its end); a seekable stream's
    /// length is checked against the header before the data is allocated.
    /// </summary>
    public static NpyArray Read(Stream stream, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> prefix = stackalloc byte[12];
        int read = stream.ReadAtLeast(prefix[..10], 10, throwOnEndOfStream: false);
        if (read < 10 || !prefix[..6].SequenceEqual(Magic))
            throw new NpyFormatException(sourceName, "not a .npy file (it does not start with the magic string \\x93NUMPY).");
        int major = prefix[6];
        long headerLength;
        switch (major)
        {
            case 1:
                headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..]);
                break;
            case 2 or 3:
                if (stream.ReadAtLeast(prefix[10..12], 2, throwOnEndOfStream: false) < 2)
                    throw new NpyFormatException(sourceName, "truncated: the file ends inside the header length.");
                headerLength = BinaryPrimitives.ReadUInt32LittleEndian(prefix[8..]);
                break;
            default:
                throw new NpyFormatException(sourceName, $"unsupported .npy format version {major}.{prefix[7]} (1.0, 2.0 and 3.0 are read).");
        }
        if (headerLength > MaxHeaderLength)
        {
            throw new NpyFormatException(sourceName,
                $"the header declares {headerLength} bytes, more than the {MaxHeaderLength} numpy itself reads; the file is corrupt or not a plain array.");
        }
        var headerBytes = new byte[headerLength];
        int headerRead = stream.ReadAtLeast(headerBytes, headerBytes.Length, throwOnEndOfStream: false);
        if (headerRead < headerBytes.Length)
            throw new NpyFormatException(sourceName, $"truncated header: it declares {headerLength} bytes, the file holds {headerRead}.");
        // Version 3 headers are UTF-8; 1 and 2 are Latin-1. The keys and values this reader accepts are ASCII either way.
        var header = NpyHeader.Parse(Encoding.Latin1.GetString(headerBytes), sourceName);
        int elementSize = header.Descr switch
        {
            "<f4" => 4,
            "<f8" => 8,
            ">f4" or ">f8" => throw new NpyFormatException(sourceName, $"big-endian dtype '{header.Descr}' is not supported; use little-endian float32 or float64."),
            _ => throw new NpyFormatException(sourceName, $"dtype '{header.Descr}' is not supported; use float32 ('<f4') or float64 ('<f8')."),
        };
        if (header.FortranOrder)
            throw new NpyFormatException(sourceName, "Fortran-order arrays are not supported; save with C order (np.ascontiguousarray).");
        int[] shape = header.Shape;
        long count = header.ElementCount;
        string shapeText = FormatShape(shape);
        if (count > Array.MaxLength)
        {
            // The header parser saturates an overflowing product at long.MaxValue.
            string elements = count == long.MaxValue ? $"more than {long.MaxValue}" : count.ToString(CultureInfo.InvariantCulture);
            throw new NpyFormatException(sourceName, $"shape {shapeText} holds {elements} elements, more than one array can hold ({Array.MaxLength}).");
        }
        long payloadLength = count * elementSize;
        if (stream.CanSeek)
        {
            long available = stream.Length - stream.Position;
            if (available != payloadLength)
                throw new NpyFormatException(sourceName, $"data size mismatch: shape {shapeText} needs {payloadLength} bytes of data, the file holds {available}.");
        }
        var data = new float[count];
        ReadPayload(stream, data, elementSize, sourceName, shapeText, payloadLength);
        return new NpyArray(shape, data);
    }

    /// <summary>Reads the elements in chunks (the file's bytes are never held whole) and checks nothing follows them.</summary>
    private static void ReadPayload(Stream stream, float[] data, int elementSize, string sourceName, string shapeText, long payloadLength)
    {
        var buffer = new byte[(1 << 16) / 8 * 8];
        long index = 0;
        while (index < data.Length)
        {
            int want = (int)Math.Min(buffer.Length / elementSize, data.Length - index) * elementSize;
            int got = stream.ReadAtLeast(buffer.AsSpan(0, want), want, throwOnEndOfStream: false);
            if (got < want)
            {
                long held = index * elementSize + got;
                throw new NpyFormatException(sourceName, $"data size mismatch: shape {shapeText} needs {payloadLength} bytes of data, the file holds {held}.");
            }
            for (int offset = 0; offset < want; offset += elementSize, index++)
            {
                if (elementSize == 4)
                {
                    data[index] = BinaryPrimitives.ReadSingleLittleEndian(buffer.AsSpan(offset));
                    continue;
                }
                double value = BinaryPrimitives.ReadDoubleLittleEndian(buffer.AsSpan(offset));
                data[index] = (float)value;
                // A finite float64 beyond float32's range would silently become infinite.
                if (double.IsFinite(value) && !float.IsFinite(data[index]))
                    throw new NpyFormatException(sourceName, string.Create(CultureInfo.InvariantCulture, $"element {index} ({value:G6}) is beyond float32's range."));
            }
        }
        if (stream.ReadByte() >= 0)
            throw new NpyFormatException(sourceName, $"data size mismatch: more bytes follow the {payloadLength} bytes of data shape {shapeText} needs.");
    }

    private static string FormatShape(int[] shape) =>
        shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape.Select(s => s.ToString(CultureInfo.InvariantCulture))) + ")";

    /// <summary>Writes a float32 array (version 1.0, C order) atomically: temp file, then rename.</summary>
    public static void Write(string path, ReadOnlySpan<float> data, params int[] shape)
    {
        CheckShape(data.Length, shape, path);
        var payload = new byte[data.Length * 4];
        for (int i = 0; i < data.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(payload.AsSpan(i * 4), data[i]);
        WriteFile(path, "<f4", shape, payload);
    }

    /// <summary>Writes an int32 array (zone indices, labels) atomically.</summary>
    public static void Write(string path, ReadOnlySpan<int> data, params int[] shape)
    {
        CheckShape(data.Length, shape, path);
        var payload = new byte[data.Length * 4];
        for (int i = 0; i < data.Length; i++)
            BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(i * 4), data[i]);
        WriteFile(path, "<i4", shape, payload);
    }

    private static void CheckShape(int length, int[] shape, string path)
    {
        long count = 1;
        foreach (int dimension in shape)
            count *= dimension;
        if (count != length)
            throw new ArgumentException($"{path}: shape ({string.Join(", ", shape)}) holds {count} elements, data has {length}.", nameof(shape));
    }

    private static void WriteFile(string path, string descr, int[] shape, byte[] payload)
    {
        string dictionary = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {FormatShape(shape)}, }}";
        // The header (magic + version + length + dict + newline) is padded with spaces to a multiple of 64 bytes.
        int unpadded = 10 + dictionary.Length + 1;
        int padding = (64 - unpadded % 64) % 64;
        string header = dictionary + new string(' ', padding) + "\n";

        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)header.Length);
            stream.Write(Magic);
            stream.Write([1, 0]);
            stream.Write(length);
            stream.Write(Encoding.Latin1.GetBytes(header));
            stream.Write(payload);
        });
    }
}
