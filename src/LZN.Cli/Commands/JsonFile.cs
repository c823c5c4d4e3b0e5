using System.Text.Json;
using LZN.Native.IO;

namespace LZN.Cli.Commands;

/// <summary>
/// Writes a JSON report through Utf8JsonWriter (no reflection, so the trimmed single-file build keeps working),
/// through <see cref="AtomicFile"/> (a temporary file renamed into place).
/// </summary>
internal static class JsonFile
{
    public static void Write(string path, Action<Utf8JsonWriter> writeBody)
    {
        AtomicFile.Write(path, stream =>
        {
            using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            writer.WriteStartObject();
            writeBody(writer);
            writer.WriteEndObject();
        });
    }

    /// <summary>JSON has no NaN or infinity; a non-finite measurement is written as null.</summary>
    public static void WriteNumberOrNull(Utf8JsonWriter writer, string name, double value)
    {
        if (double.IsFinite(value))
            writer.WriteNumber(name, value);
        else
            writer.WriteNull(name);
    }
}
