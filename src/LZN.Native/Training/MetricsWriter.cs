using System.Text.Json;
using LZN.Native.IO;

namespace LZN.Native.Training;

/// <summary>
/// metrics.jsonl: one JSON object per line, appended and flushed as it is written, so a resumed run continues the
/// same file and an interrupted one keeps every line it logged. JSON has no NaN or infinity: a value that is not
/// finite (the loss of a skipped step, the mean of an epoch whose every step was skipped) is written as null.
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
        writer.WriteNumberOrNull("loss", progress.Losses.Total);
        writer.WriteNumberOrNull("rf_loss", progress.Losses.RectifiedFlow);
        writer.WriteNumberOrNull("label_loss", progress.Losses.Label);
        writer.WriteNumberOrNull("grad_norm", progress.GradientNorm);
        writer.WriteNumberOrNull("lr_factor", progress.LearningRateFactor);
        writer.WriteNumberOrNull("items_per_second", progress.ItemsPerSecond);
        writer.WriteBoolean("applied", progress.Applied);
        writer.WriteNumber("skipped_steps", progress.SkippedSteps);
    });

    /// <summary>An end-of-epoch line: kind "epoch", the epoch's mean losses and the test accuracy.</summary>
    public void Epoch(EpochResult result) => Write(writer =>
    {
        writer.WriteString("kind", "epoch");
        writer.WriteNumber("epoch", result.Epoch);
        writer.WriteNumber("step", result.Step);
        writer.WriteNumberOrNull("mean_loss", result.MeanLosses.Total);
        writer.WriteNumberOrNull("mean_rf_loss", result.MeanLosses.RectifiedFlow);
        writer.WriteNumberOrNull("mean_label_loss", result.MeanLosses.Label);
        writer.WriteNumberOrNull("test_accuracy", result.TestAccuracy);
        writer.WriteNumberOrNull("epoch_seconds", result.Seconds);
        writer.WriteNumber("skipped_steps", result.SkippedSteps);
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
