using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>
/// y [batchSize, outputSize] = x [batchSize, inputSize] W^T + b, with W [outputSize, inputSize] (PyTorch's
/// layout, so safetensors round-trip as is) and b [outputSize]. One GEMM forward, two backward.
/// </summary>
public sealed class Linear : Layer
{
    private readonly Workspace _output;
    private readonly Workspace _inputGrad;
    private FloatBuffer? _input;
    private int _batchSize;

    public Linear(IBackend backend, string name, int inputSize, int outputSize, ulong seed, WeightInit init = WeightInit.Kaiming)
        : base(backend, name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputSize);
        InputSize = inputSize;
        OutputSize = outputSize;
        Weight = new Parameter(backend, ChildName(name, "weight"), [outputSize, inputSize], Parameter.WeightGroup);
        Bias = new Parameter(backend, ChildName(name, "bias"), [outputSize], Parameter.NoDecayGroup);
        Initialization.Fill(Weight, init, inputSize, outputSize, seed);
        _output = new Workspace(backend);
        _inputGrad = new Workspace(backend);
    }

    public override int InputSize { get; }

    public override int OutputSize { get; }

    /// <summary>[outputSize, inputSize]</summary>
    public Parameter Weight { get; }

    /// <summary>[outputSize]</summary>
    public Parameter Bias { get; }

    public override IEnumerable<Parameter> Parameters => [Weight, Bias];

    public override FloatBuffer Forward(FloatBuffer input, int batchSize)
    {
        CheckInput(input, batchSize);
        _input = input;
        _batchSize = batchSize;
        var output = _output.Get((long)batchSize * OutputSize); // [batchSize, outputSize]
        Backend.Gemm(false, true, batchSize, OutputSize, InputSize, 1f, input, InputSize, Weight.Value, InputSize, 0f, output, OutputSize);
        Backend.AddRowVector(output, Bias.Value, batchSize, OutputSize, 1f);
        return output;
    }

    public override FloatBuffer Backward(FloatBuffer gradOutput)
    {
        CheckGradient(gradOutput, _batchSize, OutputSize, Name);
        // dW [out, in] += dy^T x; db += column sums of dy; dx = dy W.
        Backend.Gemm(true, false, OutputSize, InputSize, _batchSize, 1f, gradOutput, OutputSize, _input!, InputSize, 1f, Weight.Grad, InputSize);
        Backend.Nn.ChannelBiasBackward(gradOutput, _batchSize, OutputSize, 1, Bias.Grad);
        var inputGrad = _inputGrad.Get((long)_batchSize * InputSize); // [batchSize, inputSize]
        Backend.Gemm(false, false, _batchSize, InputSize, OutputSize, 1f, gradOutput, OutputSize, Weight.Value, InputSize, 0f, inputGrad, InputSize);
        return inputGrad;
    }

    protected override void Dispose(bool disposing)
    {
        Weight.Dispose();
        Bias.Dispose();
        _output.Dispose();
        _inputGrad.Dispose();
    }
}
