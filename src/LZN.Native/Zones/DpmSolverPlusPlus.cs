using LZN.Native.Backends;

namespace LZN.Native.Zones;

/// <summary>
/// Multistep DPM-Solver++ (Lu et al. 2022, data prediction) for the latent flow dx/dt = (x - m)/t.
/// The interpolant s_t = (1 - t) a + t e has alpha_t = 1 - t, sigma_t = t and the data prediction is the
/// softmax-weighted anchor mean m, so the flow is the probability-flow ODE
/// dx/dt = (sigma'/sigma) x + (alpha' - sigma' alpha/sigma) m, whose exact solution in
/// lambda = log(alpha/sigma) is x_t = (sigma_t/sigma_s) x_s + sigma_t * integral_{lambda_s}^{lambda_t} e^lambda m dlambda.
/// A Taylor expansion of m in lambda through the previous one or two evaluations gives orders 2 and 3.
/// The encode direction runs towards decreasing lambda; the formulas hold for either sign of h.
/// </summary>
internal static class DpmSolverPlusPlus
{
    /// <summary>
    /// Integrates x_0 = <paramref name="start"/> [rows, dim] from <paramref name="startTime"/> to <paramref name="endTime"/>
    /// on a time-uniform grid of <paramref name="steps"/> steps into <paramref name="final"/> [rows, dim].
    /// The first steps use lower orders until enough history exists.
    /// </summary>
    public static void Integrate(ZoneAnchors anchors, EncodeStart start, FloatBuffer final, int rows, int steps, int order,
        double startTime, double endTime)
    {
        if (order is < 1 or > 3)
            throw new ArgumentOutOfRangeException(nameof(order), order, "DPM-Solver++ order must be 1, 2 or 3.");
        var backend = anchors.Backend;
        long rowElements = (long)rows * anchors.Dim;
        using var scratch = backend.AllocateFloat(rowElements); // [rows, dim] the unused Euler output of Step
        var means = new FloatBuffer[Math.Min(order, steps)]; // history m_i, m_{i-1}, m_{i-2}, each [rows, dim]
        for (int h = 0; h < means.Length; h++)
            means[h] = backend.AllocateFloat(rowElements);
        var lambdas = new double[3]; // lambda at the evaluations held in means
        try
        {
            backend.Copy(start.Points, final);
            double stepSize = (endTime - startTime) / steps;
            for (int i = 0; i < steps; i++)
            {
                double ts = startTime + i * stepSize, tt = i == steps - 1 ? endTime : startTime + (i + 1) * stepSize;
                // Rotate the history: the newest mean goes to slot 0.
                var oldest = means[^1];
                Array.Copy(means, 0, means, 1, means.Length - 1);
                means[0] = oldest;
                Array.Copy(lambdas, 0, lambdas, 1, 2);
                lambdas[0] = Lambda(ts);

                backend.Zones.Step(new ZoneStepArgs
                {
                    Rows = rows,
                    AnchorCount = anchors.Count,
                    Dim = anchors.Dim,
                    Time = (float)ts,
                    StepSize = 0f,
                    Points = final,
                    Anchors = anchors.Anchors,
                    LogPriors = anchors.LogPriors,
                    NextPoints = scratch,
                    WeightedMean = means[0],
                });

                if (i == 0)
                {
                    // The first step is order 1: x_1 = (sigma_t/sigma_s)(x_0 - alpha_s m_0) + alpha_t m_0, with the
                    // deviation x_0 - alpha_s m_0 taken from q and z (see EncodeStart).
                    start.Deviation(means[0], 1 - ts, scratch);
                    backend.Copy(means[0], final);
                    backend.Axpby((float)(tt / ts), scratch, (float)(1 - tt), final);
                    continue;
                }
                int stepOrder = Math.Min(order, i + 1);
                var (xWeight, meanWeights) = Coefficients(stepOrder, ts, tt, lambdas);
                backend.ScaleShift(final, (float)xWeight, 0f);
                for (int h = 0; h < stepOrder; h++)
                    backend.Axpby((float)meanWeights[h], means[h], 1f, final);
            }
        }
        finally
        {
            foreach (var mean in means)
                mean.Dispose();
        }
    }

    /// <summary>lambda(t) = log(alpha_t / sigma_t) = log((1 - t)/t).</summary>
    internal static double Lambda(double t) => Math.Log((1 - t) / t);

    /// <summary>
    /// x_t = xWeight x_s + sum_h meanWeights[h] m_{i-h} for one step s -> t of the given order, expanding
    /// x_t = (sigma_t/sigma_s) x_s - alpha_t phi1 D0 + alpha_t phi2 D1 - alpha_t phi3 D2 with
    /// phi1 = expm1(-h), phi2 = phi1/h + 1, phi3 = phi2/h - 1/2 and the divided differences D1, D2 of m in lambda.
    /// </summary>
    internal static (double XWeight, double[] MeanWeights) Coefficients(int order, double ts, double tt, ReadOnlySpan<double> lambdas)
    {
        double alphaT = 1 - tt;
        double h = Lambda(tt) - lambdas[0];
        double phi1 = Math.Exp(-h) - 1;
        double phi2 = phi1 / h + 1;
        double phi3 = phi2 / h - 0.5;
        var w = new double[3];
        w[0] = -alphaT * phi1;
        if (order >= 2)
        {
            double r0 = (lambdas[0] - lambdas[1]) / h;
            // D1_0 = (m0 - m1)/r0
            double[] d10 = [1 / r0, -1 / r0, 0];
            double[] d1, d2;
            if (order == 2)
            {
                d1 = d10;
                d2 = [0, 0, 0];
            }
            else
            {
                double r1 = (lambdas[1] - lambdas[2]) / h;
                double[] d11 = [0, 1 / r1, -1 / r1];
                d1 = new double[3];
                d2 = new double[3];
                for (int k = 0; k < 3; k++)
                {
                    double difference = d10[k] - d11[k];
                    d1[k] = d10[k] + r0 / (r0 + r1) * difference;
                    d2[k] = difference / (r0 + r1);
                }
            }
            for (int k = 0; k < 3; k++)
                w[k] += alphaT * phi2 * d1[k] - alphaT * phi3 * d2[k];
        }
        return (tt / ts, w);
    }
}
