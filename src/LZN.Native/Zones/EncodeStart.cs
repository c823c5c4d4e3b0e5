using LZN.Native.Backends;

namespace LZN.Native.Zones;

/// <summary>
/// The start of the forward flow, x_0 = (1 - eps) q + eps alpha z at t = eps, and the first step's
/// deviation x_0 - w m_0 computed from q and z instead of from the stored x_0. At t = eps the velocity
/// (x_0 - m_0)/eps divides by 1e-4 a difference of two numbers of size |a|: from the fp32 x_0 it
/// would carry a relative error of 6e-8 |a| / 1e-4 = 6e-4, while (1 - eps)(q - m_0) is exactly zero
/// on a one-hot row (m_0 = a_i) and the rest is small.
/// </summary>
internal sealed class EncodeStart : IDisposable
{
    private readonly FloatBuffer _queries; // [rows, dim]
    private readonly FloatBuffer? _noise; // [rows, dim]
    private readonly double _epsilon;
    private readonly float _noiseScale;

    public EncodeStart(FloatBuffer queries, FloatBuffer? noise, double epsilon, float noiseScale)
    {
        _queries = queries;
        _noise = noise;
        _epsilon = epsilon;
        _noiseScale = noiseScale;
        var backend = queries.Backend;
        Points = backend.AllocateFloat(queries.Length);
        backend.Copy(queries, Points);
        if (noise is null)
            backend.ScaleShift(Points, (float)(1 - epsilon), 0f);
        else
            backend.Axpby((float)(epsilon * noiseScale), noise, (float)(1 - epsilon), Points);
    }

    /// <summary>x_0 [rows, dim].</summary>
    public FloatBuffer Points { get; }

    /// <summary>result = x_0 - meanWeight m_0 = (1 - eps)(q - m_0) + eps alpha z + (1 - eps - meanWeight) m_0.</summary>
    public void Deviation(FloatBuffer mean, double meanWeight, FloatBuffer result)
    {
        var backend = _queries.Backend;
        backend.Copy(_queries, result);
        backend.Axpby(-1f, mean, 1f, result);
        backend.ScaleShift(result, (float)(1 - _epsilon), 0f);
        if (_noise is not null)
            backend.Axpby((float)(_epsilon * _noiseScale), _noise, 1f, result);
        double rest = 1 - _epsilon - meanWeight;
        if (rest != 0)
            backend.Axpby((float)rest, mean, 1f, result);
    }

    public void Dispose() => Points.Dispose();
}
