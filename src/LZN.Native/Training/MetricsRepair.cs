using System.Text.Json;
using LZN.Native.IO;

namespace LZN.Native.Training;

/// <summary>Raised for a metrics.jsonl line that cannot be read; the message names the file and the line.</summary>
public sealed class MetricsFormatException(string path, int line, string problem)
    : FormatException($"{path}:{line}: {problem}")
{
    public string FilePath { get; } = path;

    /// <summary>1-based line number.</summary>
    public int Line { get; } = line;
}

/// <summary>What <see cref="MetricsRepair.TrimToStep"/> did: lines kept, lines dropped past the step, a torn last line dropped.</summary>
public readonly record struct MetricsRepairResult(int KeptLines, int DroppedLines, bool DroppedTornLine)
{
    public bool Changed => DroppedLines > 0 || DroppedTornLine;
}

/// <summary>
/// Brings metrics.jsonl back in line with a checkpoint before a resumed run appends to it. A run that crashed (rather
/// than stopping on Ctrl-C) logged steps past its last checkpoint, which the resumed run repeats and logs again;
/// and a crash in the middle of a write leaves a last line without its newline.
/// </summary>
public static class MetricsRepair
{
    /// <summary>
    /// Keeps the lines whose "step" (carried by both the "step" and the "epoch" kinds) is at most
    /// <paramref name="lastStep"/> and drops a last line without a newline (torn by a crash). Rewrites the file
    /// through a temporary file and a rename, and only when something is dropped; a missing file is left missing.
    /// Every other line must be a JSON object with an integer "step", else <see cref="MetricsFormatException"/>.
    /// </summary>
    public static MetricsRepairResult TrimToStep(string path, long lastStep)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            return default;
        byte[] content = File.ReadAllBytes(path);
        var kept = new List<Range>();
        int dropped = 0, lineNumber = 0, start = 0;
        bool torn = false;
        while (start < content.Length)
        {
            lineNumber++;
            int newline = Array.IndexOf(content, (byte)'\n', start);
            if (newline < 0)
            {
                torn = true;
                break;
            }
            if (StepOf(path, lineNumber, content.AsMemory(start, newline - start)) <= lastStep)
                kept.Add(new Range(start, newline + 1));
            else
                dropped++;
            start = newline + 1;
        }
        var result = new MetricsRepairResult(kept.Count, dropped, torn);
        if (result.Changed)
        {
            AtomicFile.Write(path, stream =>
            {
                foreach (var range in kept)
                    stream.Write(content.AsSpan(range));
            });
        }
        return result;
    }

    private static long StepOf(string path, int lineNumber, ReadOnlyMemory<byte> line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("step", out var step)
                && step.ValueKind == JsonValueKind.Number && step.TryGetInt64(out long value))
            {
                return value;
            }
            throw new MetricsFormatException(path, lineNumber, "not a metrics object with an integer \"step\".");
        }
        catch (JsonException ex)
        {
            throw new MetricsFormatException(path, lineNumber, $"not valid JSON ({ex.Message})");
        }
    }
}
