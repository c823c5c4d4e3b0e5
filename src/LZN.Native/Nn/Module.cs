using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>
/// Something with parameters. The layer convention (docs/nn.md): Forward(input) returns an output buffer the
/// module owns and stores what Backward needs (including a reference to the input, which the caller keeps
/// unchanged until Backward); Backward(gradOutput) accumulates (+=) into parameter gradients and returns
/// the gradient with respect to the input, again a module-owned buffer the caller may modify in place.
/// Returned buffers are valid until the module's next Forward / Backward.
/// </summary>
public abstract class Module(IBackend backend, string name) : IDisposable
{
    public IBackend Backend { get; } = backend;

    /// <summary>Hierarchical name, the prefix of every parameter name ("" for an unnamed root).</summary>
    public string Name { get; } = name;

    /// <summary>Every parameter of this module and its children, in a fixed order.</summary>
    public abstract IEnumerable<Parameter> Parameters { get; }

    /// <summary>Total elements over all parameters.</summary>
    public long ParameterCount => Parameters.Sum(parameter => parameter.Length);

    public void ZeroGrad()
    {
        foreach (var parameter in Parameters)
            parameter.ZeroGrad();
    }

    /// <summary>"parent.child", or just "child" under an unnamed parent.</summary>
    public static string ChildName(string parent, string child) => parent.Length == 0 ? child : $"{parent}.{child}";

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected abstract void Dispose(bool disposing);
}

/// <summary>A module with one input [batchSize, InputSize] and one output [batchSize, OutputSize] (per-sample sizes).</summary>
public abstract class Layer(IBackend backend, string name) : Module(backend, name)
{
    public abstract int InputSize { get; }

    public abstract int OutputSize { get; }

    /// <summary>input [batchSize, InputSize] -> output [batchSize, OutputSize] (module-owned).</summary>
    public abstract FloatBuffer Forward(FloatBuffer input, int batchSize);

    /// <summary>gradOutput [batchSize, OutputSize] -> gradInput [batchSize, InputSize]; parameter gradients += .</summary>
    public abstract FloatBuffer Backward(FloatBuffer gradOutput);

    protected void CheckInput(FloatBuffer input, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (input.Length != (long)batchSize * InputSize)
            throw new ArgumentException($"{GetType().Name} {Name}: input has {input.Length} elements; expected {batchSize} x {InputSize}.", nameof(input));
    }

    protected static void CheckGradient(FloatBuffer gradOutput, int batchSize, int outputSize, string layer)
    {
        if (batchSize == 0)
            throw new InvalidOperationException($"{layer}: Backward before Forward.");
        if (gradOutput.Length != (long)batchSize * outputSize)
            throw new ArgumentException($"{layer}: gradOutput has {gradOutput.Length} elements; expected {batchSize} x {outputSize}.", nameof(gradOutput));
    }
}
