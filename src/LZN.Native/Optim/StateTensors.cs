using LZN.Native.Backends;
using LZN.Native.IO;

namespace LZN.Native.Optim;

/// <summary>
/// Named-tensor plumbing for optimiser state: device buffers leave as 1-D F32 tensors, counters as one-element
/// I64 tensors; on import every expected name must be present with its exact dtype and length.
/// </summary>
internal sealed class StateTensors
{
    private readonly Dictionary<string, SafeTensor> _byName;

    public StateTensors(IEnumerable<SafeTensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        _byName = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var tensor in tensors)
        {
            if (!_byName.TryAdd(tensor.Name, tensor))
                throw new ArgumentException($"state tensor '{tensor.Name}' appears twice.", nameof(tensors));
        }
    }

    public static SafeTensor Export(string name, FloatBuffer buffer) => SafeTensor.FromFloat32(name, buffer.ToArray(), checked((int)buffer.Length));

    public static SafeTensor Export(string name, long counter) => SafeTensor.FromInt64(name, [counter], 1);

    /// <summary>
    /// Checks tensor <paramref name="name"/> against <paramref name="destination"/> now and returns the upload, so
    /// an import validates everything before it changes anything.
    /// </summary>
    public Action Upload(string name, FloatBuffer destination)
    {
        var tensor = Find(name, TensorDType.F32);
        if (tensor.ElementCount != destination.Length)
            throw new InvalidDataException($"state tensor '{name}' has {tensor.ElementCount} elements; this run needs {destination.Length}.");
        float[] values = tensor.ToFloat32();
        return () => destination.Backend.Upload(values, destination);
    }

    public long Counter(string name)
    {
        var tensor = Find(name, TensorDType.I64);
        if (tensor.ElementCount != 1)
            throw new InvalidDataException($"state tensor '{name}' should hold one counter, not {tensor.ElementCount} elements.");
        long value = tensor.ToInt64()[0];
        if (value < 0)
            throw new InvalidDataException($"state counter '{name}' is negative ({value}).");
        return value;
    }

    private SafeTensor Find(string name, TensorDType dtype)
    {
        if (!_byName.TryGetValue(name, out var tensor))
            throw new InvalidDataException($"optimiser state has no tensor '{name}'.");
        if (tensor.DType != dtype)
            throw new InvalidDataException($"state tensor '{name}' is {tensor.DType}; expected {dtype}.");
        return tensor;
    }
}
