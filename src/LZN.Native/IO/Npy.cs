using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

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
/// </summary>
public static partial class Npy
{
    // The first byte is 0x93 itself; a "\x93"u8 literal would encode U+0093 as two UTF-8 bytes.
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new NpyFormatException(path, $"cannot read the file ({ex.Message}).");
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses .npy bytes; <paramref name="sourceName"/> names the source in errors.</summary>
    public static NpyArray Parse(ReadOnlySpan<byte> bytes, string sourceName)
    {
        if (bytes.Length < 10 || !bytes[..6].SequenceEqual(Magic))
            throw new NpyFormatException(sourceName, "not a .npy file (the magic string \\x93NUMPY is missing).");
        int major = bytes[6];
        int headerLength;
        int headerStart;
        switch (major)
        {
            case 1:
                headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]);
                headerStart = 10;
                break;
            case 2 or 3:
                if (bytes.Length < 12)
                    throw new NpyFormatException(sourceName, "truncated header.");
                headerLength = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]));
                headerStart = 12;
                break;
            default:
                throw new NpyFormatException(sourceName, $"unsupported .npy format version {major}.{bytes[7]}.");
        }
        if (headerStart + headerLength > bytes.Length)
            throw new NpyFormatException(sourceName, $"truncated header (declares {headerLength} bytes, file has {bytes.Length - headerStart}).");
        string header = Encoding.Latin1.GetString(bytes.Slice(headerStart, headerLength));
        string descr = HeaderField(header, DescrPattern(), "descr", sourceName);
        string fortran = HeaderField(header, FortranPattern(), "fortran_order", sourceName);
        string shapeText = HeaderField(header, ShapePattern(), "shape", sourceName);

        if (fortran != "False")
            throw new NpyFormatException(sourceName, "Fortran-order arrays are not supported; save with C order (np.ascontiguousarray).");
        int elementSize = descr switch
        {
            "<f4" => 4,
            "<f8" => 8,
            ">f4" or ">f8" => throw new NpyFormatException(sourceName, $"big-endian dtype '{descr}' is not supported; use little-endian float32 or float64."),
            _ => throw new NpyFormatException(sourceName, $"dtype '{descr}' is not supported; use float32 ('<f4') or float64 ('<f8')."),
        };
        int[] shape = ParseShape(shapeText, sourceName);
        long count = 1;
        foreach (int dimension in shape)
            count = checked(count * dimension);
        var payload = bytes[(headerStart + headerLength)..];
        if (payload.Length != count * elementSize)
        {
            throw new NpyFormatException(sourceName,
                $"data size mismatch: shape ({string.Join(", ", shape)}) needs {count * elementSize} bytes, the file holds {payload.Length}.");
        }
        var data = new float[count];
        if (elementSize == 4)
        {
            for (int i = 0; i < data.Length; i++)
                data[i] = BinaryPrimitives.ReadSingleLittleEndian(payload[(i * 4)..]);
        }
        else
        {
            for (int i = 0; i < data.Length; i++)
                data[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(payload[(i * 8)..]);
        }
        return new NpyArray(shape, data);
    }

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
        string shapeText = shape.Length == 1
            ? $"({shape[0]},)"
            : "(" + string.Join(", ", shape.Select(s => s.ToString(CultureInfo.InvariantCulture))) + ")";
        string dictionary = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shapeText}, }}";
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

    private static string HeaderField(string header, Regex pattern, string name, string sourceName)
    {
        var match = pattern.Match(header);
        return match.Success
            ? match.Groups[1].Value
            : throw new NpyFormatException(sourceName, $"header has no '{name}' entry: {header.Trim()}");
    }

    private static int[] ParseShape(string shapeText, string sourceName)
    {
        var parts = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var shape = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i].TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out shape[i]))
                throw new NpyFormatException(sourceName, $"cannot read the shape '({shapeText})'.");
        }
        return shape;
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
