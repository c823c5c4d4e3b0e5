using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>Nearest-neighbour 2x upsampling of [batchSize, channels, height, width] -> [batchSize, channels, 2 height, 2 width].</summary>
public sealed class Upsample2x(IBackend backend, string name, int channels, int height, int width) : Layer(backend, name)
{
    private readonly Workspace _output = new(backend);
    private readonly Workspace _inputGrad = new(backend);
    private int _batchSize;

    public int Channels { get; } = channels;

    public int Height { get; } = height;

    public int Width { get; } = width;

    public override int InputSize => Channels * Height * Width;

    public override int OutputSize => 4 * InputSize;

    public override IEnumerable<Parameter> Parameters => [];

    public override FloatBuffer Forward(FloatBuffer input, int batchSize)
    {
        CheckInput(input, batchSize);
        _batchSize = batchSize;
        var output = _output.Get((long)batchSize * OutputSize); // [batchSize, channels, 2 height, 2 width]
        Backend.Nn.Upsample2x(input, batchSize * Channels, Height, Width, output);
        return output;
    }

    public override FloatBuffer Backward(FloatBuffer gradOutput)
    {
        CheckGradient(gradOutput, _batchSize, OutputSize, Name);
        var inputGrad = _inputGrad.Get((long)_batchSize * InputSize); // [batchSize, channels, height, width]
        Backend.Nn.Upsample2xBackward(gradOutput, _batchSize * Channels, Height, Width, inputGrad);
        return inputGrad;
    }

    protected override void Dispose(bool disposing)
    {
        _output.Dispose();
        _inputGrad.Dispose();
    }
}
