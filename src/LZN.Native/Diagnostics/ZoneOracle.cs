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
        int n = problem.AnchorCount, d = problem.Dim;
        double c = 1 - time, t2 = time * time;
        var ds = new double[n];
        for (int i = 0; i < rows; i++)
        {
            // dL/dlogit_ij through m (m = sum_j p_ij a_j, dL/dm = -g/t) and through log p(i -> tgt).
            Array.Clear(ds);
            if (velocityGrad is not null)
            {
                for (int j = 0; j < n; j++)
                {
                    double dot = 0;
                    for (int k = 0; k < d; k++)
                        dot += velocityGrad[i * d + k] * (problem.Anchors[j * d + k] - forward.Mean[i * d + k]);
                    ds[j] = -forward.Probabilities[i * n + j] * dot / time;
                }
                for (int k = 0; k < d; k++)
                    pointsGrad[i * d + k] += velocityGrad[i * d + k] / time;
                if (anchorsGrad is not null)
                {
                    for (int j = 0; j < n; j++)
                    {
                        for (int k = 0; k < d; k++)
                            anchorsGrad[j * d + k] -= forward.Probabilities[i * n + j] * velocityGrad[i * d + k] / time;
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
