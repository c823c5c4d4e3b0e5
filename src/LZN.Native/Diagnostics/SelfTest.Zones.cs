using LZN.Native.Backends;
using LZN.Native.Zones;

namespace LZN.Native.Diagnostics;

public static partial class SelfTest
{
    // Zone rows report the normwise error ||actual - expected|| / ||expected|| against the float64 oracle,
    // with the bounds the latent-zone issue sets: 5e-4 for forward results, 1e-3 for gradients.
    private const double ZoneForwardBound = 5e-4;
    private const double ZoneGradientBound = 1e-3;

    private const int ZoneRows = 96, ZoneAnchorCount = 160, ZoneDim = 45, ZoneSteps = 20;
    private const double ZoneEpsilon = 1e-4;

    private static IEnumerable<SelfTestRow> Zones(Context context)
    {
        var rows = new List<SelfTestRow>();
        rows.AddRange(ZoneStep(context));
        rows.AddRange(ZoneEncode(context));
        rows.AddRange(ZoneAssign(context));
        return rows;
    }

    /// <summary>One fused velocity step at t = 0.7 (soft probabilities) with priors, targets and probabilities, and its backward.</summary>
    private static IEnumerable<SelfTestRow> ZoneStep(Context context)
    {
        var backend = context.Backend;
        const int rows = ZoneRows, anchorCount = ZoneAnchorCount, dim = ZoneDim;
        const double time = 0.7;
        string size = $"{rows}x{anchorCount}x{dim}";
        double[] anchors = Widen(context.Uniform(anchorCount * dim, 0.5f));
        double[] priors = Widen(context.Uniform(anchorCount, 0.5f));
        double[] points = PointsNear(context, anchors, rows, anchorCount, dim, time);
        double[] velocityGrad = Widen(context.Uniform(rows * dim));
        double[] targetGrad = Widen(context.Uniform(rows));
        int[] targets = Enumerable.Range(0, rows).Select(_ => context.Next(anchorCount)).ToArray();
        var problem = new OracleProblem(anchors, anchorCount, dim, priors);
        var expected = ZoneOracle.Velocity(problem, points, rows, time);
        const float stepSize = 0.05f;

        using var dAnchors = backend.FromHost(Narrow(anchors));          // [anchorCount, dim]
        using var dPriors = backend.FromHost(Narrow(priors));            // [anchorCount]
        using var dPoints = backend.FromHost(Narrow(points));            // [rows, dim]
        using var dTargets = backend.FromHost(targets);                  // [rows]
        using var next = context.Poisoned(rows * dim);                   // [rows, dim]
        using var mean = context.Poisoned(rows * dim);                   // [rows, dim]
        using var lse = context.Poisoned(rows);                          // [rows]
        using var targetLogProb = context.Poisoned(rows);                // [rows]
        using var probabilities = context.Poisoned(rows * anchorCount);  // [rows, anchorCount]
        backend.Zones.Step(new ZoneStepArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = stepSize,
            Points = dPoints, Anchors = dAnchors, LogPriors = dPriors, NextPoints = next, WeightedMean = mean,
            LogSumExp = lse, Targets = dTargets, TargetLogProb = targetLogProb, Probabilities = probabilities,
        });
        var expectedNext = points.Select((x, e) => x + stepSize * expected.Velocity[e]).ToArray();
        var expectedTarget = targets.Select((target, i) => expected.LogProbabilities[i * anchorCount + target]).ToArray();
        // The kernels' logits drop the row constant -|x_i|^2 / (2 t^2) (it cancels in the softmax), so their
        // log-sum-exp is the oracle's plus that constant.
        var expectedLse = expected.LogSumExp.Select((value, i) =>
            value + points.AsSpan(i * dim, dim).ToArray().Sum(x => x * x) / (2 * time * time)).ToArray();
        yield return ZoneRow("zone step: next points", size, next, expectedNext, ZoneForwardBound);
        yield return ZoneRow("zone step: weighted mean", size, mean, expected.Mean, ZoneForwardBound);
        yield return ZoneRow("zone step: log-sum-exp", size, lse, expectedLse, ZoneForwardBound);
        yield return ZoneRow("zone step: target log-prob", size, targetLogProb, expectedTarget, ZoneForwardBound);
        yield return ZoneRow("zone step: probabilities", size, probabilities, expected.Probabilities, ZoneForwardBound);

        var pointsGradExpected = new double[rows * dim];
        var anchorsGradExpected = new double[anchorCount * dim];
        var priorsGradExpected = new double[anchorCount];
        ZoneOracle.VelocityBackward(problem, points, rows, time, expected, velocityGrad, targets, targetGrad,
            pointsGradExpected, anchorsGradExpected, priorsGradExpected);
        using var dVelocityGrad = backend.FromHost(Narrow(velocityGrad)); // [rows, dim]
        using var dTargetGrad = backend.FromHost(Narrow(targetGrad));     // [rows]
        using var pointsGrad = backend.AllocateFloat(rows * dim);         // [rows, dim], accumulated
        using var anchorsGrad = backend.AllocateFloat(anchorCount * dim); // [anchorCount, dim], accumulated
        using var priorsGrad = backend.AllocateFloat(anchorCount);        // [anchorCount], accumulated
        backend.Zones.StepBackward(new ZoneBackwardArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, Points = dPoints, Anchors = dAnchors,
            LogPriors = dPriors, WeightedMean = mean, LogSumExp = lse, VelocityGrad = dVelocityGrad, Targets = dTargets,
            TargetLogProbGrad = dTargetGrad, PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad, LogPriorsGrad = priorsGrad,
        });
        yield return ZoneRow("zone step backward: points", size, pointsGrad, pointsGradExpected, ZoneGradientBound);
        yield return ZoneRow("zone step backward: anchors", size, anchorsGrad, anchorsGradExpected, ZoneGradientBound);
        yield return ZoneRow("zone step backward: log-priors", size, priorsGrad, priorsGradExpected, ZoneGradientBound);
    }

    /// <summary>A 20-step Euler encode of every anchor (queries = anchors) and its backward into the anchors.</summary>
    private static IEnumerable<SelfTestRow> ZoneEncode(Context context)
    {
        var backend = context.Backend;
        const int count = ZoneAnchorCount, dim = ZoneDim, steps = ZoneSteps;
        const float noiseScale = 0.45f;
        string size = $"{count}x{count}x{dim}, K={steps}";
        double[] anchors = Widen(context.Uniform(count * dim, 2));
        double[] noise = Widen(context.Uniform(count * dim, 1.7f));
        double[] latentsGrad = Widen(context.Uniform(count * dim));
        var problem = new OracleProblem(anchors, count, dim);
        var trajectory = ZoneOracle.Encode(problem, anchors, count, noise, noiseScale, ZoneEpsilon, steps);
        var anchorsGradExpected = new double[count * dim];
        var startGrad = ZoneOracle.Backward(trajectory, latentsGrad, null, null, anchorsGradExpected, null);
        for (int e = 0; e < startGrad.Length; e++)
            anchorsGradExpected[e] += (1 - ZoneEpsilon) * startGrad[e];

        using var dAnchors = backend.FromHost(Narrow(anchors));           // [count, dim]
        using var dNoise = backend.FromHost(Narrow(noise));               // [count, dim]
        using var encoded = LatentEncoder.Encode(new ZoneAnchors(dAnchors, count, dim), dNoise,
            new EncodeOptions { Steps = steps, NoiseScale = noiseScale, KeepTrajectory = true });
        yield return ZoneRow("zone encode: latents", size, encoded.Latents, trajectory.Final, ZoneForwardBound);

        using var dLatentsGrad = backend.FromHost(Narrow(latentsGrad));   // [count, dim]
        using var anchorsGrad = backend.AllocateFloat(count * dim);       // [count, dim]
        LatentEncoder.Backward(encoded, dLatentsGrad, new EncodeGradients(Anchors: anchorsGrad));
        yield return ZoneRow("zone encode backward: anchors", size, anchorsGrad, anchorsGradExpected, ZoneGradientBound);
    }

    /// <summary>A 20-step assign with targets, both assignment losses, and the backward into latents and anchors.</summary>
    private static IEnumerable<SelfTestRow> ZoneAssign(Context context)
    {
        var backend = context.Backend;
        const int rows = ZoneRows, anchorCount = ZoneAnchorCount, dim = ZoneDim, steps = ZoneSteps;
        string size = $"{rows}x{anchorCount}x{dim}, K={steps}";
        double[] anchors = Widen(context.Uniform(anchorCount * dim, 2));
        double[] latents = PointsNear(context, anchors, rows, anchorCount, dim, time: 1.0);
        int[] targets = Enumerable.Range(0, rows).Select(_ => context.Next(anchorCount)).ToArray();
        var problem = new OracleProblem(anchors, anchorCount, dim);
        var trajectory = ZoneOracle.Assign(problem, latents, rows, steps);
        var targetLogProbs = ZoneOracle.TargetLogProbs(trajectory, targets);

        using var dAnchors = backend.FromHost(Narrow(anchors));           // [anchorCount, dim]
        using var dLatents = backend.FromHost(Narrow(latents));           // [rows, dim]
        using var dTargets = backend.FromHost(targets);                   // [rows]
        var zoneAnchors = new ZoneAnchors(dAnchors, anchorCount, dim);
        using var assigned = ZoneAssigner.Assign(zoneAnchors, dLatents, rows, dTargets,
            new AssignOptions { Steps = steps, KeepTrajectory = true });
        yield return ZoneRow("zone assign: final points", size, assigned.FinalPoints, trajectory.Final, ZoneForwardBound);
        yield return ZoneRow("zone assign: target log-probs", size, assigned.TargetLogProbs!, targetLogProbs, ZoneForwardBound);

        foreach (var kind in Enum.GetValues<AssignmentLossKind>())
        {
            double expectedLoss = ZoneOracle.Loss(targetLogProbs, steps, rows, kind, out var lossGrad);
            var latentsGradExpected = new double[rows * dim];
            var anchorsGradExpected = new double[anchorCount * dim];
            var startGrad = ZoneOracle.Backward(trajectory, null, targets, lossGrad, anchorsGradExpected, null);
            startGrad.CopyTo(latentsGradExpected, 0);

            using var dLossGrad = backend.AllocateFloat(steps * rows);    // [steps, rows]
            double loss = AssignmentLoss.Evaluate(assigned, kind, dLossGrad);
            using var latentsGrad = backend.AllocateFloat(rows * dim);    // [rows, dim]
            using var anchorsGrad = backend.AllocateFloat(anchorCount * dim); // [anchorCount, dim]
            ZoneAssigner.Backward(assigned, null, dLossGrad, new AssignGradients(Latents: latentsGrad, Anchors: anchorsGrad));
            string name = kind switch
            {
                AssignmentLossKind.Probability => "prob",
                AssignmentLossKind.CrossEntropy => "cross-entropy",
                _ => "cut-off cross-entropy",
            };
            yield return new SelfTestRow($"assignment loss ({name}): value", size,
                Math.Abs(loss - expectedLoss) / Math.Max(Math.Abs(expectedLoss), 1e-30), ZoneForwardBound);
            yield return ZoneRow($"assignment loss ({name}): latents grad", size, latentsGrad, latentsGradExpected, ZoneGradientBound);
            yield return ZoneRow($"assignment loss ({name}): anchors grad", size, anchorsGrad, anchorsGradExpected, ZoneGradientBound);
        }
    }

    /// <summary>(1 - t) a_{j(i)} + t z: points where the flow at time t actually is.</summary>
    private static double[] PointsNear(Context context, double[] anchors, int rows, int anchorCount, int dim, double time)
    {
        double[] noise = Widen(context.Uniform(rows * dim, 1.7f));
        var points = new double[rows * dim];
        for (int i = 0; i < rows; i++)
        {
            int j = context.Next(anchorCount);
            for (int k = 0; k < dim; k++)
                points[i * dim + k] = (1 - time) * anchors[j * dim + k] + time * noise[i * dim + k];
        }
        // The backends see float32 inputs; the oracle must see the same values.
        return Widen(Narrow(points));
    }

    private static double[] Widen(float[] values) => Array.ConvertAll(values, v => (double)v);

    private static float[] Narrow(double[] values) => Array.ConvertAll(values, v => (float)v);

    private static SelfTestRow ZoneRow(string op, string size, FloatBuffer actual, double[] expected, double bound) =>
        new(op, size, ReferenceOps.RelativeError(actual.ToArray(), expected), bound);
}
