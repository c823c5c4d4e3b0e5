using LZN.Native.Backends;
using LZN.Native.Optim;

namespace LZN.Native.Nn;

/// <summary>
/// A learnable tensor: its value and its gradient (same shape, accumulated by Backward), a hierarchical
/// name (e.g. "encoder.conv1.weight", the safetensors tensor name), a trainable flag and a group tag that
/// optimisers may key per-group settings on (e.g. "decay" for weights, "no_decay" for biases and norms).
/// </summary>
public sealed class Parameter : ITrainableParameter, IDisposable
{
    public Parameter(IBackend backend, string name, int[] shape, string group, bool trainable = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length == 0 || shape.Any(size => size <= 0))
            throw new ArgumentException($"Parameter {name} needs a non-empty shape of positive sizes.", nameof(shape));
        Backend = backend;
        Name = name;
        Shape = [.. shape];
        Length = shape.Aggregate(1L, (product, size) => product * size);
        Group = group;
        Trainable = trainable;
        Value = backend.AllocateFloat(Length);
        Grad = backend.AllocateFloat(Length);
    }

    public IBackend Backend { get; }

    public string Name { get; }

    public IReadOnlyList<int> Shape { get; }

    /// <summary>Elements: the product of <see cref="Shape"/>.</summary>
    public long Length { get; }

    /// <summary>Optimiser group tag: <see cref="WeightGroup"/> or <see cref="NoDecayGroup"/> for the built-in layers.</summary>
    public string Group { get; }

    /// <summary>False freezes the parameter: optimisers skip it (Backward still accumulates its gradient).</summary>
    public bool Trainable { get; set; }

    public FloatBuffer Value { get; }

    public FloatBuffer Grad { get; }

    /// <summary>Group of matrices and convolution kernels.</summary>
    public const string WeightGroup = "weight";

    /// <summary>Group of biases and normalisation scales/shifts (conventionally exempt from weight decay).</summary>
    public const string NoDecayGroup = "no_decay";

    public void ZeroGrad() => Backend.Fill(Grad, 0f);

    public void Dispose()
    {
        Value.Dispose();
        Grad.Dispose();
    }

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}
