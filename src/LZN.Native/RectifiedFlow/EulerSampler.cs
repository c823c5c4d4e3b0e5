using LZN.Native.Backends;

namespace LZN.Native.RectifiedFlow;

/// <summary>
/// Fixed-step explicit Euler for dx/dt = v(x, t): x_{k+1} = x_k + h v(x_k, t_k), t_k = from + k h,
/// h = (to - from) / steps (negative for the inverse direction). First order: halving h halves the error.
/// </summary>
public static class EulerSampler
{
    /// <summary>Integrates <paramref name="x"/> [rows, rowLength] in place from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static void Integrate(IBackend backend, VelocityField velocity, FloatBuffer x, double from, double to, int steps)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(velocity);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        double step = (to - from) / steps;
        using var v = backend.AllocateFloat(x.Length); // [rows, rowLength]
        for (int k = 0; k < steps; k++)
        {
            velocity(x, (float)(from + k * step), v);
            backend.Axpby((float)step, v, 1f, x);
        }
    }

    /// <summary>Noise -> data: from t = minTime to 1 (the reference evaluates with 10 steps).</summary>
    public static void Sample(IBackend backend, VelocityField velocity, FloatBuffer x, int steps, double minTime = RectifiedFlowObjective.DefaultMinTime) =>
        Integrate(backend, velocity, x, minTime, 1.0, steps);

    /// <summary>Data -> noise: the same ODE from t = 1 back to minTime.</summary>
    public static void Invert(IBackend backend, VelocityField velocity, FloatBuffer x, int steps, double minTime = RectifiedFlowObjective.DefaultMinTime) =>
        Integrate(backend, velocity, x, 1.0, minTime, steps);
}
