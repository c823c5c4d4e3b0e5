using System.Text.Json;

namespace LZN.Native.Training;

/// <summary>
/// metrics.jsonl: one JSON object per line, appended and flushed as it is written, so a resumed run continues the
/// same file and an interrupted one keeps every line it logged.
/// </summary>
public sealed class MetricsWriter : IDisposable
{
    private readonly FileStream _stream;

    public MetricsWriter(string path)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        _stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        FilePath = path;
    }

    public string FilePath { get; }

    /// <summary>A training-step line: kind "step".</summary>
    public void Step(TrainingProgress progress) => Write(writer =>
    {
        writer.WriteString("kind", "step");
        writer.WriteNumber("step", progress.Step);
        writer.WriteNumber("epoch", progress.Epoch);
        writer.WriteNumber("loss", progress.Losses.Total);
        writer.WriteNumber("rf_loss", progress.Losses.RectifiedFlow);
        writer.WriteNumber("label_loss", progress.Losses.Label);
        writer.WriteNumber("grad_norm", progress.GradientNorm);
        writer.WriteNumber("lr_factor", progress.LearningRateFactor);
        writer.WriteNumber("items_per_second", progress.ItemsPerSecond);
        writer.WriteBoolean("applied", progress.Applied);
    });

    /// <summary>An end-of-epoch line: kind "epoch", the epoch's mean losses and the test accuracy.</summary>
    public void Epoch(EpochResult result) => Write(writer =>
    {
        writer.WriteString("kind", "epoch");
        writer.WriteNumber("epoch", result.Epoch);
        writer.WriteNumber("step", result.Step);
        writer.WriteNumber("mean_loss", result.MeanLosses.Total);
        writer.WriteNumber("mean_rf_loss", result.MeanLosses.RectifiedFlow);
        writer.WriteNumber("mean_label_loss", result.MeanLosses.Label);
        writer.WriteNumber("test_accuracy", result.TestAccuracy);
        writer.WriteNumber("epoch_seconds", result.Seconds);
    });

    private void Write(Action<Utf8JsonWriter> body)
    {
        using (var writer = new Utf8JsonWriter(_stream))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }
        _stream.WriteByte((byte)'\n');
        _stream.Flush();
    }

    public void Dispose() => _stream.Dispose();
}
