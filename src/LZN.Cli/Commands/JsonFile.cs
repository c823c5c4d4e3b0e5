using System.Text.Encodings.Web;
using System.Text.Json;
using LZN.Native.IO;

namespace LZN.Cli.Commands;

/// <summary>
/// Writes a JSON report through Utf8JsonWriter (no reflection, so the trimmed single-file build keeps working),
/// through <see cref="AtomicFile"/> (a temporary file renamed into place). Reports are files, never embedded in
/// HTML, so '+' and non-ASCII text are written as themselves rather than as \u escapes.
/// </summary>
internal static class JsonFile
{
    public static void Write(string path, Action<Utf8JsonWriter> writeBody)
    {
        AtomicFile.Write(path, stream =>
        {
            using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            writer.WriteStartObject();
            writeBody(writer);
            writer.WriteEndObject();
        });
    }

    /// <summary>JSON has no NaN or infinity: a non-finite measurement is written as null (<see cref="JsonNumbers"/>).</summary>
    public static void WriteNumberOrNull(Utf8JsonWriter writer, string name, double value) => writer.WriteNumberOrNull(name, value);
}
