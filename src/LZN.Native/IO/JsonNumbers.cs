using System.Text.Json;

namespace LZN.Native.IO;

/// <summary>JSON has no NaN or infinity; every JSON file this project writes puts null where a value is not finite.</summary>
public static class JsonNumbers
{
    /// <summary>Writes <paramref name="value"/> as a number, or as null when it is NaN or infinite.</summary>
    public static void WriteNumberOrNull(this Utf8JsonWriter writer, string name, double value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (double.IsFinite(value))
            writer.WriteNumber(name, value);
        else
            writer.WriteNull(name);
    }
}
