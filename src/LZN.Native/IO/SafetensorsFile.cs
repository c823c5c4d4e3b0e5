namespace LZN.Native.IO;

/// <summary>Raised for a safetensors file that is corrupt or not what the caller expects; names the file and the fault.</summary>
public sealed class SafetensorsFormatException(string path, string problem)
    : FormatException($"{path}: {problem}")
{
    public string FilePath { get; } = path;
}

/// <summary>The contents of a safetensors file: tensors in data order and the string metadata.</summary>
public sealed class SafetensorsFile
{
    private readonly Dictionary<string, SafeTensor> _byName;

    public SafetensorsFile(string source, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        Source = source;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The file (or other source) the tensors came from, for messages.</summary>
    public string Source { get; }

    public IReadOnlyList<SafeTensor> Tensors { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The SHA-256 (lowercase hex) of the data section: every tensor's bytes in file order (<see cref="Safetensors.DataSha256"/>).</summary>
    public string DataSha256() => Safetensors.Sha256(Tensors);

    public bool Contains(string name) => _byName.ContainsKey(name);

    public SafeTensor this[string name] => _byName.TryGetValue(name, out var tensor)
        ? tensor
        : throw new SafetensorsFormatException(Source, $"has no tensor '{name}'.");

    /// <summary>The tensor <paramref name="name"/>, checked to have <paramref name="dtype"/> and exactly <paramref name="shape"/>.</summary>
    public SafeTensor Expect(string name, TensorDType dtype, params int[] shape)
    {
        var tensor = this[name];
        if (tensor.DType != dtype || !tensor.Shape.AsSpan().SequenceEqual(shape))
        {
            throw new SafetensorsFormatException(Source,
                $"tensor '{name}' is {tensor.DType} {SafeTensor.FormatShape(tensor.Shape)}; expected {dtype} {SafeTensor.FormatShape(shape)}.");
        }
        return tensor;
    }
}
