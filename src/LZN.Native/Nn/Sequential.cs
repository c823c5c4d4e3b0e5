using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>Layers applied in order; Backward runs them in reverse. Each layer's output size must equal the next one's input size.</summary>
public sealed class Sequential : Layer
{
    private readonly Layer[] _layers;

    public Sequential(IBackend backend, string name, params Layer[] layers)
        : base(backend, name)
    {
        if (layers.Length == 0)
            throw new ArgumentException("A Sequential needs at least one layer.", nameof(layers));
        for (int i = 1; i < layers.Length; i++)
        {
            if (layers[i].InputSize != layers[i - 1].OutputSize)
                throw new ArgumentException($"{layers[i - 1].Name} outputs {layers[i - 1].OutputSize} per sample but {layers[i].Name} takes {layers[i].InputSize}.", nameof(layers));
        }
        _layers = layers;
    }

    public IReadOnlyList<Layer> Layers => _layers;

    public override int InputSize => _layers[0].InputSize;

    public override int OutputSize => _layers[^1].OutputSize;

    public override IEnumerable<Parameter> Parameters => _layers.SelectMany(layer => layer.Parameters);

    public override FloatBuffer Forward(FloatBuffer input, int batchSize)
    {
        var activation = input;
        foreach (var layer in _layers)
            activation = layer.Forward(activation, batchSize);
        return activation;
    }

    public override FloatBuffer Backward(FloatBuffer gradOutput)
    {
        var gradient = gradOutput;
        for (int i = _layers.Length - 1; i >= 0; i--)
            gradient = _layers[i].Backward(gradient);
        return gradient;
    }

    protected override void Dispose(bool disposing)
    {
        foreach (var layer in _layers)
            layer.Dispose();
    }
}
