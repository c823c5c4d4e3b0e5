using LZN.Native.Backends;

namespace LZN.Native.Zones;

/// <summary>
/// Multistep DPM-Solver++ (Lu et al. 2022, data prediction) for the latent flow dx/dt = (x - m)/t, and its adjoint.
/// The interpolant s_t = (1 - t) a + t e has alpha_t = 1 - t, sigma_t = t and the data prediction is the
/// softmax-weighted anchor mean m, so the flow is the probability-flow ODE
/// dx/dt = (sigma'/sigma) x + (alpha' - sigma' alpha/sigma) m, whose exact solution in
/// lambda = log(alpha/sigma) is x_t = (sigma_t/sigma_s) x_s + sigma_t * integral_{lambda_s}^{lambda_t} e^lambda m dlambda.
/// A Taylor expansion of m in lambda through the previous one or two evaluations gives orders 2 and 3.
/// The encode direction runs towards decreasing lambda; the formulas hold for either sign of h.
/// Every step is linear in x_i and the means m_i, m_{i-1}, m_{i-2}, so the backward needs only the stored points,
/// means and row log-sum-exps (as the Euler backward) and the mean's vector-Jacobian product from the zone kernels.
/// </summary>
internal sealed class DpmSolverPlusPlus : ILatentFlow
{
    private readonly double[] _times; // t_0 .. t_K

    private DpmSolverPlusPlus(ZoneAnchors anchors, int rows, int order, double[] times, bool keep)
    {
        Anchors = anchors;
        Rows = rows;
        Order = order;
        _times = times;
        if (keep)
            Trajectory = new FlowTrajectory(anchors, times.Length - 1, rows);
    }

    public ZoneAnchors Anchors { get; }

    public int Rows { get; }

    public int Order { get; }

    public int Steps => _times.Length - 1;

    /// <summary>The points where the means were evaluated, the means and their lse (kept trajectories only).</summary>
    public FlowTrajectory? Trajectory { get; }

    public bool HasTrajectory => Trajectory is not null;

    /// <summary>
    /// Integrates x_0 = <paramref name="start"/> [rows, dim] from <paramref name="startTime"/> to <paramref name="endTime"/>
    /// on a time-uniform grid of <paramref name="steps"/> steps into <paramref name="final"/> [rows, dim], keeping the
    /// trajectory for <see cref="Backward"/> when asked. The first steps use lower orders until enough history exists.
    /// </summary>
    public static DpmSolverPlusPlus Run(ZoneAnchors anchors, EncodeStart start, FloatBuffer final, int rows, int steps, int order,
        double startTime, double endTime, bool keepTrajectory)
    {
        if (order is < 1 or > 3)
            throw new ArgumentOutOfRangeException(nameof(order), order, "DPM-Solver++ order must be 1, 2 or 3.");
        var backend = anchors.Backend;
        long rowElements = (long)rows * anchors.Dim;
        double stepSize = (endTime - startTime) / steps;
        var times = new double[steps + 1];
        for (int i = 0; i <= steps; i++)
            times[i] = i == steps ? endTime : startTime + i * stepSize;
        var flow = new DpmSolverPlusPlus(anchors, rows, order, times, keepTrajectory);
        using var ownNorms = keepTrajectory ? null : backend.Zones.SquaredNorms(anchors.Anchors, anchors.Count, anchors.Dim); // [anchorCount]
        var norms = flow.Trajectory?.Norms ?? ownNorms!;
        using var scratch = backend.AllocateFloat(rowElements); // [rows, dim] the unused Euler output of Step, then the first deviation
        // Without a trajectory the means live in a ring of the last `order` evaluations, each [rows, dim].
        FloatBuffer[] ring = keepTrajectory ? [] : new FloatBuffer[Math.Min(order, steps)];
        for (int h = 0; h < ring.Length; h++)
            ring[h] = backend.AllocateFloat(rowElements);
        FloatBuffer MeanOf(int i) => flow.Trajectory?.Mean(i) ?? ring[i % ring.Length];
        try
        {
            backend.Copy(start.Points, flow.Trajectory?.Point(0) ?? final);
            for (int i = 0; i < steps; i++)
            {
                var here = flow.Trajectory?.Point(i) ?? final;
                var next = i < steps - 1 ? flow.Trajectory?.Point(i + 1) ?? final : final;
                double ts = times[i], tt = times[i + 1];
                backend.Zones.Step(new ZoneStepArgs
                {
                    Rows = rows,
                    AnchorCount = anchors.Count,
                    Dim = anchors.Dim,
                    Time = (float)ts,
                    StepSize = 0f,
                    Points = here,
                    Anchors = anchors.Anchors,
                    LogPriors = anchors.LogPriors,
                    AnchorNorms = norms,
                    NextPoints = scratch,
                    WeightedMean = MeanOf(i),
                    LogSumExp = flow.Trajectory?.RowLogSumExp(i),
                });

                if (i == 0)
                {
                    // The first step is order 1: x_1 = (sigma_t/sigma_s)(x_0 - alpha_s m_0) + alpha_t m_0, with the
                    // deviation x_0 - alpha_s m_0 taken from q and z (see EncodeStart).
                    start.Deviation(MeanOf(0), 1 - ts, scratch);
                    backend.Copy(MeanOf(0), next);
                    backend.Axpby((float)(tt / ts), scratch, (float)(1 - tt), next);
                    continue;
                }
                var (xWeight, meanWeights) = flow.Coefficients(i);
                if (keepTrajectory)
                    backend.Copy(here, next);
                backend.ScaleShift(next, (float)xWeight, 0f);
                for (int h = 0; h < meanWeights.Length; h++)
                    backend.Axpby((float)meanWeights[h], MeanOf(i - h), 1f, next);
            }
        }
        catch
        {
            flow.Dispose();
            throw;
        }
        finally
        {
            foreach (var mean in ring)
                mean.Dispose();
        }
        return flow;
    }

    /// <summary>
    /// The adjoint: <paramref name="adjoint"/> [rows, dim] holds dL/dx_K on entry and dL/dx_0 on return. Step i,
    /// x_{i+1} = w_x x_i + sum_h w_h m_{i-h}, sends w_x lambda_{i+1} to lambda_i and w_h lambda_{i+1} to the cotangent
    /// c_{i-h} of the mean m_{i-h}; once the steps i, i+1, i+2 that read m_i are done, c_i goes through m_i's
    /// vector-Jacobian product into lambda_i, the anchors and the log-priors. The zone kernels give that product as
    /// the velocity backward of g = -t c (v = (x - m)/t) less its direct path g/t = -c, which is added back.
    /// With <paramref name="selfAnchorOffset"/> the rows are anchor rows and the query path lands in the anchors as in
    /// the Euler backward (the adjoint in u = x - (1 - t) q, under which step i reads
    /// u_{i+1} = w_x u_i + sum_h w_h (m_{i-h} - q), as sum_h w_h = alpha_t - w_x alpha_s), plus (1 - t_K) lambda_K,
    /// since this flow ends at t_K = 1 - eps where x_K = u_K + (1 - t_K) q.
    /// </summary>
    public void Backward(FloatBuffer adjoint, FloatBuffer? anchorsGrad, FloatBuffer? logPriorsGrad, int? selfAnchorOffset)
    {
        if (!HasTrajectory)
            throw new InvalidOperationException("The forward pass did not keep its trajectory; set KeepTrajectory to take gradients.");
        var backend = Anchors.Backend;
        int dim = Anchors.Dim;
        long rowElements = (long)Rows * dim;
        if (selfAnchorOffset is int offset)
            backend.Axpby((float)(1 - _times[^1]), adjoint, 1f, anchorsGrad!.Slice((long)offset * dim, rowElements));
        using var velocityGrad = backend.AllocateFloat(rowElements); // [rows, dim]
        var cotangents = new FloatBuffer[Math.Min(Order, Steps)]; // c_i of the means still to be pulled back, ring by i, each [rows, dim]
        for (int h = 0; h < cotangents.Length; h++)
        {
            cotangents[h] = backend.AllocateFloat(rowElements);
            backend.Fill(cotangents[h], 0f);
        }
        try
        {
            for (int i = Steps - 1; i >= 0; i--)
            {
                var (xWeight, meanWeights) = Coefficients(i);
                for (int h = 0; h < meanWeights.Length; h++)
                    backend.Axpby((float)meanWeights[h], adjoint, 1f, cotangents[(i - h) % cotangents.Length]);
                backend.ScaleShift(adjoint, (float)xWeight, 0f);

                var cotangent = cotangents[i % cotangents.Length];
                backend.Axpby((float)-_times[i], cotangent, 0f, velocityGrad);
                Trajectory!.StepBackward(i, (float)_times[i], velocityGrad, adjoint, anchorsGrad, logPriorsGrad, selfAnchorOffset);
                backend.Axpby(1f, cotangent, 1f, adjoint);
                backend.Fill(cotangent, 0f);
            }
        }
        finally
        {
            foreach (var cotangent in cotangents)
                cotangent.Dispose();
        }
    }

    /// <summary>The weights of step i (order min(Order, i + 1)) on x_i and on m_i, m_{i-1}, m_{i-2}.</summary>
    private (double XWeight, double[] MeanWeights) Coefficients(int i)
    {
        int stepOrder = Math.Min(Order, i + 1);
        Span<double> lambdas = stackalloc double[3];
        for (int h = 0; h < stepOrder; h++)
            lambdas[h] = Lambda(_times[i - h]);
        var (xWeight, weights) = Coefficients(stepOrder, _times[i], _times[i + 1], lambdas);
        return (xWeight, weights[..stepOrder]);
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

    public void Dispose() => Trajectory?.Dispose();
}
