using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;

namespace LZN.Native.IO;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length N, N bytes of JSON header
/// ({"__metadata__": {string: string}, "name": {"dtype", "shape", "data_offsets": [begin, end]}, ...}), then
/// the tensors' raw little-endian bytes, offsets relative to the end of the header. Reading validates every
/// field and that the tensors tile the data section exactly (no gaps, overlaps or trailing bytes).
/// </summary>
public static class Safetensors
{
    public const string MetadataKey = "__metadata__";

    /// <summary>The reference implementation refuses headers above 100 MB; so does this one.</summary>
    public const long MaxHeaderLength = 100_000_000;

    public static SafetensorsFile Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SafetensorsFormatException(path, $"cannot read the file ({ex.Message}).");
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses safetensors bytes; <paramref name="sourceName"/> names the source in errors.</summary>
    public static SafetensorsFile Parse(ReadOnlyMemory<byte> bytes, string sourceName)
    {
        if (bytes.Length < 8)
            throw new SafetensorsFormatException(sourceName, $"truncated: {bytes.Length} bytes cannot hold the 8-byte header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes.Span);
        if (headerLength > MaxHeaderLength)
            throw new SafetensorsFormatException(sourceName, $"header length {headerLength} exceeds the {MaxHeaderLength}-byte limit.");
        if (headerLength > (ulong)(bytes.Length - 8))
            throw new SafetensorsFormatException(sourceName, $"header length {headerLength} runs beyond the end of the file ({bytes.Length} bytes).");
        int dataStart = 8 + (int)headerLength;
        var data = bytes[dataStart..];
        var entries = SafetensorsHeader.Parse(bytes[8..dataStart], sourceName, out var metadata);
        CheckLayout(entries, data.Length, sourceName);
        var tensors = entries
            .OrderBy(e => e.Begin)
            .ThenBy(e => e.End)
            .Select(e => new SafeTensor(e.Name, e.DType, e.Shape, data[(int)e.Begin..(int)e.End].ToArray()))
            .ToList();
        return new SafetensorsFile(sourceName, tensors, metadata);
    }

    /// <summary>
    /// Writes tensors and metadata atomically (temporary file, then rename: an existing file survives a failed write).
    /// Tensors are laid out as the reference writer lays them out: by dtype in the order I64, F64, F32, I32, U8
    /// (descending alignment), then by name, so each tensor starts aligned to its element size; the header is
    /// padded with spaces to a multiple of 8 bytes. Empty metadata is left out of the header.
    /// </summary>
    public static void Write(string path, IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var ordered = tensors
            .OrderByDescending(t => ReferenceRank(t.DType))
            .ThenBy(t => t.Name, StringComparer.Ordinal)
            .ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in ordered)
        {
            if (tensor.Name == MetadataKey)
                throw new ArgumentException($"{path}: '{MetadataKey}' is reserved and cannot name a tensor.", nameof(tensors));
            if (!seen.Add(tensor.Name))
                throw new ArgumentException($"{path}: two tensors are named '{tensor.Name}'.", nameof(tensors));
        }
        byte[] header = BuildHeader(ordered, metadata);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var tensor in ordered)
                stream.Write(tensor.Data);
        });
    }

    /// <summary>The dtype's position in the reference implementation's Dtype enum (U8 = 1 ... I64 = 13).</summary>
    private static int ReferenceRank(TensorDType dtype) => dtype switch
    {
        TensorDType.U8 => 1,
        TensorDType.I32 => 9,
        TensorDType.F32 => 11,
        TensorDType.F64 => 12,
        TensorDType.I64 => 13,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    private static byte[] BuildHeader(List<SafeTensor> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(pair => pair.Key, StringComparer.Ordinal))
                    writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var tensor in ordered)
            {
                writer.WriteStartObject(tensor.Name);
                writer.WriteString("dtype", tensor.DType.ToString());
                writer.WriteStartArray("shape");
                foreach (int dimension in tensor.Shape)
                    writer.WriteNumberValue(dimension);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                offset += tensor.Data.LongLength;
                writer.WriteNumberValue(offset);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    /// <summary>Every tensor lies inside the data section, and together they cover it exactly, in offset order.</summary>
    private static void CheckLayout(List<SafetensorsHeader.Entry> entries, int dataLength, string sourceName)
    {
        foreach (var entry in entries)
        {
            if (entry.End > (ulong)dataLength)
            {
                throw new SafetensorsFormatException(sourceName,
                    $"tensor '{entry.Name}' data_offsets [{entry.Begin}, {entry.End}] run beyond the {dataLength}-byte data section (truncated file?).");
            }
        }
        ulong expected = 0;
        string previous = "the start of the data section";
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin < expected)
                throw new SafetensorsFormatException(sourceName, $"tensor '{entry.Name}' at [{entry.Begin}, {entry.End}] overlaps {previous} (ends at {expected}).");
            if (entry.Begin > expected)
                throw new SafetensorsFormatException(sourceName, $"a gap of {entry.Begin - expected} bytes lies between {previous} and tensor '{entry.Name}'.");
            expected = entry.End;
            previous = $"tensor '{entry.Name}'";
        }
        if (expected != (ulong)dataLength)
            throw new SafetensorsFormatException(sourceName, $"{(ulong)dataLength - expected} bytes follow the last tensor; the tensors cover {expected} of {dataLength}.");
    }
}
