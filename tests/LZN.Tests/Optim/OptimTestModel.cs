using LZN.Native.Backends;
using LZN.Native.Optim;

namespace LZN.Tests.Optim;

/// <summary>
/// A toy model of three tensors in two groups ("encoder": a [13] and b [40]; "decoder": c [9]) with host-side
/// gradients that depend on the step, so optimiser runs can be replayed on fresh objects and in float64.
/// </summary>
internal sealed class OptimTestModel : IDisposable
{
    public static readonly int[] Lengths = [13, 40, 9];
    public static readonly string[] Names = ["a", "b", "c"];

    private readonly IBackend _backend;

    public OptimTestModel(IBackend backend)
    {
        _backend = backend;
        Parameters = new TrainableParameter[Lengths.Length];
        for (int p = 0; p < Lengths.Length; p++)
        {
            var values = InitialValues(p);
            Parameters[p] = new TrainableParameter(Names[p], backend.FromHost(values), backend.AllocateFloat(values.Length));
        }
    }

    public TrainableParameter[] Parameters { get; }

    public static float[] InitialValues(int parameter)
    {
        var values = new float[Lengths[parameter]];
        for (int i = 0; i < values.Length; i++)
            values[i] = Philox.Normal(77, (ulong)(1000 * parameter + i));
        return values;
    }

    /// <summary>The gradient of parameter p at iteration k: N(0, 1) draws times a per-step scale.</summary>
    public static float[] Gradient(int parameter, int iteration, float scale = 1)
    {
        var values = new float[Lengths[parameter]];
        for (int i = 0; i < values.Length; i++)
            values[i] = scale * Philox.Normal(99, (ulong)(100_000 * iteration + 1000 * parameter + i));
        return values;
    }

    public void LoadGradients(int iteration, float scale = 1)
    {
        for (int p = 0; p < Parameters.Length; p++)
            _backend.Upload(Gradient(p, iteration, scale), Parameters[p].Grad);
    }

    public IReadOnlyList<ParameterGroup> Groups(ParameterGroupOptions encoder, ParameterGroupOptions decoder) =>
    [
        new ParameterGroup("encoder", [Parameters[0], Parameters[1]], encoder),
        new ParameterGroup("decoder", [Parameters[2]], decoder),
    ];

    public float[][] Values() => Parameters.Select(p => p.Value.ToArray()).ToArray();

    public void Dispose()
    {
        foreach (var parameter in Parameters)
        {
            parameter.Value.Dispose();
            parameter.Grad.Dispose();
        }
    }
}
