using System.Text.Json;
using LZN.Native.Data;
using LZN.Native.IO;

namespace LZN.Native.Training;

/// <summary>What a finished (or interrupted) run leaves in its folder besides metrics.jsonl and the checkpoint.</summary>
public static class RunOutputs
{
    public const string SummaryFileName = "summary.json";
    public const string SamplesFileName = "samples.png";

    /// <summary>The representation task's picture: test features on their first two principal components, coloured by class.</summary>
    public const string EmbeddingFileName = "embedding.png";

    /// <summary>Samples per class in the end-of-run grid (one class per row).</summary>
    public const int SamplesPerClass = 8;

    /// <summary>Fixed seed of the end-of-run sample grid, so grids of different runs are comparable.</summary>
    public const ulong SampleSeed = 12345;

    /// <summary>
    /// summary.json: test_accuracy (0..1, with the eval batch size), epochs, steps, train_examples, test_examples,
    /// wall_seconds, device, preset, seed, completed, skipped_steps (steps whose loss or gradient was not finite) and the
    /// last epoch's mean losses, world_size (the ranks of a data-parallel run, 1 without one), then the task and its own
    /// metrics (<paramref name="taskMetrics"/>, e.g. linear_probe_accuracy and knn_accuracy of the representation task);
    /// a value that is not finite is written as null.
    /// </summary>
    public static void WriteSummary(string path, TrainingConfig config, TrainingResult result, int trainExamples, int testExamples, string device,
        IReadOnlyDictionary<string, double>? taskMetrics = null, int worldSize = 1)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(result);
        AtomicFile.Write(path, stream =>
        {
            using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            writer.WriteStartObject();
            writer.WriteNumberOrNull("test_accuracy", result.TestAccuracy ?? double.NaN);
            writer.WriteNumber("eval_batch", config.Schedule.EvalBatch);
            writer.WriteNumber("epochs", (double)result.Step / Math.Max(1, trainExamples / config.Schedule.BatchSize));
            writer.WriteNumber("steps", result.Step);
            writer.WriteNumber("train_examples", trainExamples);
            writer.WriteNumber("test_examples", testExamples);
            writer.WriteNumber("wall_seconds", result.WallSeconds);
            writer.WriteString("device", device);
            writer.WriteString("preset", config.Preset);
            writer.WriteString("seed", config.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
            writer.WriteNumber("batch_size", config.Schedule.BatchSize);
            writer.WriteNumber("world_size", worldSize);
            writer.WriteBoolean("completed", result.Completed);
            writer.WriteNumber("skipped_steps", result.SkippedSteps);
            if (result.Epochs.Count > 0)
            {
                var last = result.Epochs[^1];
                writer.WriteNumberOrNull("last_epoch_rf_loss", last.MeanLosses.RectifiedFlow);
                writer.WriteNumberOrNull("last_epoch_label_loss", last.MeanLosses.Label);
            }
            writer.WriteString("task", TrainingConfig.TaskName(config.Task));
            foreach (var (name, value) in taskMetrics ?? new Dictionary<string, double>())
                writer.WriteNumberOrNull(name, value);
            writer.WriteEndObject();
        });
    }

    /// <summary>A PNG grid of class-conditional samples: row c holds <paramref name="perClass"/> samples of class c.</summary>
    public static void WriteSampleGrid(string path, JointModel model, int perClass = SamplesPerClass, ulong seed = SampleSeed, int scale = 2)
    {
        ArgumentNullException.ThrowIfNull(model);
        int classes = model.Config.Data.ClassCount;
        var wanted = new int[classes * perClass];
        for (int i = 0; i < wanted.Length; i++)
            wanted[i] = i / perClass;
        var samples = model.Generate(wanted, seed);
        ImageGrid.WritePng(path, samples, classes, perClass, Shape(model.Config), scale);
    }

    /// <summary>Unconditional samples of a generation model in a grid of up to 8 columns (latents from the prior).</summary>
    public static void WriteUnconditionalSamples(string path, GenerationModel model, int count, ulong seed, int scale = 2)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (rows, columns) = GridOf(count);
        ImageGrid.WritePng(path, model.Generate(rows * columns, seed), rows, columns, Shape(model.Config), scale);
    }

    /// <summary>
    /// Two generation models side by side from the same draws, for telling what the latent adds: each row holds up to 8
    /// samples of <paramref name="left"/>, one blank (mid-gray) cell, then the samples of <paramref name="right"/> from the
    /// same image noise, column for column (and the same prior latents where both draw latents of one size). Each half is
    /// the model's own <see cref="WriteUnconditionalSamples"/> grid of that count and seed.
    /// </summary>
    public static void WriteSideBySide(string path, GenerationModel left, GenerationModel right, int count, ulong seed, int scale = 2)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        var shape = Shape(left.Config);
        if (Shape(right.Config) != shape)
            throw new ArgumentException($"side-by-side samples need one image shape, not {shape} and {Shape(right.Config)}.", nameof(right));
        var (rows, columns) = GridOf(count);
        float[] leftSamples = left.Generate(rows * columns, seed), rightSamples = right.Generate(rows * columns, seed);
        int width = 2 * columns + 1, rowValues = columns * shape.Size;
        var cells = new float[rows * width * shape.Size]; // [rows * width, size]; the middle column stays 0, the separators' gray
        for (int row = 0; row < rows; row++)
        {
            leftSamples.AsSpan(row * rowValues, rowValues).CopyTo(cells.AsSpan(row * width * shape.Size));
            rightSamples.AsSpan(row * rowValues, rowValues).CopyTo(cells.AsSpan((row * width + columns + 1) * shape.Size));
        }
        ImageGrid.WritePng(path, cells, rows, width, shape, scale);
    }

    /// <summary>Samples of one class in a grid of up to 8 columns.</summary>
    public static void WriteClassSamples(string path, JointModel model, int classIndex, int count, ulong seed, int scale = 2)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (rows, columns) = GridOf(count);
        var wanted = Enumerable.Repeat(classIndex, rows * columns).ToArray();
        var samples = model.Generate(wanted, seed);
        ImageGrid.WritePng(path, samples, rows, columns, Shape(model.Config), scale);
    }

    /// <summary>The grid of <paramref name="count"/> samples: up to 8 columns, rounded up to full rows.</summary>
    private static (int Rows, int Columns) GridOf(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        int columns = Math.Min(count, SamplesPerClass);
        return ((count + columns - 1) / columns, columns);
    }

    public static ImageShape Shape(TrainingConfig config) => new(config.Data.ImageHeight, config.Data.ImageWidth, config.Data.ImageChannels);
}
