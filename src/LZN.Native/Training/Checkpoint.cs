using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.IO;
using LZN.Native.Optim;

namespace LZN.Native.Training;

/// <summary>An opened joint-task checkpoint: the file, its configuration and the number of completed steps.</summary>
public sealed record CheckpointInfo(SafetensorsFile File, TrainingConfig Config, long Step)
{
    public string Path => File.Source;
}

/// <summary>
/// Joint-task checkpoints as safetensors: every model parameter under its own name (F32, its shape), the optimiser,
/// EMA and skip-counter state of <see cref="TrainingStep.ExportState"/>, and <c>__metadata__</c> holding
/// <c>format</c>, <c>config</c> (the <see cref="TrainingConfig"/> JSON), <c>step</c> (completed steps) and <c>rng</c>
/// (how the random streams are derived: all from the seed and the step, so no generator state is needed).
/// Written through a temporary file and a rename; reading rejects, naming the file, anything that is not a
/// complete checkpoint matching the model.
/// </summary>
public static class Checkpoint
{
    public const string Format = "lzn-joint/1";

    public const string RngDescription = "philox4x32-10; key = seed ^ fnv1a64(stream name); counters = step x per-step draws";

    public static void Save(string path, JointModel model, TrainingStep training, long step)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(training);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        var tensors = model.Parameters
            .Select(parameter => SafeTensor.FromFloat32(parameter.Name, parameter.Value.ToArray(), [.. parameter.Shape]))
            .Concat(training.ExportState())
            .ToList();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = Format,
            ["config"] = model.Config.ToJson(),
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["rng"] = RngDescription,
        };
        string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        Safetensors.Write(path, tensors, metadata);
    }

    /// <summary>Reads and checks the header fields; the tensors are checked when loaded into a model.</summary>
    public static CheckpointInfo Open(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such checkpoint.", path);
        var file = Safetensors.Read(path);
        string Field(string key) => file.Metadata.TryGetValue(key, out string? value)
            ? value : throw new SafetensorsFormatException(path, $"not a joint-task checkpoint: __metadata__ has no '{key}'.");
        string format = Field("format");
        if (format != Format)
            throw new SafetensorsFormatException(path, $"checkpoint format is '{format}'; this build reads '{Format}'.");
        TrainingConfig config;
        try
        {
            config = TrainingConfig.FromJson(Field("config"));
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            throw new SafetensorsFormatException(path, $"bad config in __metadata__: {ex.Message}");
        }
        if (!long.TryParse(Field("step"), NumberStyles.None, CultureInfo.InvariantCulture, out long step))
            throw new SafetensorsFormatException(path, $"__metadata__ step '{Field("step")}' is not a non-negative integer.");
        return new CheckpointInfo(file, config, step);
    }

    /// <summary>
    /// Uploads every parameter after checking all of them (name, dtype, shape) first; with <paramref name="useEma"/>
    /// the EMA shadows (<c>ema/{name}</c>, stored flat) instead of the trained values.
    /// </summary>
    public static void LoadModel(CheckpointInfo checkpoint, JointModel model, bool useEma = false)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(model);
        var uploads = model.Parameters
            .Select(parameter => (parameter, values: useEma
                ? checkpoint.File.Expect("ema/" + parameter.Name, TensorDType.F32, checked((int)parameter.Length)).ToFloat32()
                : checkpoint.File.Expect(parameter.Name, TensorDType.F32, [.. parameter.Shape]).ToFloat32()))
            .ToList();
        foreach (var (parameter, values) in uploads)
            parameter.Backend.Upload(values, parameter.Value);
    }

    /// <summary>Restores the optimiser, EMA and skip counter; a missing or mis-sized tensor names the file.</summary>
    public static void LoadTraining(CheckpointInfo checkpoint, TrainingStep training)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(training);
        try
        {
            training.ImportState(checkpoint.File.Tensors);
        }
        catch (Exception ex) when (ex is InvalidDataException or ArgumentException)
        {
            throw new SafetensorsFormatException(checkpoint.Path, ex.Message);
        }
    }
}
