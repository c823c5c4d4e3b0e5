using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>y = f(x) elementwise over [batchSize, size] via <see cref="IBackend.Activation"/>; no parameters.</summary>
public sealed class Activation(IBackend backend, string name, ActivationKind kind, int size) : Layer(backend, name)
{
    private readonly Workspace _output = new(backend);
    private readonly Workspace _inputGrad = new(backend);
    private FloatBuffer? _input;
    private int _batchSize;

    public ActivationKind Kind { get; } = kind;

    public override int InputSize { get; } = size;

    public override int OutputSize => InputSize;

    public override IEnumerable<Parameter> Parameters => [];

    public override FloatBuffer Forward(FloatBuffer input, int batchSize)
    {
        CheckInput(input, batchSize);
        _input = input;
        _batchSize = batchSize;
        var output = _output.Get(input.Length); // [batchSize, size]
        Backend.Activation(Kind, input, output);
        return output;
    }

    public override FloatBuffer Backward(FloatBuffer gradOutput)
    {
        CheckGradient(gradOutput, _batchSize, OutputSize, Name);
        var inputGrad = _inputGrad.Get(gradOutput.Length); // [batchSize, size]
        Backend.ActivationBackward(Kind, _input!, gradOutput, inputGrad);
        return inputGrad;
    }

    protected override void Dispose(bool disposing)
    {
        _output.Dispose();
        _inputGrad.Dispose();
    }
}
