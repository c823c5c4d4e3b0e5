using LZN.Native.Backends;

namespace LZN.Native.Optim;

/// <summary>
/// What the optimiser needs of a learnable tensor: a unique name (checkpoint keys), its value and the
/// gradient of the loss with respect to it, both on the same backend and of the same length.
/// Model layers implement this directly, or wrap their tensors in <see cref="TrainableParameter"/>.
/// </summary>
public interface ITrainableParameter
{
    string Name { get; }

    /// <summary>The value, updated in place by the optimiser [any shape, flattened].</summary>
    FloatBuffer Value { get; }

    /// <summary>dL/dValue [same length as Value], read by the optimiser.</summary>
    FloatBuffer Grad { get; }
}

/// <summary>A plain <see cref="ITrainableParameter"/> over existing buffers (it owns neither).</summary>
public sealed record TrainableParameter(string Name, FloatBuffer Value, FloatBuffer Grad) : ITrainableParameter;
