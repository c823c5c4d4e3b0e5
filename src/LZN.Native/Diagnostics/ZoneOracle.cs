using LZN.Native.Zones;

namespace LZN.Native.Diagnostics;

/// <summary>One velocity evaluation in float64: p [rows, N], log p [rows, N], m [rows, d], lse [rows], v [rows, d].</summary>
public sealed record OracleVelocity(double[] Probabilities, double[] LogProbabilities, double[] Mean, double[] LogSumExp, double[] Velocity);

/// <summary>
/// The float64 oracle of the latent-zone math, shared by the zone verification table (tests and `lzn selftest`), the other zone tests and `lzn bench zones` (docs/math.md sections 3, 7): naive loops, double
/// everywhere, logits in the direct form -|x - c a|^2/(2t^2) + b and the backward derived from that form
/// (not from the expanded attention form the kernels use), so the two are independent.
/// </summary>
public static class ZoneOracle
{
    public static OracleVelocity Velocity(OracleProblem problem, double[] points, int rows, double time)
    {
        int n = problem.AnchorCount, d = problem.Dim;
        double c = 1 - time, twoT2 = 2 * time * time;
        var logP = new double[rows * n];
        var p = new double[rows * n];
        var mean = new double[rows * d];
        var lse = new double[rows];
        var v = new double[rows * d];
        for (int i = 0; i < rows; i++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < n; j++)
            {
                double squared = 0;
                for (int k = 0; k < d; k++)
                {
                    double diff = points[i * d + k] - c * problem.Anchors[j * d + k];
                    squared += diff * diff;
                }
                double logit = -squared / twoT2 + (problem.LogPriors?[j] ?? 0);
                logP[i * n + j] = logit;
                max = Math.Max(max, logit);
            }
            double sum = 0;
            for (int j = 0; j < n; j++)
                sum += Math.Exp(logP[i * n + j] - max);
            lse[i] = max + Math.Log(sum);
            for (int j = 0; j < n; j++)
            {
                logP[i * n + j] -= lse[i];
                p[i * n + j] = Math.Exp(logP[i * n + j]);
                for (int k = 0; k < d; k++)
                    mean[i * d + k] += p[i * n + j] * problem.Anchors[j * d + k];
            }
            for (int k = 0; k < d; k++)
                v[i * d + k] = (points[i * d + k] - mean[i * d + k]) / time;
        }
        return new OracleVelocity(p, logP, mean, lse, v);
    }

    /// <summary>
    /// Backward of one velocity evaluation: g = dL/dv [rows, d] (or null), beta = dL/dlog p(i -> tgt_i) [rows]
    /// (or null); accumulates into pointsGrad, anchorsGrad and logPriorsGrad.
    /// </summary>
    public static void VelocityBackward(OracleProblem problem, double[] points, int rows, double time, OracleVelocity forward,
        double[]? velocityGrad, int[]? targets, double[]? targetGrad, double[] pointsGrad, double[]? anchorsGrad, double[]? logPriorsGrad)
    {
        // v = (x - m)/t: the direct path g/t, and dL/dm = -g/t.
        double[]? meanGrad = velocityGrad is null ? null : Array.ConvertAll(velocityGrad, g => -g / time);
        if (velocityGrad is not null)
        {
            for (int e = 0; e < pointsGrad.Length; e++)
                pointsGrad[e] += velocityGrad[e] / time;
        }
        MeanBackward(problem, points, rows, time, forward, meanGrad, targets, targetGrad, pointsGrad, anchorsGrad, logPriorsGrad);
    }

    /// <summary>
    /// Backward of one evaluation's mean m and target log-probabilities: c = dL/dm [rows, d] (or null), beta =
    /// dL/dlog p(i -> tgt_i) [rows] (or null); accumulates into pointsGrad, anchorsGrad and logPriorsGrad.
    /// </summary>
    public static void MeanBackward(OracleProblem problem, double[] points, int rows, double time, OracleVelocity forward,
        double[]? meanGrad, int[]? targets, double[]? targetGrad, double[] pointsGrad, double[]? anchorsGrad, double[]? logPriorsGrad)
    {
        int n = problem.AnchorCount, d = problem.Dim;
        double c = 1 - time, t2 = time * time;
        var ds = new double[n];
        for (int i = 0; i < rows; i++)
        {
            // dL/dlogit_ij through m = sum_j p_ij a_j and through log p(i -> tgt).
            Array.Clear(ds);
            if (meanGrad is not null)
            {
                for (int j = 0; j < n; j++)
                {
                    double dot = 0;
                    for (int k = 0; k < d; k++)
                        dot += meanGrad[i * d + k] * (problem.Anchors[j * d + k] - forward.Mean[i * d + k]);
                    ds[j] = forward.Probabilities[i * n + j] * dot;
                }
                if (anchorsGrad is not null)
                {
                    for (int j = 0; j < n; j++)
                    {
                        for (int k = 0; k < d; k++)
                            anchorsGrad[j * d + k] += forward.Probabilities[i * n + j] * meanGrad[i * d + k];
                    }
                }
            }
            if (targetGrad is not null)
            {
                for (int j = 0; j < n; j++)
                    ds[j] += targetGrad[i] * ((j == targets![i] ? 1 : 0) - forward.Probabilities[i * n + j]);
            }
            // logit_ij = -|x_i - c a_j|^2/(2t^2) + b_j.
            for (int j = 0; j < n; j++)
            {
                for (int k = 0; k < d; k++)
                {
                    double residual = (points[i * d + k] - c * problem.Anchors[j * d + k]) / t2;
                    pointsGrad[i * d + k] -= ds[j] * residual;
                    if (anchorsGrad is not null)
                        anchorsGrad[j * d + k] += ds[j] * c * residual;
                }
                if (logPriorsGrad is not null)
                    logPriorsGrad[j] += ds[j];
            }
        }
    }

    /// <summary>K Euler steps x_{k+1} = x_k + s v(x_k, t_k) from t_0 with signed step s.</summary>
    public static OracleTrajectory Euler(OracleProblem problem, double[] start, int rows, double startTime, double signedStep, int steps)
    {
        var points = new double[steps + 1][];
        var evaluations = new OracleVelocity[steps];
        points[0] = (double[])start.Clone();
        for (int k = 0; k < steps; k++)
        {
            double time = startTime + k * signedStep;
            evaluations[k] = Velocity(problem, points[k], rows, time);
            points[k + 1] = new double[points[k].Length];
            for (int e = 0; e < points[k].Length; e++)
                points[k + 1][e] = points[k][e] + signedStep * evaluations[k].Velocity[e];
        }
        return new OracleTrajectory(problem, rows, startTime, signedStep, points, evaluations);
    }

    /// <summary>x_0 = eps alpha z + (1 - eps) q.</summary>
    public static double[] EncodeStart(double[] queries, double[]? noise, double noiseScale, double epsilon)
    {
        var start = new double[queries.Length];
        for (int e = 0; e < start.Length; e++)
            start[e] = (1 - epsilon) * queries[e] + epsilon * noiseScale * (noise?[e] ?? 0);
        return start;
    }

    public static OracleTrajectory Encode(OracleProblem problem, double[] queries, int rows, double[]? noise, double noiseScale, double epsilon, int steps) =>
        Euler(problem, EncodeStart(queries, noise, noiseScale, epsilon), rows, epsilon, (1 - epsilon) / steps, steps);

    /// <summary>
    /// Multistep DPM-Solver++ of the given order from t_0 = startTime to t_K = endTime on a time-uniform grid, written as
    /// in Lu et al. (2022): with lambda = log((1 - t)/t), h = lambda_t - lambda_s, phi1 = e^-h - 1, phi2 = phi1/h + 1,
    /// phi3 = phi2/h - 1/2, x_t = (t/s) x_s - alpha_t phi1 m_i (order 1), + alpha_t phi2 D1_0 (order 2), or
    /// + alpha_t phi2 D1 - alpha_t phi3 D2 (order 3) from the divided differences D1_0 = (m_i - m_{i-1})/r0,
    /// D1_1 = (m_{i-1} - m_{i-2})/r1, D1 = D1_0 + r0/(r0 + r1) (D1_0 - D1_1), D2 = (D1_0 - D1_1)/(r0 + r1); step i uses
    /// order min(order, i + 1).
    /// </summary>
    public static OracleTrajectory DpmSolver(OracleProblem problem, double[] start, int rows, double startTime, double endTime, int steps, int order)
    {
        double stepSize = (endTime - startTime) / steps;
        var points = new double[steps + 1][];
        var evaluations = new OracleVelocity[steps];
        points[0] = (double[])start.Clone();
        for (int i = 0; i < steps; i++)
        {
            evaluations[i] = Velocity(problem, points[i], rows, startTime + i * stepSize);
            var step = DpmStep(startTime, stepSize, i, order);
            var next = new double[start.Length];
            for (int e = 0; e < next.Length; e++)
            {
                double m0 = evaluations[i].Mean[e];
                next[e] = step.XWeight * points[i][e] - step.AlphaT * step.Phi1 * m0;
                if (step.Order == 2)
                {
                    next[e] += step.AlphaT * step.Phi2 * (m0 - evaluations[i - 1].Mean[e]) / step.R0;
                }
                else if (step.Order == 3)
                {
                    double d10 = (m0 - evaluations[i - 1].Mean[e]) / step.R0, d11 = (evaluations[i - 1].Mean[e] - evaluations[i - 2].Mean[e]) / step.R1;
                    double d1 = d10 + step.R0 / (step.R0 + step.R1) * (d10 - d11), d2 = (d10 - d11) / (step.R0 + step.R1);
                    next[e] += step.AlphaT * step.Phi2 * d1 - step.AlphaT * step.Phi3 * d2;
                }
            }
            points[i + 1] = next;
        }
        return new OracleTrajectory(problem, rows, startTime, stepSize, points, evaluations);
    }

    /// <summary>The DPM-Solver++ encode: x_0 = eps alpha z + (1 - eps) q at t = eps, then K steps to t = 1 - eps.</summary>
    public static OracleTrajectory EncodeDpm(OracleProblem problem, double[] queries, int rows, double[]? noise, double noiseScale, double epsilon, int steps, int order) =>
        DpmSolver(problem, EncodeStart(queries, noise, noiseScale, epsilon), rows, epsilon, 1 - epsilon, steps, order);

    /// <summary>
    /// Adjoint of <see cref="DpmSolver"/> by the chain rule through the update as written there: from dL/dx_K returns
    /// dL/dx_0 and accumulates anchor and prior gradients. dL/dm_i collects from the steps i, i + 1, i + 2 that read m_i
    /// (through D1_0, D1_1, D1 and D2) before m_i's backward adds its path into dL/dx_i.
    /// </summary>
    public static double[] DpmBackward(OracleTrajectory trajectory, int order, double[] finalGrad, double[] anchorsGrad, double[]? logPriorsGrad)
    {
        int steps = trajectory.Evaluations.Length, length = finalGrad.Length;
        var meanGrads = new double[steps][];
        for (int i = 0; i < steps; i++)
            meanGrads[i] = new double[length];
        var adjoint = (double[])finalGrad.Clone();
        for (int i = steps - 1; i >= 0; i--)
        {
            var step = DpmStep(trajectory.StartTime, trajectory.SignedStep, i, order);
            var previous = adjoint;
            adjoint = new double[length];
            for (int e = 0; e < length; e++)
            {
                double lambda = previous[e];
                adjoint[e] = step.XWeight * lambda;
                meanGrads[i][e] -= step.AlphaT * step.Phi1 * lambda;
                double d10Grad = 0, d11Grad = 0;
                if (step.Order == 2)
                {
                    d10Grad = step.AlphaT * step.Phi2 * lambda;
                }
                else if (step.Order == 3)
                {
                    double d1Grad = step.AlphaT * step.Phi2 * lambda, d2Grad = -step.AlphaT * step.Phi3 * lambda;
                    double share = step.R0 / (step.R0 + step.R1);
                    d10Grad = d1Grad * (1 + share) + d2Grad / (step.R0 + step.R1);
                    d11Grad = -d1Grad * share - d2Grad / (step.R0 + step.R1);
                }
                if (step.Order >= 2)
                {
                    meanGrads[i][e] += d10Grad / step.R0;
                    meanGrads[i - 1][e] -= d10Grad / step.R0;
                }
                if (step.Order == 3)
                {
                    meanGrads[i - 1][e] += d11Grad / step.R1;
                    meanGrads[i - 2][e] -= d11Grad / step.R1;
                }
            }
            MeanBackward(trajectory.Problem, trajectory.Points[i], trajectory.Rows, trajectory.StartTime + i * trajectory.SignedStep,
                trajectory.Evaluations[i], meanGrads[i], null, null, adjoint, anchorsGrad, logPriorsGrad);
        }
        return adjoint;
    }

    /// <summary>The scalars of DPM-Solver++ step i (times t_0 + i h): its order, t/s, alpha_t, phi1-3, r0 and r1.</summary>
    private static (int Order, double XWeight, double AlphaT, double Phi1, double Phi2, double Phi3, double R0, double R1) DpmStep(
        double startTime, double stepSize, int i, int order)
    {
        static double Lambda(double t) => Math.Log((1 - t) / t);
        double Time(int k) => startTime + k * stepSize;
        double s = Time(i), t = Time(i + 1), h = Lambda(t) - Lambda(s);
        double phi1 = Math.Exp(-h) - 1, phi2 = phi1 / h + 1, phi3 = phi2 / h - 0.5;
        int stepOrder = Math.Min(order, i + 1);
        double r0 = stepOrder >= 2 ? (Lambda(s) - Lambda(Time(i - 1))) / h : double.NaN;
        double r1 = stepOrder == 3 ? (Lambda(Time(i - 1)) - Lambda(Time(i - 2))) / h : double.NaN;
        return (stepOrder, t / s, 1 - t, phi1, phi2, phi3, r0, r1);
    }

    public static OracleTrajectory Assign(OracleProblem problem, double[] latents, int rows, int steps) =>
        Euler(problem, latents, rows, 1.0, -1.0 / steps, steps);

    /// <summary>log P_k(i -> tgt_i) [steps, rows].</summary>
    public static double[] TargetLogProbs(OracleTrajectory trajectory, int[] targets)
    {
        int steps = trajectory.Evaluations.Length, rows = trajectory.Rows, n = trajectory.Problem.AnchorCount;
        var result = new double[steps * rows];
        for (int k = 0; k < steps; k++)
        {
            for (int i = 0; i < rows; i++)
                result[k * rows + i] = trajectory.Evaluations[k].LogProbabilities[i * n + targets[i]];
        }
        return result;
    }

    /// <summary>
    /// Adjoint of <see cref="Euler"/>: from dL/dx_K (or none) and dL/dlog P_k [steps, rows] (or none),
    /// returns dL/dx_0 and accumulates anchor and prior gradients.
    /// </summary>
    public static double[] Backward(OracleTrajectory trajectory, double[]? finalGrad, int[]? targets, double[]? targetLogProbGrad,
        double[] anchorsGrad, double[]? logPriorsGrad)
    {
        int steps = trajectory.Evaluations.Length, rows = trajectory.Rows;
        var adjoint = finalGrad is null ? new double[trajectory.Points[0].Length] : (double[])finalGrad.Clone();
        for (int k = steps - 1; k >= 0; k--)
        {
            var g = new double[adjoint.Length];
            for (int e = 0; e < g.Length; e++)
                g[e] = trajectory.SignedStep * adjoint[e];
            double[]? beta = targetLogProbGrad?.AsSpan(k * rows, rows).ToArray();
            VelocityBackward(trajectory.Problem, trajectory.Points[k], rows, trajectory.StartTime + k * trajectory.SignedStep,
                trajectory.Evaluations[k], g, targets, beta, adjoint, anchorsGrad, logPriorsGrad);
        }
        return adjoint;
    }

    /// <summary>Section 6 losses in float64; gradient [steps, rows] non-zero at each row's argmax step (the cut-off step for the cut-off cross-entropy).</summary>
    public static double Loss(double[] targetLogProbs, int steps, int rows, AssignmentLossKind kind, out double[] gradient)
    {
        gradient = new double[steps * rows];
        int cutoff = (int)Math.Floor(0.2 * steps + 1e-9);
        bool crossEntropy = kind != AssignmentLossKind.Probability;
        double total = 0;
        for (int i = 0; i < rows; i++)
        {
            if (kind == AssignmentLossKind.CutoffCrossEntropy)
            {
                total -= targetLogProbs[cutoff * rows + i];
                gradient[cutoff * rows + i] = -1.0 / rows;
                continue;
            }
            int best = cutoff;
            for (int k = cutoff; k < steps; k++)
            {
                if (targetLogProbs[k * rows + i] > targetLogProbs[best * rows + i])
                    best = k;
            }
            double logProb = targetLogProbs[best * rows + i];
            total -= crossEntropy ? logProb : Math.Exp(logProb);
            gradient[best * rows + i] = crossEntropy ? -1.0 / rows : -Math.Exp(logProb) / rows;
        }
        return total / rows;
    }
}

/// <summary>Anchors [N, d] and optional log-priors [N] in float64.</summary>
public sealed record OracleProblem(double[] Anchors, int AnchorCount, int Dim, double[]? LogPriors = null);

/// <summary>x_0..x_K and the K velocity evaluations of an oracle Euler flow.</summary>
public sealed record OracleTrajectory(OracleProblem Problem, int Rows, double StartTime, double SignedStep, double[][] Points, OracleVelocity[] Evaluations)
{
    public double[] Final => Points[^1];
}
