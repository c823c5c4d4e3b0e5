using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.IO;
using LZN.Native.Optim;

namespace LZN.Native.Training;

/// <summary>
/// An opened joint-task checkpoint: the file, its configuration, the number of completed steps, and warnings for the
/// user (one line each, e.g. a file written before checkpoints carried a checksum).
/// </summary>
public sealed record CheckpointInfo(SafetensorsFile File, TrainingConfig Config, long Step, IReadOnlyList<string> Warnings)
{
    public string Path => File.Source;

    /// <summary>The ranks of the data-parallel run that wrote it (<see cref="Checkpoint.WorldSizeKey"/>; 1 when absent).</summary>
    public int WorldSize { get; init; } = 1;

    /// <summary>The sums of the epoch the checkpoint's step is inside (<see cref="Checkpoint.EpochSumsKey"/>); null when absent.</summary>
    public EpochSums? EpochSums { get; init; }
}

/// <summary>
/// Joint-task checkpoints as safetensors: every model parameter under its own name (F32, its shape), the optimiser,
/// EMA and skip-counter state of <see cref="TrainingStep.ExportState"/>, and <c>__metadata__</c> holding
/// <c>format</c>, <c>config</c> (the <see cref="TrainingConfig"/> JSON), <c>step</c> (completed steps), <c>rng</c>
/// (how the random streams are derived: all from the seed and the step, so no generator state is needed),
/// <c>epoch_sums</c> inside an epoch (<see cref="EpochSumsKey"/>) and <c>tensors_sha256</c>
/// (<see cref="Safetensors.DataSha256"/>: the SHA-256 of the data section, so any safetensors reader still reads the
/// file and a flipped bit anywhere in the tensors is caught).
/// Written through a temporary file and a rename; reading rejects, naming the file, anything that is not a
/// complete checkpoint matching the model: a bad checksum, a config out of its bounds, a non-finite value, counters
/// that disagree with the step.
/// </summary>
public static class Checkpoint
{
    public const string Format = "lzn-joint/1";

    /// <summary>The metadata key of the SHA-256 of the tensors' bytes.</summary>
    public const string DigestKey = "tensors_sha256";

    /// <summary>
    /// The metadata key of the number of ranks of a data-parallel run, written only when there are several (so a
    /// one-process checkpoint is byte for byte what earlier builds wrote).
    /// </summary>
    public const string WorldSizeKey = "world_size";

    /// <summary>
    /// The metadata key of the running sums of the epoch in progress (<see cref="EpochSums"/>, JSON), written only inside
    /// an epoch and only when they cover every step of it so far: a checkpoint on an epoch boundary (whose sums are zero)
    /// is what earlier builds wrote, and one without the key resumes with sums of zero.
    /// </summary>
    public const string EpochSumsKey = "epoch_sums";

    public const string RngDescription = "philox4x32-10; key = seed ^ fnv1a64(stream name); counters = step x per-step draws";

    public static void Save(string path, JointModel model, TrainingStep training, long step, int worldSize = 1, EpochSums? epochSums = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(worldSize);
        ArgumentNullException.ThrowIfNull(model);
        Save(path, model.Config, model.Parameters, training, step, worldSize, epochSums);
    }

    /// <summary>A checkpoint of any task: its config (which names the task) and its parameters, in the model's fixed order.</summary>
    public static void Save(string path, TrainingConfig config, IEnumerable<Nn.Parameter> parameters, TrainingStep training, long step, int worldSize = 1,
        EpochSums? epochSums = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(worldSize);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(training);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        var tensors = parameters
            .Select(parameter => SafeTensor.FromFloat32(parameter.Name, parameter.Value.ToArray(), [.. parameter.Shape]))
            .Concat(training.ExportState())
            .ToList();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = Format,
            ["config"] = config.ToJson(),
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["rng"] = RngDescription,
            [DigestKey] = Safetensors.DataSha256(tensors),
        };
        if (worldSize > 1)
            metadata[WorldSizeKey] = worldSize.ToString(CultureInfo.InvariantCulture);
        if (epochSums is not null)
            metadata[EpochSumsKey] = epochSums.ToJson();
        string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        Safetensors.Write(path, tensors, metadata);
    }

    /// <summary>
    /// Reads the file and checks everything that does not need the model: the format, the config (bounds included),
    /// the step against the optimiser's counters, the tensors' checksum, that every float is finite and that the label
    /// anchors have the config's shape. The other tensors' names and shapes are checked when loaded into a model.
    /// </summary>
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
        catch (TrainingConfigException ex)
        {
            throw new SafetensorsFormatException(path, $"the config in __metadata__ has {ex.Key} {ex.Value}, which {ex.Problem}.");
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            throw new SafetensorsFormatException(path, $"bad config in __metadata__: {ex.Message}");
        }
        if (!long.TryParse(Field("step"), NumberStyles.None, CultureInfo.InvariantCulture, out long step))
            throw new SafetensorsFormatException(path, $"__metadata__ step '{Field("step")}' is not a non-negative integer.");
        var warnings = new List<string>();
        if (file.Metadata.TryGetValue(DigestKey, out string? digest))
        {
            if (!string.Equals(digest, file.DataSha256(), StringComparison.Ordinal))
                throw new SafetensorsFormatException(path, $"the tensors do not match the SHA-256 in __metadata__ ({DigestKey}): the file was changed or damaged after it was written.");
        }
        else
        {
            warnings.Add($"{path}: written before checkpoints carried a checksum ({DigestKey}), so its tensors cannot be verified; saving it again adds one.");
        }
        CheckStructure(file, config);
        CheckFinite(file);
        CheckCounters(file, step, ParameterGroups(config.Task));
        if (config.Task == TrainingTask.Joint)
        {
            var anchors = file[JointModel.LabelAnchorsName];
            if (anchors.DType != TensorDType.F32 || !anchors.Shape.AsSpan().SequenceEqual([config.Data.ClassCount, config.Latent.Dim]))
            {
                throw new SafetensorsFormatException(path,
                    $"tensor '{JointModel.LabelAnchorsName}' is {anchors.DType} {SafeTensor.FormatShape(anchors.Shape)}, but the config in __metadata__ needs F32 [class_count {config.Data.ClassCount}, latent_dim {config.Latent.Dim}].");
            }
        }
        int worldSize = 1;
        if (file.Metadata.TryGetValue(WorldSizeKey, out string? ranks)
            && !(int.TryParse(ranks, NumberStyles.None, CultureInfo.InvariantCulture, out worldSize) && worldSize > 0))
            throw new SafetensorsFormatException(path, $"__metadata__ {WorldSizeKey} '{ranks}' is not a positive integer.");
        return new CheckpointInfo(file, config, step, warnings) { WorldSize = worldSize, EpochSums = ReadEpochSums(file) };
    }

    private static EpochSums? ReadEpochSums(SafetensorsFile file)
    {
        if (!file.Metadata.TryGetValue(EpochSumsKey, out string? json))
            return null;
        EpochSums sums;
        try
        {
            sums = EpochSums.FromJson(json);
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new SafetensorsFormatException(file.Source, $"__metadata__ {EpochSumsKey} is not the epoch's sums: {ex.Message}");
        }
        if (sums.AppliedSteps < 0 || sums.SkippedSteps < 0)
            throw new SafetensorsFormatException(file.Source, $"__metadata__ {EpochSumsKey} counts {sums.AppliedSteps} applied and {sums.SkippedSteps} skipped steps; a count is not negative.");
        return sums;
    }

    /// <summary>The names of the counters a checkpoint holds (I64 [1] each); every other tensor is float32.</summary>
    private static bool IsCounter(string name) =>
        name is "adam/iteration" or "training/skipped_steps" or "ema/updates" || name.StartsWith("adam/step/", StringComparison.Ordinal);

    /// <summary>
    /// The layout <see cref="Save(string, TrainingConfig, IEnumerable{Nn.Parameter}, TrainingStep, long, int, EpochSums)"/> writes: counters are I64 [1]; everything else is F32; a parameter is any other tensor
    /// outside adam/ and ema/, and each has its Adam moments (adam/m/, adam/v/) and, with an EMA, its shadow (ema/), each
    /// 1-D with the parameter's element count; no state belongs to a parameter the file lacks.
    /// </summary>
    private static void CheckStructure(SafetensorsFile file, TrainingConfig config)
    {
        [DoesNotReturn]
        void Fault(string problem) => throw new SafetensorsFormatException(file.Source, problem);
        var parameters = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var tensor in file.Tensors)
        {
            var expected = IsCounter(tensor.Name) ? TensorDType.I64 : TensorDType.F32;
            if (tensor.DType != expected)
                Fault($"tensor '{tensor.Name}' is {tensor.DType}; a checkpoint stores it as {expected}.");
            if (IsCounter(tensor.Name) && !tensor.Shape.AsSpan().SequenceEqual([1]))
                Fault($"counter '{tensor.Name}' has shape {SafeTensor.FormatShape(tensor.Shape)}; a counter is [1].");
            if (!IsCounter(tensor.Name) && !tensor.Name.StartsWith("adam/", StringComparison.Ordinal) && !tensor.Name.StartsWith("ema/", StringComparison.Ordinal))
                parameters.Add(tensor.Name, tensor.ElementCount);
        }
        string[] statePrefixes = ["adam/m/", "adam/v/", "ema/"];
        foreach (var tensor in file.Tensors.Where(t => !IsCounter(t.Name) && !parameters.ContainsKey(t.Name)))
        {
            string prefix = statePrefixes.FirstOrDefault(p => tensor.Name.StartsWith(p, StringComparison.Ordinal))
                ?? throw new SafetensorsFormatException(file.Source, $"tensor '{tensor.Name}' is no state a checkpoint holds.");
            string owner = tensor.Name[prefix.Length..];
            if (!parameters.TryGetValue(owner, out long count))
                Fault($"tensor '{tensor.Name}' is state of a parameter '{owner}' the file does not hold.");
            if (tensor.Shape.Length != 1 || tensor.ElementCount != count)
                Fault($"tensor '{tensor.Name}' has shape {SafeTensor.FormatShape(tensor.Shape)}; the state of '{owner}' is [{count}].");
        }
        foreach (string name in parameters.Keys)
        {
            foreach (string prefix in config.Optimizer.EmaDecay > 0 ? statePrefixes : statePrefixes[..2])
            {
                if (!file.Contains(prefix + name))
                    Fault($"parameter '{name}' has no optimiser state '{prefix}{name}'.");
            }
        }
    }

    private const string SecondMomentPrefix = "adam/v/";

    /// <summary>
    /// Every float of a checkpoint is finite, and every Adam second moment non-negative: training never applies a
    /// non-finite step nor squares to a negative, so anything else is damage.
    /// </summary>
    private static void CheckFinite(SafetensorsFile file)
    {
        foreach (var tensor in file.Tensors)
        {
            string? problem = null;
            long bad = -1;
            if (tensor.DType == TensorDType.F32)
            {
                float[] values = tensor.ToFloat32();
                bad = FiniteValues.FirstOutside(values);
                problem = bad >= 0 ? FiniteValues.DescribeValue(values[bad]) : null;
                // Adam's second moments are averages of squares: a negative one would make sqrt(v) NaN at the next step.
                if (bad < 0 && tensor.Name.StartsWith(SecondMomentPrefix, StringComparison.Ordinal))
                {
                    bad = Array.FindIndex(values, value => value < 0f);
                    problem = bad >= 0 ? $"is negative ({values[bad].ToString("G9", CultureInfo.InvariantCulture)}), and Adam's second moments are averages of squares" : null;
                }
            }
            else if (tensor.DType == TensorDType.F64)
            {
                bad = FiniteValues.FirstNonFinite(tensor.ToFloat64());
                problem = "is not finite";
            }
            if (bad >= 0)
            {
                throw new SafetensorsFormatException(file.Source,
                    $"tensor '{tensor.Name}' element {FiniteValues.FormatIndex(bad, tensor.Shape)} {problem}; a checkpoint holds only finite values.");
            }
        }
    }

    /// <summary>
    /// The step is every step run: the optimiser's applied updates plus the skipped ones; the EMA, when there is one,
    /// was updated once per applied update.
    /// </summary>
    /// <summary>The optimiser's parameter groups of a task's trainer; a checkpoint holds one step counter each.</summary>
    public static IReadOnlyList<string> ParameterGroups(TrainingTask task) =>
        task switch
        {
            TrainingTask.Representation => RepresentationTrainer.ParameterGroups,
            TrainingTask.Generation => GenerationTrainer.ParameterGroups,
            _ => JointTrainer.ParameterGroups,
        };

    /// <summary>
    /// Refuses, naming the file, a checkpoint whose task is none of <paramref name="expected"/> (`lzn eval` on a
    /// representation checkpoint, `lzn probe` on a joint one).
    /// </summary>
    public static void RequireTask(CheckpointInfo checkpoint, string command, params TrainingTask[] expected)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(expected);
        if (!expected.Contains(checkpoint.Config.Task))
        {
            throw new SafetensorsFormatException(checkpoint.Path,
                $"a {TrainingConfig.TaskName(checkpoint.Config.Task)}-task checkpoint; {command} takes {string.Join(" or ", expected.Select(task => TrainingConfig.TaskName(task) + "-task"))} checkpoints.");
        }
    }

    private static void CheckCounters(SafetensorsFile file, long step, IReadOnlyList<string> groups)
    {
        long Counter(string name)
        {
            var tensor = file.Expect(name, TensorDType.I64, 1);
            long value = tensor.ToInt64()[0];
            return value >= 0 ? value : throw new SafetensorsFormatException(file.Source, $"counter '{name}' is negative ({value}).");
        }
        long applied = Counter("adam/iteration"), skipped = Counter("training/skipped_steps");
        if (applied > step || skipped != step - applied)
        {
            throw new SafetensorsFormatException(file.Source,
                $"__metadata__ step {step} does not match the optimiser's counters ({applied} applied + {skipped} skipped steps).");
        }
        if (file.Contains("ema/updates") && Counter("ema/updates") != applied)
            throw new SafetensorsFormatException(file.Source, $"the EMA's {Counter("ema/updates")} updates do not match the optimiser's {applied} applied steps.");
        // One step counter per parameter group; a group's Adam step stops when the group freezes, so it never passes the iteration.
        foreach (var tensor in file.Tensors.Where(t => t.Name.StartsWith("adam/step/", StringComparison.Ordinal)))
        {
            if (!groups.Contains(tensor.Name["adam/step/".Length..]))
                throw new SafetensorsFormatException(file.Source, $"counter '{tensor.Name}' belongs to no parameter group ({string.Join(", ", groups)}).");
        }
        foreach (string group in groups)
        {
            long groupStep = Counter($"adam/step/{group}");
            if (groupStep > applied)
                throw new SafetensorsFormatException(file.Source, $"counter 'adam/step/{group}' ({groupStep}) is past the optimiser's {applied} applied steps.");
        }
    }

    /// <summary>
    /// Uploads every parameter after checking all of them (name, dtype, shape) first; with <paramref name="useEma"/>
    /// the EMA shadows (<c>ema/{name}</c>, stored flat) instead of the trained values.
    /// </summary>
    public static void LoadModel(CheckpointInfo checkpoint, JointModel model, bool useEma = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        LoadModel(checkpoint, model.Parameters, useEma);
    }

    /// <summary><see cref="LoadModel(CheckpointInfo, JointModel, bool)"/> for the parameters of any task's model.</summary>
    public static void LoadModel(CheckpointInfo checkpoint, IEnumerable<Nn.Parameter> parameters, bool useEma = false)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(parameters);
        var uploads = parameters
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
