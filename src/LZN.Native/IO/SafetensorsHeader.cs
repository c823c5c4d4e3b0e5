using System.Text.Json;
using System.Text.Unicode;

namespace LZN.Native.IO;

/// <summary>Parses and validates the JSON header of a safetensors file (no reflection: JsonDocument only).</summary>
internal static class SafetensorsHeader
{
    internal sealed record Entry(string Name, TensorDType DType, int[] Shape, ulong Begin, ulong End);

    public static List<Entry> Parse(ReadOnlyMemory<byte> header, string sourceName, out IReadOnlyDictionary<string, string> metadata)
    {
        // JsonDocument checks UTF-8 only when a string is decoded; check it all up front for one clear message.
        if (!Utf8.IsValid(header.Span))
            throw new SafetensorsFormatException(sourceName, "the header is not valid JSON (it is not valid UTF-8).");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException ex)
        {
            throw new SafetensorsFormatException(sourceName, $"the header is not valid JSON ({ex.Message}).");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(sourceName, $"the header is a JSON {root.ValueKind}, not an object.");
            var entries = new List<Entry>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            var metadataValues = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!names.Add(property.Name))
                    throw new SafetensorsFormatException(sourceName, $"the header names '{property.Name}' twice.");
                if (property.Name == Safetensors.MetadataKey)
                    ReadMetadata(property.Value, metadataValues, sourceName);
                else
                    entries.Add(ReadEntry(property.Name, property.Value, sourceName));
            }
            metadata = metadataValues;
            return entries;
        }
    }

    private static void ReadMetadata(JsonElement element, Dictionary<string, string> metadata, string sourceName)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(sourceName, $"'{Safetensors.MetadataKey}' is a JSON {element.ValueKind}, not an object of strings.");
        foreach (var item in element.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsFormatException(sourceName, $"metadata '{item.Name}' is a JSON {item.Value.ValueKind}, not a string.");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new SafetensorsFormatException(sourceName, $"metadata names '{item.Name}' twice.");
        }
    }

    private static Entry ReadEntry(string name, JsonElement element, string sourceName)
    {
        string Fault(string problem) => $"tensor '{name}': {problem}";
        if (element.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(sourceName, Fault($"the entry is a JSON {element.ValueKind}, not an object."));
        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (var field in element.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype": dtypeElement = field.Value; break;
                case "shape": shapeElement = field.Value; break;
                case "data_offsets": offsetsElement = field.Value; break;
                default: throw new SafetensorsFormatException(sourceName, Fault($"unknown field '{field.Name}'."));
            }
        }
        if (dtypeElement is not { ValueKind: JsonValueKind.String } dtypeValue)
            throw new SafetensorsFormatException(sourceName, Fault("'dtype' is missing or not a string."));
        string dtypeName = dtypeValue.GetString()!;
        if (!Enum.TryParse<TensorDType>(dtypeName, ignoreCase: false, out var dtype) || !Enum.IsDefined(dtype) || dtypeName != dtype.ToString())
            throw new SafetensorsFormatException(sourceName, Fault($"dtype '{dtypeName}' is not supported (F32, F64, I32, I64, U8)."));
        int[] shape = ReadShape(shapeElement, sourceName, Fault);
        var (begin, end) = ReadOffsets(offsetsElement, sourceName, Fault);

        long count;
        try
        {
            count = SafeTensor.ElementCountOf(shape, name);
        }
        catch (OverflowException)
        {
            throw new SafetensorsFormatException(sourceName, Fault($"shape {SafeTensor.FormatShape(shape)} has too many elements."));
        }
        ulong expectedBytes = (ulong)count * (ulong)SafeTensor.SizeOf(dtype);
        if (end - begin != expectedBytes)
        {
            throw new SafetensorsFormatException(sourceName,
                Fault($"{dtype} {SafeTensor.FormatShape(shape)} needs {expectedBytes} bytes but data_offsets [{begin}, {end}] span {end - begin}."));
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    private static int[] ReadShape(JsonElement? element, string sourceName, Func<string, string> fault)
    {
        if (element is not { ValueKind: JsonValueKind.Array } array)
            throw new SafetensorsFormatException(sourceName, fault("'shape' is missing or not an array."));
        var shape = new int[array.GetArrayLength()]; // [rank]
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out shape[i]) || shape[i] < 0)
                throw new SafetensorsFormatException(sourceName, fault($"shape entry {item} is not a non-negative 32-bit integer."));
            i++;
        }
        return shape;
    }

    private static (ulong Begin, ulong End) ReadOffsets(JsonElement? element, string sourceName, Func<string, string> fault)
    {
        if (element is not { ValueKind: JsonValueKind.Array } array || array.GetArrayLength() != 2)
            throw new SafetensorsFormatException(sourceName, fault("'data_offsets' is missing or not a [begin, end] pair."));
        if (array[0].ValueKind != JsonValueKind.Number || !array[0].TryGetUInt64(out ulong begin)
            || array[1].ValueKind != JsonValueKind.Number || !array[1].TryGetUInt64(out ulong end))
        {
            throw new SafetensorsFormatException(sourceName, fault($"data_offsets {array} are not non-negative integers."));
        }
        if (end < begin)
            throw new SafetensorsFormatException(sourceName, fault($"data_offsets [{begin}, {end}] end before they begin."));
        return (begin, end);
    }
}
