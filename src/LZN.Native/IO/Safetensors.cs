using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
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
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
            return Read(stream, path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SafetensorsFormatException(path, $"cannot read the file ({ex.Message}).");
        }
    }

    /// <summary>Parses safetensors bytes; <paramref name="sourceName"/> names the source in errors.</summary>
    public static SafetensorsFile Parse(ReadOnlyMemory<byte> bytes, string sourceName)
    {
        using var stream = new MemoryStream(bytes.ToArray(), writable: false);
        return Read(stream, sourceName);
    }

    /// <summary>
    /// Reads a file from <paramref name="stream"/> (its current position to its end). Bounded before anything large is
    /// allocated: the header by <see cref="MaxHeaderLength"/> and, for a seekable stream, by the stream's length; the
    /// data by the header's layout, which must tile the rest of the stream exactly.
    /// </summary>
    public static SafetensorsFile Read(Stream stream, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> prefix = stackalloc byte[8];
        int got = stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false);
        if (got < 8)
            throw new SafetensorsFormatException(sourceName, $"truncated: {got} bytes cannot hold the 8-byte header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        long? available = stream.CanSeek ? stream.Length - stream.Position : null;
        if (headerLength > MaxHeaderLength)
        {
            throw new SafetensorsFormatException(sourceName,
                $"not a safetensors file: its first 8 bytes declare a {headerLength}-byte JSON header, which exceeds the {MaxHeaderLength}-byte limit.");
        }
        if (available is long remaining && headerLength > (ulong)remaining)
        {
            throw new SafetensorsFormatException(sourceName,
                $"not a safetensors file, or a truncated one: its first 8 bytes declare a {headerLength}-byte JSON header, which runs beyond the end of the file ({remaining + 8} bytes).");
        }
        var header = new byte[headerLength];
        got = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        if (got < header.Length)
            throw new SafetensorsFormatException(sourceName, $"truncated: the header declares {headerLength} bytes, the file holds {got}.");
        if (header.AsSpan().TrimStart(" \t\r\n"u8) is not [(byte)'{', ..])
            throw new SafetensorsFormatException(sourceName, "not a safetensors file: the 8-byte header length is not followed by a JSON object.");
        var entries = SafetensorsHeader.Parse(header, sourceName, out var metadata);
        ulong dataLength = available is long total ? (ulong)total - headerLength : entries.Aggregate(0UL, (end, entry) => Math.Max(end, entry.End));
        CheckLayout(entries, dataLength, sourceName);
        var tensors = new List<SafeTensor>(entries.Count);
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            ulong size = entry.End - entry.Begin;
            if (size > (ulong)Array.MaxLength)
                throw new SafetensorsFormatException(sourceName, $"tensor '{entry.Name}' holds {size} bytes, more than one array can hold.");
            var data = new byte[size];
            got = stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
            if (got < data.Length)
                throw new SafetensorsFormatException(sourceName, $"truncated: the data of tensor '{entry.Name}' ends after {got} of its {size} bytes.");
            tensors.Add(new SafeTensor(entry.Name, entry.DType, entry.Shape, data));
        }
        if (stream.ReadByte() >= 0)
            throw new SafetensorsFormatException(sourceName, $"bytes follow the last tensor; the tensors cover {dataLength} bytes of data.");
        return new SafetensorsFile(sourceName, tensors, metadata);
    }

    /// <summary>
    /// The SHA-256 (lowercase hex) of the data section <see cref="Write"/> lays out for <paramref name="tensors"/>: every
    /// tensor's bytes in the file's order. Equal to <see cref="SafetensorsFile.DataSha256"/> of the file written, and to
    /// the hash of everything after the header, which any tool can compute.
    /// </summary>
    public static string DataSha256(IEnumerable<SafeTensor> tensors) => Sha256(DataOrder(tensors));

    internal static string Sha256(IEnumerable<SafeTensor> tensorsInDataOrder)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var tensor in tensorsInDataOrder)
            hash.AppendData(tensor.Data);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static List<SafeTensor> DataOrder(IEnumerable<SafeTensor> tensors) =>
        [.. tensors.OrderByDescending(t => ReferenceRank(t.DType)).ThenBy(t => t.Name, StringComparer.Ordinal)];

    /// <summary>
    /// Writes tensors and metadata atomically (temporary file, then rename: an existing file survives a failed write).
    /// Tensors are laid out as the reference writer lays them out: by dtype in the order I64, F64, F32, I32, U8
    /// (descending alignment), then by name, so each tensor starts aligned to its element size; the header is
    /// padded with spaces to a multiple of 8 bytes. Empty metadata is left out of the header.
    /// </summary>
    public static void Write(string path, IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var ordered = DataOrder(tensors);
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
    private static void CheckLayout(List<SafetensorsHeader.Entry> entries, ulong dataLength, string sourceName)
    {
        foreach (var entry in entries)
        {
            if (entry.End > dataLength)
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
        if (expected != dataLength)
            throw new SafetensorsFormatException(sourceName, $"{dataLength - expected} bytes follow the last tensor; the tensors cover {expected} of {dataLength}.");
    }
}
