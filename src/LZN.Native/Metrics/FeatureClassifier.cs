using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.IO;
using LZN.Native.Nn;

namespace LZN.Native.Metrics;

/// <summary>
/// The project's own feature network for Frechet distances and probes: a <see cref="CnnEncoder"/> trunk
/// (conv3x3 s1/s2/s2 with GroupNorm and SiLU, then Linear to <see cref="FeatureClassifierConfig.FeatureDim"/>), a SiLU,
/// and a Linear head to the classes. The features are the SiLU output, the penultimate layer. GroupNorm normalises each
/// image on its own, so features do not depend on the batch. Parameter names: "classifier.trunk.conv1.weight", ...,
/// "classifier.head.weight" / ".bias" (the safetensors tensor names).
/// </summary>
public sealed partial class FeatureClassifier : IDisposable
{
    /// <summary>Images per forward pass in <see cref="Features"/>, <see cref="Logits"/> and <see cref="Predict"/>.</summary>
    public const int EvaluationBatchSize = 256;

    /// <summary>The "lzn.format" metadata value of a saved classifier.</summary>
    public const string FormatTag = "lzn.feature-classifier/1";

    private readonly CnnEncoder _trunk;
    private readonly Activation _featureActivation;
    private readonly Linear _head;

    public FeatureClassifier(IBackend backend, FeatureClassifierConfig config, ulong seed, string id)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(id);
        Backend = backend;
        Config = config;
        Id = id;
        var shape = config.Shape;
        _trunk = new CnnEncoder(backend, "classifier.trunk",
            new CnnEncoderConfig(shape.Channels, shape.Height, shape.Width, config.FeatureDim) { Channels = config.Channels, Groups = config.Groups }, seed);
        _featureActivation = new Activation(backend, "classifier.features", ActivationKind.Silu, config.FeatureDim);
        _head = new Linear(backend, "classifier.head", config.FeatureDim, config.ClassCount, seed, WeightInit.Xavier);
    }

    public IBackend Backend { get; }

    public FeatureClassifierConfig Config { get; }

    /// <summary>Identifies the trained network (the cache key, e.g. "fashion-mnist-1a2b3c4d5e6f7a8b"); Frechet results quote it.</summary>
    public string Id { get; }

    public int FeatureDim => Config.FeatureDim;

    public IEnumerable<Parameter> Parameters => _trunk.Parameters.Concat(_head.Parameters);

    /// <summary>Total elements over all parameters.</summary>
    public long ParameterCount => Parameters.Sum(parameter => parameter.Length);

    public void ZeroGrad()
    {
        _trunk.ZeroGrad();
        _head.ZeroGrad();
    }

    /// <summary>images [batchSize, Shape.Size] -> logits [batchSize, ClassCount] (module-owned; keeps what Backward needs).</summary>
    public FloatBuffer Forward(FloatBuffer images, int batchSize) => _head.Forward(ForwardFeatures(images, batchSize), batchSize);

    /// <summary>gradLogits [batchSize, ClassCount]: accumulates every parameter gradient.</summary>
    public void Backward(FloatBuffer gradLogits) => _trunk.Backward(_featureActivation.Backward(_head.Backward(gradLogits)));

    /// <summary>Penultimate-layer features of host images [count, Shape.Size] -> [count, FeatureDim].</summary>
    public float[] Features(ReadOnlySpan<float> images, int count) => Evaluate(images, count, FeatureDim, (input, rows) => ForwardFeatures(input, rows));

    /// <summary>Logits of host images [count, Shape.Size] -> [count, ClassCount].</summary>
    public float[] Logits(ReadOnlySpan<float> images, int count) => Evaluate(images, count, Config.ClassCount, Forward);

    /// <summary>The arg-max class of each image [count].</summary>
    public int[] Predict(ReadOnlySpan<float> images, int count) => ClassificationMetrics.ArgMaxRows(Logits(images, count), count, Config.ClassCount);

    /// <summary>Top-1 accuracy on a dataset with this classifier's image shape.</summary>
    public double Accuracy(ImageDataset dataset)
    {
        CheckDataset(dataset);
        return ClassificationMetrics.Accuracy(Predict(dataset.Images, dataset.Count), dataset.Labels);
    }

    /// <summary>Writes the parameters (F32, named and shaped as <see cref="Parameters"/>) and the architecture as metadata, atomically.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? provenance = null)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in provenance ?? new Dictionary<string, string>())
            metadata[key] = value;
        metadata["lzn.format"] = FormatTag;
        metadata["id"] = Id;
        metadata["config"] = Config.Describe();
        var shape = Config.Shape;
        metadata["height"] = Invariant(shape.Height);
        metadata["width"] = Invariant(shape.Width);
        metadata["image_channels"] = Invariant(shape.Channels);
        metadata["classes"] = Invariant(Config.ClassCount);
        metadata["channels"] = string.Join(',', Config.Channels.Select(Invariant));
        metadata["groups"] = Invariant(Config.Groups);
        metadata["feature_dim"] = Invariant(Config.FeatureDim);
        var tensors = Parameters.Select(p => SafeTensor.FromFloat32(p.Name, p.Value.ToArray(), [.. p.Shape]));
        Safetensors.Write(path, tensors, metadata);
    }

    /// <summary>Reads what <see cref="Save"/> wrote: the architecture from the metadata, every parameter checked for dtype and shape.</summary>
    public static FeatureClassifier Load(IBackend backend, string path)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var file = Safetensors.Read(path);
        var metadata = file.Metadata;
        string Field(string key) => metadata.TryGetValue(key, out var value)
            ? value
            : throw new SafetensorsFormatException(path, $"is not a feature classifier: metadata '{key}' is missing.");
        if (Field("lzn.format") != FormatTag)
            throw new SafetensorsFormatException(path, $"has format '{Field("lzn.format")}'; expected '{FormatTag}'.");
        int Integer(string key) => int.TryParse(Field(key), NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
            ? value
            : throw new SafetensorsFormatException(path, $"metadata '{key}' = '{Field(key)}' is not a positive integer.");
        var channels = Field("channels").Split(',').Select(part => int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
            ? value
            : throw new SafetensorsFormatException(path, $"metadata 'channels' = '{Field("channels")}' is not a list of positive integers.")).ToArray();
        var config = new FeatureClassifierConfig(new ImageShape(Integer("height"), Integer("width"), Integer("image_channels")), Integer("classes"))
        {
            Channels = channels,
            Groups = Integer("groups"),
            FeatureDim = Integer("feature_dim"),
        };
        var classifier = new FeatureClassifier(backend, config, seed: 0, Field("id"));
        try
        {
            var parameters = classifier.Parameters.ToList();
            if (file.Tensors.Count != parameters.Count)
                throw new SafetensorsFormatException(path, $"holds {file.Tensors.Count} tensors; the classifier has {parameters.Count} parameters.");
            var values = parameters.Select(p => file.Expect(p.Name, TensorDType.F32, [.. p.Shape]).ToFloat32()).ToList();
            for (int i = 0; i < parameters.Count; i++)
                backend.Upload(values[i], parameters[i].Value);
            return classifier;
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }

    internal void CheckDataset(ImageDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (dataset.Shape != Config.Shape)
            throw new ArgumentException($"{dataset.Name}: images of {dataset.Shape}; the classifier {Id} takes {Config.Shape}.", nameof(dataset));
    }

    private FloatBuffer ForwardFeatures(FloatBuffer images, int batchSize) =>
        _featureActivation.Forward(_trunk.Forward(images, batchSize), batchSize);

    /// <summary>Runs <paramref name="forward"/> over batches of host images and gathers its [rows, width] outputs.</summary>
    private float[] Evaluate(ReadOnlySpan<float> images, int count, int width, Func<FloatBuffer, int, FloatBuffer> forward)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        int size = Config.Shape.Size;
        if (images.Length != (long)count * size)
            throw new ArgumentException($"{images.Length} values do not make {count} images of {Config.Shape}.", nameof(images));
        var result = new float[(long)count * width]; // [count, width]
        int batch = Math.Min(count, EvaluationBatchSize);
        using var input = Backend.AllocateFloat((long)batch * size); // [batch, size]
        for (int start = 0; start < count; start += batch)
        {
            int rows = Math.Min(batch, count - start);
            var slice = input.Slice(0, (long)rows * size);
            Backend.Upload(images.Slice(start * size, rows * size), slice);
            var output = forward(slice, rows); // [rows, width]
            Backend.Download(output, result.AsSpan(start * width, rows * width));
        }
        return result;
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    public void Dispose()
    {
        _trunk.Dispose();
        _featureActivation.Dispose();
        _head.Dispose();
    }
}
