using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.Diagnostics;
using LZN.Native.Zones;

namespace LZN.Native.Verification;

/// <summary>
/// The latent-zone step and its backward against the float64 oracle (<see cref="ZoneOracle"/>, written in the direct
/// form -|x - c a|^2 / (2t^2) + b, independent of the kernels' expanded form), then the flows built on them: an encode
/// with its gradients and an assign with each assignment loss. Shapes reach N = 1, N below one 64-row tile, B > N,
/// several row and anchor tiles (so anchor splits), dims below, at and between the 64/128/256 chunk widths, two dim
/// groups, t = 1e-4 and t = 1. Gradients start from non-zero values: the kernels accumulate.
/// </summary>
public static class ZoneTable
{
    private const string Family = "zones";

    private const float StepSize = 0.05f;

    private const double FlowEpsilon = 1e-4;

    private const int FlowSteps = 20;

    /// <summary>rows B, anchors N, dim d, time t, log-priors.</summary>
    private static readonly (int Rows, int AnchorCount, int Dim, double Time, bool Priors)[] Shapes =
    [
        (5, 7, 37, 0.3, false),
        (9, 1, 37, 0.5, true),
        (70, 13, 16, 0.2, true),
        (24, 20, 37, 1e-4, false),
        (12, 10, 8, 1.0, true),
        (33, 40, 64, 0.05, true),
        (17, 9, 5, 0.7, false),
        (3, 10, 129, 1.0, true),
        (96, 160, 45, 0.7, true),
        (130, 50, 200, 0.7, true),
        (65, 140, 256, 0.4, true),
        (20, 70, 300, 0.6, false),
        (200, 300, 72, 0.2, false),
    ];

    public static IReadOnlyList<VerificationCase> Cases { get; } = [.. Build()];

    private static IEnumerable<VerificationCase> Build()
    {
        foreach (var (rows, anchorCount, dim, time, priors) in Shapes)
        {
            yield return Step(rows, anchorCount, dim, time, priors);
            yield return StepBackward(rows, anchorCount, dim, time, priors, velocityGrad: true, targetLoss: true, parameterGrads: true);
        }
        yield return StepBackward(70, 13, 37, 0.3, priors: true, velocityGrad: true, targetLoss: false, parameterGrads: false);
        yield return StepBackward(6, 5, 7, 0.4, priors: true, velocityGrad: false, targetLoss: true, parameterGrads: true);
        yield return SelfAnchors(1e-4);
        yield return SelfAnchors(0.45);
        yield return AbsentClass();
        yield return SureTargets(70, 80, 20, 0.05);
        yield return SureTargets(70, 150, 200, 1e-4);
        yield return OneHotFirstEncodeStep();
        yield return GivenNorms(65, 140, 256, 0.4);
        yield return Encode(80, 45);
        for (int order = 1; order <= 3; order++)
            yield return DpmEncode(order, 80, 45, givenPoints: false);
        yield return DpmEncode(3, 80, 45, givenPoints: true);
        yield return Assign(70, 80, 20);
        foreach (var kind in Enum.GetValues<AssignmentLossKind>())
            yield return AssignLoss(kind, 70, 80, 20);
    }

    private static string Size(int rows, int anchorCount, int dim, double time, bool priors) =>
        string.Create(CultureInfo.InvariantCulture, $"B{rows} N{anchorCount} d{dim} t{time}{(priors ? " priors" : "")}");

    /// <summary>One step with every output: the softmax-weighted mean, the Euler update, lse, target log-probabilities, probabilities.</summary>
    private static VerificationCase Step(int rows, int anchorCount, int dim, double time, bool priors) =>
        new(Family, "zone step", Size(rows, anchorCount, dim, time, priors), run =>
        {
            var p = ZoneProblem.Create(run, rows, anchorCount, dim, time, priors);
            int[] targets = run.Integers(rows, anchorCount);
            var expected = ZoneOracle.Velocity(p.Oracle, p.Points64, rows, time);
            var next = run.Output("next", (long)rows * dim);                            // [rows, dim]
            var mean = run.Output("mean", (long)rows * dim);                            // [rows, dim]
            var lse = run.Output("lse", rows);                                          // [rows]
            var targetLogProb = run.Output("targetLogProb", rows);                      // [rows]
            var probabilities = run.Output("probabilities", (long)rows * anchorCount);  // [rows, anchorCount]
            run.Backend.Zones.Step(new ZoneStepArgs
            {
                Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = StepSize,
                Points = run.Input(p.Points), Anchors = run.Input(p.Anchors), LogPriors = p.LogPriors is null ? null : run.Input(p.LogPriors),
                NextPoints = next, WeightedMean = mean, LogSumExp = lse, Targets = run.Input(targets), TargetLogProb = targetLogProb,
                Probabilities = probabilities,
            });
            run.Expect(next, [.. p.Points64.Select((x, e) => x + StepSize * expected.Velocity[e])], 2e-5, ErrorMeasure.Normwise);
            run.Expect(mean, expected.Mean, 2e-5, ErrorMeasure.Normwise);
            run.Expect(probabilities, expected.Probabilities, 1e-4, ErrorMeasure.Relative(floor: 1));
            // The kernels' logits drop the row constant -|x_i|^2 / (2t^2) (it cancels in the softmax), so their
            // log-sum-exp is the oracle's plus that constant; both carry the absolute error of fp32 logits.
            var logitScales = ErrorMeasure.PerElement(p.LogitScales());
            run.Expect(lse, [.. expected.LogSumExp.Select((value, i) => value + p.SquaredNorm(i) / (2 * time * time))], 1e-6, logitScales);
            run.Expect(targetLogProb, [.. targets.Select((target, i) => expected.LogProbabilities[i * anchorCount + target])], 1e-6, logitScales);
        });

    /// <summary>
    /// The backward of one step from the kernel's own saved mean and lse: dL/dv = g and/or a loss on the target
    /// log-probabilities, into the points and (when asked) the anchors and log-priors.
    /// </summary>
    private static VerificationCase StepBackward(int rows, int anchorCount, int dim, double time, bool priors,
        bool velocityGrad, bool targetLoss, bool parameterGrads)
    {
        string op = "zone step backward" + (velocityGrad && targetLoss && parameterGrads ? ""
            : velocityGrad ? ", g only, no parameter gradients" : ", target loss only");
        return new VerificationCase(Family, op, Size(rows, anchorCount, dim, time, priors), run =>
        {
            var p = ZoneProblem.Create(run, rows, anchorCount, dim, time, priors);
            int[] targets = run.Integers(rows, anchorCount);
            float[] g = run.Normal(rows * dim), beta = run.Normal(rows);
            var forward = ZoneOracle.Velocity(p.Oracle, p.Points64, rows, time);
            var pointsExpected = new double[rows * dim];
            double[]? anchorsExpected = parameterGrads ? new double[anchorCount * dim] : null;
            double[]? priorsExpected = parameterGrads && priors ? new double[anchorCount] : null;
            ZoneOracle.VelocityBackward(p.Oracle, p.Points64, rows, time, forward, velocityGrad ? CaseRun.Widen(g) : null,
                targetLoss ? targets : null, targetLoss ? CaseRun.Widen(beta) : null, pointsExpected, anchorsExpected, priorsExpected);

            var (points, anchors, logPriors, mean, lse) = p.Forward(run);
            float[] pointsStart = run.Normal(rows * dim), anchorsStart = run.Normal(anchorCount * dim), priorsStart = run.Normal(anchorCount);
            var pointsGrad = run.InOut(pointsStart);                                      // [rows, dim], accumulated
            var anchorsGrad = anchorsExpected is null ? null : run.InOut(anchorsStart);   // [anchorCount, dim], accumulated
            var priorsGrad = priorsExpected is null ? null : run.InOut(priorsStart);      // [anchorCount], accumulated
            run.Backend.Zones.StepBackward(new ZoneBackwardArgs
            {
                Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, Points = points, Anchors = anchors,
                LogPriors = logPriors, WeightedMean = mean, LogSumExp = lse, VelocityGrad = velocityGrad ? run.Input(g) : null,
                Targets = targetLoss ? run.Input(targets) : null, TargetLogProbGrad = targetLoss ? run.Input(beta) : null,
                PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad, LogPriorsGrad = priorsGrad,
            });
            run.ExpectIncrement(pointsGrad, pointsStart, pointsExpected, 1e-4, ErrorMeasure.Normwise);
            if (anchorsGrad is not null)
                run.ExpectIncrement(anchorsGrad, anchorsStart, anchorsExpected!, 1e-4, ErrorMeasure.Normwise);
            if (priorsGrad is not null)
                run.ExpectIncrement(priorsGrad, priorsStart, priorsExpected!, 1e-4, ErrorMeasure.Normwise);
        });
    }

    /// <summary>
    /// SelfAnchorOffset: rows are anchor rows [offset, offset + rows), and the anchors' gradient also receives each
    /// row's query path (1/t) g_i + (1 - t)(c/t^2) sum_j ds_ij a_j, which equals (1 - t) dx_i + g_i.
    /// </summary>
    private static VerificationCase SelfAnchors(double time) =>
        new(Family, "zone step backward, self anchors 9..16", Size(7, 20, 11, time, false), run =>
        {
            const int anchorCount = 20, rows = 7, offset = 9, dim = 11;
            var p = ZoneProblem.Create(run, rows, anchorCount, dim, time, priors: false, firstAnchor: offset);
            float[] g = run.Normal(rows * dim);
            var forward = ZoneOracle.Velocity(p.Oracle, p.Points64, rows, time);
            var pointsExpected = new double[rows * dim];
            var anchorsExpected = new double[anchorCount * dim];
            ZoneOracle.VelocityBackward(p.Oracle, p.Points64, rows, time, forward, CaseRun.Widen(g), null, null, pointsExpected, anchorsExpected, null);
            for (int i = 0; i < rows; i++)
            {
                for (int k = 0; k < dim; k++)
                    anchorsExpected[(offset + i) * dim + k] += (1 - time) * pointsExpected[i * dim + k] + g[i * dim + k];
            }

            var (points, anchors, _, mean, lse) = p.Forward(run);
            var pointsGrad = run.InOut(new float[rows * dim]);          // [rows, dim]
            var anchorsGrad = run.InOut(new float[anchorCount * dim]);  // [anchorCount, dim]
            run.Backend.Zones.StepBackward(new ZoneBackwardArgs
            {
                Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, Points = points, Anchors = anchors,
                WeightedMean = mean, LogSumExp = lse, VelocityGrad = run.Input(g), PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad,
                SelfAnchorOffset = offset,
            });
            run.Expect(pointsGrad, pointsExpected, 1e-5, ErrorMeasure.Normwise);
            run.Expect(anchorsGrad, anchorsExpected, 1e-5, ErrorMeasure.Normwise);
        });

    /// <summary>
    /// Target log-probabilities of rows sure of their zone (small t; the target is the oracle's most probable anchor):
    /// exactly 0 in fp32 when the target logit is bit for bit one of those lse came from. A target logit computed
    /// another way differs in its last bits, which s = c / t^2 magnifies into log-probabilities off 0 in either
    /// direction (above 0 is impossible), within the fp32 logit bound of "zone step" but not within this one.
    /// </summary>
    private static VerificationCase SureTargets(int rows, int anchorCount, int dim, double time) =>
        new(Family, "zone step, target log-prob of rows sure of their zone", Size(rows, anchorCount, dim, time, true), run =>
        {
            var p = ZoneProblem.Create(run, rows, anchorCount, dim, time, priors: true);
            var expected = ZoneOracle.Velocity(p.Oracle, p.Points64, rows, time);
            int[] targets = [.. Enumerable.Range(0, rows).Select(i =>
                Enumerable.Range(0, anchorCount).MaxBy(j => expected.Probabilities[i * anchorCount + j]))];
            var targetLogProb = run.Output("targetLogProb", rows); // [rows]
            run.Backend.Zones.Step(new ZoneStepArgs
            {
                Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = StepSize, Points = run.Input(p.Points),
                Anchors = run.Input(p.Anchors), LogPriors = run.Input(p.LogPriors!), NextPoints = run.Output("next", (long)rows * dim),
                Targets = run.Input(targets), TargetLogProb = targetLogProb,
            });
            run.Expect(targetLogProb, [.. targets.Select((target, i) => expected.LogProbabilities[i * anchorCount + target])], 1e-6,
                ErrorMeasure.Relative(floor: 1));
        });

    /// <summary>A class absent from the batch has log-prior -inf: probability exactly 0, and no NaN forward or backward.</summary>
    private static VerificationCase AbsentClass() =>
        new(Family, "zone step and backward, class 2 absent (log-prior -inf)", Size(6, 4, 5, 0.3, true), run =>
        {
            const int rows = 6, anchorCount = 4, dim = 5, absent = 2;
            const double time = 0.3;
            var p = ZoneProblem.Create(run, rows, anchorCount, dim, time, priors: true);
            p.LogPriors![absent] = float.NegativeInfinity;
            float[] g = run.Normal(rows * dim), beta = run.Normal(rows);
            // Targets among the present classes; with them the log-prior gradient is not all cancellation.
            int[] targets = [.. run.Integers(rows, anchorCount - 1).Select(t => t < absent ? t : t + 1)];
            var expected = ZoneOracle.Velocity(p.Oracle, p.Points64, rows, time);
            var pointsExpected = new double[rows * dim];
            var anchorsExpected = new double[anchorCount * dim];
            var priorsExpected = new double[anchorCount];
            ZoneOracle.VelocityBackward(p.Oracle, p.Points64, rows, time, expected, CaseRun.Widen(g), targets, CaseRun.Widen(beta),
                pointsExpected, anchorsExpected, priorsExpected);

            var points = run.Input(p.Points);                                      // [rows, dim]
            var anchors = run.Input(p.Anchors);                                    // [anchorCount, dim]
            var logPriors = run.Input(p.LogPriors!);                               // [anchorCount]
            var mean = run.Output("mean", rows * dim);                            // [rows, dim]
            var lse = run.Output("lse", rows);                                    // [rows]
            var probabilities = run.Output("probabilities", rows * anchorCount); // [rows, anchorCount]
            run.Backend.Zones.Step(new ZoneStepArgs
            {
                Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = StepSize, Points = points,
                Anchors = anchors, LogPriors = logPriors, NextPoints = run.Output("next", rows * dim), WeightedMean = mean, LogSumExp = lse,
                Probabilities = probabilities,
            });
            var pointsGrad = run.InOut(new float[rows * dim]);          // [rows, dim]
            var anchorsGrad = run.InOut(new float[anchorCount * dim]);  // [anchorCount, dim]
            var priorsGrad = run.InOut(new float[anchorCount]);         // [anchorCount]
            run.Backend.Zones.StepBackward(new ZoneBackwardArgs
            {
                Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, Points = points, Anchors = anchors,
                LogPriors = logPriors, WeightedMean = mean, LogSumExp = lse, VelocityGrad = run.Input(g), Targets = run.Input(targets),
                TargetLogProbGrad = run.Input(beta), PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad, LogPriorsGrad = priorsGrad,
            });
            // Exactly 0 in the absent class's column, within 1e-4 elsewhere.
            double[] scales = [.. Enumerable.Range(0, rows * anchorCount).Select(e => e % anchorCount == absent ? 0.0 : 1.0)];
            run.Expect(probabilities, expected.Probabilities, 1e-4, ErrorMeasure.PerElement(scales));
            run.Expect(mean, expected.Mean, 2e-5, ErrorMeasure.Normwise);
            run.Expect(pointsGrad, pointsExpected, 1e-4, ErrorMeasure.Normwise);
            run.Expect(anchorsGrad, anchorsExpected, 1e-4, ErrorMeasure.Normwise);
            run.Expect(priorsGrad, priorsExpected, 1e-4, ErrorMeasure.Normwise);
        });

    /// <summary>
    /// The first encode step (t = 1e-4, x_i = eps z_i + (1 - eps) a_i) has a one-hot softmax: m_i must equal a_i
    /// exactly, and the backward must see ds = 0 exactly rather than rounding noise amplified by c / t^3 ~ 1e12.
    /// </summary>
    private static VerificationCase OneHotFirstEncodeStep() =>
        new(Family, "zone step and backward, one-hot first encode step", Size(100, 100, 256, 1e-4, false), run =>
        {
            const int count = 100, dim = 256;
            const double time = 1e-4;
            float[] anchorValues = run.Normal(count * dim), noise = run.Normal(count * dim);
            float[] pointValues = [.. anchorValues.Select((a, e) => (float)(time * noise[e] + (1 - time) * a))];
            var p = new ZoneProblem(anchorValues, null, pointValues, count, count, dim, time);
            float[] g = run.Normal(count * dim);
            var forward = ZoneOracle.Velocity(p.Oracle, p.Points64, count, time);
            var pointsExpected = new double[count * dim];
            var anchorsExpected = new double[count * dim];
            var priorsExpected = new double[count];
            ZoneOracle.VelocityBackward(p.Oracle, p.Points64, count, time, forward, CaseRun.Widen(g), null, null, pointsExpected, anchorsExpected, priorsExpected);

            var (points, anchors, _, mean, lse) = p.Forward(run);
            float[] priorsStart = run.Normal(count);
            var pointsGrad = run.InOut(new float[count * dim]);   // [count, dim]
            var anchorsGrad = run.InOut(new float[count * dim]);  // [count, dim]
            var priorsGrad = run.InOut(priorsStart);              // [count], accumulated
            run.Backend.Zones.StepBackward(new ZoneBackwardArgs
            {
                Rows = count, AnchorCount = count, Dim = dim, Time = (float)time, Points = points, Anchors = anchors,
                WeightedMean = mean, LogSumExp = lse, VelocityGrad = run.Input(g), PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad,
                LogPriorsGrad = priorsGrad,
            });
            run.Expect(mean, CaseRun.Widen(anchorValues), 0);
            // dx = g / t and dA = -g / t to float rounding; sum_i ds_ij = 0 exactly.
            run.Expect(pointsGrad, pointsExpected, 1e-6);
            run.Expect(anchorsGrad, anchorsExpected, 1e-6);
            run.ExpectIncrement(priorsGrad, priorsStart, priorsExpected, 0);
        });

    /// <summary>
    /// A step and its backward given the anchor norms a flow computes once (<see cref="IZoneKernels.SquaredNorms"/>): bit
    /// for bit the outputs of the same calls computing their own, and within the step's bounds of the oracle.
    /// </summary>
    private static VerificationCase GivenNorms(int rows, int anchorCount, int dim, double time) =>
        new(Family, "zone step and backward, anchor norms computed once", Size(rows, anchorCount, dim, time, true), run =>
        {
            var p = ZoneProblem.Create(run, rows, anchorCount, dim, time, priors: true);
            int[] targetValues = run.Integers(rows, anchorCount);
            float[] g = run.Normal(rows * dim), beta = run.Normal(rows);
            var forward = ZoneOracle.Velocity(p.Oracle, p.Points64, rows, time);
            var pointsExpected = new double[rows * dim];
            var anchorsExpected = new double[anchorCount * dim];
            var priorsExpected = new double[anchorCount];
            ZoneOracle.VelocityBackward(p.Oracle, p.Points64, rows, time, forward, CaseRun.Widen(g), targetValues, CaseRun.Widen(beta),
                pointsExpected, anchorsExpected, priorsExpected);

            var points = run.Input(p.Points);              // [rows, dim]
            var anchors = run.Input(p.Anchors);            // [anchorCount, dim]
            var logPriors = run.Input(p.LogPriors!);       // [anchorCount]
            var targets = run.Input(targetValues);         // [rows]
            var velocityGrad = run.Input(g);               // [rows, dim]
            var targetGrad = run.Input(beta);              // [rows]
            using var norms = run.Backend.Zones.SquaredNorms(anchors, anchorCount, dim); // [anchorCount]
            FloatBuffer[] Outputs(ZoneAnchorNorms? given)
            {
                var next = run.Output("next", (long)rows * dim);                 // [rows, dim]
                var mean = run.Output("mean", (long)rows * dim);                 // [rows, dim]
                var lse = run.Output("lse", rows);                               // [rows]
                var targetLogProb = run.Output("targetLogProb", rows);           // [rows]
                run.Backend.Zones.Step(new ZoneStepArgs
                {
                    Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = StepSize, Points = points, Anchors = anchors,
                    LogPriors = logPriors, AnchorNorms = given, NextPoints = next, WeightedMean = mean, LogSumExp = lse, Targets = targets,
                    TargetLogProb = targetLogProb,
                });
                var pointsGrad = run.InOut(new float[rows * dim]);          // [rows, dim]
                var anchorsGrad = run.InOut(new float[anchorCount * dim]);  // [anchorCount, dim]
                var priorsGrad = run.InOut(new float[anchorCount]);         // [anchorCount]
                run.Backend.Zones.StepBackward(new ZoneBackwardArgs
                {
                    Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, Points = points, Anchors = anchors, LogPriors = logPriors,
                    AnchorNorms = given, WeightedMean = mean, LogSumExp = lse, VelocityGrad = velocityGrad, Targets = targets,
                    TargetLogProbGrad = targetGrad, PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad, LogPriorsGrad = priorsGrad,
                });
                return [next, mean, lse, targetLogProb, pointsGrad, anchorsGrad, priorsGrad];
            }
            var own = Outputs(null);
            var given = Outputs(norms);
            string[] names = ["next", "mean", "lse", "targetLogProb", "pointsGrad", "anchorsGrad", "priorsGrad"];
            for (int o = 0; o < own.Length; o++)
                run.Expect(given[o], CaseRun.Widen(own[o].ToArray()), 0, ErrorMeasure.Normwise, $"{names[o]} given the norms, against its own");
            run.Expect(given[1], forward.Mean, 2e-5, ErrorMeasure.Normwise, "mean");
            run.Expect(given[4], pointsExpected, 1e-4, ErrorMeasure.Normwise, "pointsGrad");
            run.Expect(given[5], anchorsExpected, 1e-4, ErrorMeasure.Normwise, "anchorsGrad");
            run.Expect(given[6], priorsExpected, 1e-4, ErrorMeasure.Normwise, "priorsGrad");
        });

    /// <summary>A 20-step Euler encode of every anchor (queries = anchors), and its backward into the anchors and the noise.</summary>
    private static VerificationCase Encode(int count, int dim) =>
        new(Family, "zone encode and backward", $"{count}x{count}x{dim}, K={FlowSteps}", run =>
        {
            const float noiseScale = 0.45f;
            float[] anchorValues = run.Normal(count * dim), noiseValues = run.Normal(count * dim), latentsGradValues = run.Normal(count * dim);
            var oracle = new OracleProblem(CaseRun.Widen(anchorValues), count, dim);
            var trajectory = ZoneOracle.Encode(oracle, oracle.Anchors, count, CaseRun.Widen(noiseValues), noiseScale, FlowEpsilon, FlowSteps);
            var anchorsExpected = new double[count * dim];
            var startGrad = ZoneOracle.Backward(trajectory, CaseRun.Widen(latentsGradValues), null, null, anchorsExpected, null);
            var noiseExpected = new double[count * dim];
            for (int e = 0; e < startGrad.Length; e++)
            {
                anchorsExpected[e] += (1 - FlowEpsilon) * startGrad[e]; // the queries are the anchors
                noiseExpected[e] = FlowEpsilon * noiseScale * startGrad[e];
            }

            using var encoded = LatentEncoder.Encode(new ZoneAnchors(run.Input(anchorValues), count, dim), run.Input(noiseValues),
                new EncodeOptions { Steps = FlowSteps, NoiseScale = noiseScale, Epsilon = FlowEpsilon, KeepTrajectory = true });
            var anchorsGrad = run.InOut(new float[count * dim]); // [count, dim]
            var noiseGrad = run.InOut(new float[count * dim]);   // [count, dim]
            LatentEncoder.Backward(encoded, run.Input(latentsGradValues), new EncodeGradients(Anchors: anchorsGrad, Noise: noiseGrad));
            run.Expect(encoded.Latents, trajectory.Final, 5e-4, ErrorMeasure.Normwise);
            run.Expect(anchorsGrad, anchorsExpected, 1e-3, ErrorMeasure.Normwise);
            run.Expect(noiseGrad, noiseExpected, 1e-3, ErrorMeasure.Normwise);
        });

    /// <summary>
    /// A 20-step DPM-Solver++ encode (eps 1e-3, prior noise 1, log-priors) and its backward into the anchors, the noise
    /// and the log-priors: of every anchor (queries = anchors, the generation task's flow), or of given points, copies of
    /// the last half of the anchors, whose query path goes to a gradient of its own.
    /// </summary>
    private static VerificationCase DpmEncode(int order, int count, int dim, bool givenPoints) =>
        new(Family, $"zone DPM-Solver++ order {order} encode and backward{(givenPoints ? ", given points" : "")}", $"{count}x{count}x{dim} priors, K={FlowSteps}", run =>
        {
            const double epsilon = 1e-3;
            int rows = givenPoints ? count / 2 : count;
            var p = ZoneProblem.Create(run, 0, count, dim, 1.0, priors: true);
            float[] queryValues = p.Anchors[((count - rows) * dim)..];
            float[] noiseValues = run.Normal(rows * dim), latentsGradValues = run.Normal(rows * dim);
            var trajectory = ZoneOracle.EncodeDpm(p.Oracle, CaseRun.Widen(queryValues), rows, CaseRun.Widen(noiseValues), 1.0, epsilon, FlowSteps, order);
            var anchorsExpected = new double[count * dim];
            var priorsExpected = new double[count];
            var startGrad = ZoneOracle.DpmBackward(trajectory, order, CaseRun.Widen(latentsGradValues), anchorsExpected, priorsExpected);
            var queriesExpected = Array.ConvertAll(startGrad, g => (1 - epsilon) * g);
            var noiseExpected = Array.ConvertAll(startGrad, g => epsilon * g);
            if (!givenPoints)
            {
                for (int e = 0; e < startGrad.Length; e++)
                    anchorsExpected[e] += queriesExpected[e];
            }

            var anchors = new ZoneAnchors(run.Input(p.Anchors), count, dim, run.Input(p.LogPriors!));
            var noise = run.Input(noiseValues);
            var options = new EncodeOptions { Steps = FlowSteps, Solver = FlowSolver.DpmSolverPlusPlus, SolverOrder = order, KeepTrajectory = true };
            using var encoded = givenPoints ? LatentEncoder.Encode(anchors, run.Input(queryValues), rows, noise, options) : LatentEncoder.Encode(anchors, noise, options);
            var anchorsGrad = run.InOut(new float[count * dim]);                            // [count, dim]
            var queriesGrad = givenPoints ? run.InOut(new float[rows * dim]) : null;         // [rows, dim]
            var noiseGrad = run.InOut(new float[rows * dim]);                               // [rows, dim]
            var priorsGrad = run.InOut(new float[count]);                                   // [count]
            LatentEncoder.Backward(encoded, run.Input(latentsGradValues), new EncodeGradients(anchorsGrad, queriesGrad, noiseGrad, priorsGrad));
            // Measured up to 2e-6 on the CPU; 1e-4 still sees the end's query path eps lambda_K (2.5e-3 of the anchors' gradient).
            run.Expect(encoded.Latents, trajectory.Final, 1e-4, ErrorMeasure.Normwise);
            run.Expect(anchorsGrad, anchorsExpected, 1e-4, ErrorMeasure.Normwise);
            if (queriesGrad is not null)
                run.Expect(queriesGrad, queriesExpected, 1e-4, ErrorMeasure.Normwise);
            run.Expect(noiseGrad, noiseExpected, 1e-4, ErrorMeasure.Normwise);
            run.Expect(priorsGrad, priorsExpected, 1e-4, ErrorMeasure.Normwise);
        });

    /// <summary>A 20-step assign with log-priors and targets, recording every step's probabilities.</summary>
    private static VerificationCase Assign(int rows, int anchorCount, int dim) =>
        new(Family, "zone assign", $"{rows}x{anchorCount}x{dim} priors, K={FlowSteps}", run =>
        {
            var (p, latents, targets, trajectory) = AssignProblem(run, rows, anchorCount, dim);
            using var assigned = ZoneAssigner.Assign(new ZoneAnchors(run.Input(p.Anchors), anchorCount, dim, run.Input(p.LogPriors!)),
                run.Input(latents), rows, run.Input(targets), new AssignOptions { Steps = FlowSteps, RecordProbabilities = true });
            run.Expect(assigned.FinalPoints, trajectory.Final, 5e-4, ErrorMeasure.Normwise);
            // Each step's rounding moves the points the later, sharper softmaxes read: 1e-3, as for the gradients.
            run.Expect(assigned.TargetLogProbs!, ZoneOracle.TargetLogProbs(trajectory, targets), 1e-3, ErrorMeasure.Relative(floor: 1));
            run.Expect(assigned.Probabilities!, [.. trajectory.Evaluations.SelectMany(e => e.Probabilities)], 1e-3, ErrorMeasure.Relative(floor: 1));
        });

    /// <summary>An assign's loss of one kind, and the backward of it plus a gradient on the final points into latents, anchors and log-priors.</summary>
    private static VerificationCase AssignLoss(AssignmentLossKind kind, int rows, int anchorCount, int dim) =>
        new(Family, $"zone assign, {AssignmentLoss.Name(kind)} loss and backward", $"{rows}x{anchorCount}x{dim} priors, K={FlowSteps}", run =>
        {
            var (p, latents, targets, trajectory) = AssignProblem(run, rows, anchorCount, dim);
            float[] finalGrad = run.Normal(rows * dim, scale: 0.1);
            double expectedLoss = ZoneOracle.Loss(ZoneOracle.TargetLogProbs(trajectory, targets), FlowSteps, rows, kind, out var lossGrad);
            var anchorsExpected = new double[anchorCount * dim];
            var priorsExpected = new double[anchorCount];
            var latentsExpected = ZoneOracle.Backward(trajectory, CaseRun.Widen(finalGrad), targets, lossGrad, anchorsExpected, priorsExpected);

            using var assigned = ZoneAssigner.Assign(new ZoneAnchors(run.Input(p.Anchors), anchorCount, dim, run.Input(p.LogPriors!)),
                run.Input(latents), rows, run.Input(targets), new AssignOptions { Steps = FlowSteps, KeepTrajectory = true });
            var lossGradBuffer = run.Output("lossGrad", FlowSteps * rows); // [steps, rows]
            double loss = AssignmentLoss.Evaluate(assigned, kind, lossGradBuffer);
            var latentsGrad = run.InOut(new float[rows * dim]);          // [rows, dim]
            var anchorsGrad = run.InOut(new float[anchorCount * dim]);   // [anchorCount, dim]
            var priorsGrad = run.InOut(new float[anchorCount]);          // [anchorCount]
            ZoneAssigner.Backward(assigned, run.Input(finalGrad), lossGradBuffer, new AssignGradients(latentsGrad, anchorsGrad, priorsGrad));
            run.Expect(loss, expectedLoss, 1e-4);
            run.Expect(latentsGrad, latentsExpected, 1e-3, ErrorMeasure.Normwise);
            run.Expect(anchorsGrad, anchorsExpected, 1e-3, ErrorMeasure.Normwise);
            run.Expect(priorsGrad, priorsExpected, 1e-3, ErrorMeasure.Normwise);
        });

    private static (ZoneProblem Problem, float[] Latents, int[] Targets, OracleTrajectory Trajectory) AssignProblem(CaseRun run, int rows, int anchorCount, int dim)
    {
        var p = ZoneProblem.Create(run, 0, anchorCount, dim, 1.0, priors: true);
        float[] latents = run.Normal(rows * dim);
        int[] targets = run.Integers(rows, anchorCount);
        return (p, latents, targets, ZoneOracle.Assign(p.Oracle, CaseRun.Widen(latents), rows, FlowSteps));
    }

    /// <summary>One step's inputs in float (what the backend sees) and float64 (what the oracle sees): x [Rows, Dim], A [AnchorCount, Dim], b [AnchorCount].</summary>
    private sealed record ZoneProblem(float[] Anchors, float[]? LogPriors, float[] Points, int Rows, int AnchorCount, int Dim, double Time)
    {
        public OracleProblem Oracle => new(CaseRun.Widen(Anchors), AnchorCount, Dim, LogPriors is null ? null : CaseRun.Widen(LogPriors));

        public double[] Points64 => CaseRun.Widen(Points);

        /// <summary>
        /// Anchors N(0, 1); log-priors the logs of normalised class frequencies in [0.2, 1]; points (1 - t) a_j + t z near
        /// random anchors j at or after <paramref name="firstAnchor"/>, where the flow at time t actually is.
        /// </summary>
        public static ZoneProblem Create(CaseRun run, int rows, int anchorCount, int dim, double time, bool priors, int firstAnchor = 0)
        {
            float[] anchors = run.Normal(anchorCount * dim);
            float[]? logPriors = null;
            if (priors)
            {
                double[] weights = [.. run.Normal(anchorCount).Select(w => 0.6 + 0.4 * Math.Tanh(w))];
                double total = weights.Sum();
                logPriors = [.. weights.Select(w => (float)Math.Log(w / total))];
            }
            float[] noise = run.Normal(rows * dim);
            var points = new float[rows * dim];
            for (int i = 0; i < rows; i++)
            {
                int j = firstAnchor + run.Next(anchorCount - firstAnchor);
                for (int k = 0; k < dim; k++)
                    points[i * dim + k] = (float)((1 - time) * anchors[j * dim + k] + time * noise[i * dim + k]);
            }
            return new ZoneProblem(anchors, logPriors, points, rows, anchorCount, dim, time);
        }

        public double SquaredNorm(int row) => Points.AsSpan(row * Dim, Dim).ToArray().Sum(x => (double)x * x);

        /// <summary>
        /// Per row, the size of the kernels' logit terms 1 + s |x_i| max|a| + s (c/2) max|a|^2 (s = c / t^2): fp32
        /// logits, and so lse and log-probabilities, carry an absolute error proportional to it.
        /// </summary>
        public double[] LogitScales()
        {
            double c = 1 - Time, s = c / (Time * Time);
            double maxAnchor = Enumerable.Range(0, AnchorCount).Max(j => Math.Sqrt(Anchors.AsSpan(j * Dim, Dim).ToArray().Sum(a => (double)a * a)));
            return [.. Enumerable.Range(0, Rows).Select(i => 1 + s * Math.Sqrt(SquaredNorm(i)) * maxAnchor + s * c / 2 * maxAnchor * maxAnchor)];
        }

        /// <summary>Uploads the problem and runs the kernel's own step, whose saved mean [Rows, Dim] and lse [Rows] a backward reads.</summary>
        public (FloatBuffer Points, FloatBuffer Anchors, FloatBuffer? LogPriors, FloatBuffer Mean, FloatBuffer Lse) Forward(CaseRun run)
        {
            var points = run.Input(Points);    // [Rows, Dim]
            var anchors = run.Input(Anchors);  // [AnchorCount, Dim]
            var logPriors = LogPriors is null ? null : run.Input(LogPriors); // [AnchorCount]
            var mean = run.Output("mean", (long)Rows * Dim); // [Rows, Dim]
            var lse = run.Output("lse", Rows);               // [Rows]
            run.Backend.Zones.Step(new ZoneStepArgs
            {
                Rows = Rows, AnchorCount = AnchorCount, Dim = Dim, Time = (float)Time, StepSize = StepSize, Points = points,
                Anchors = anchors, LogPriors = logPriors, NextPoints = run.Output("next", (long)Rows * Dim), WeightedMean = mean, LogSumExp = lse,
            });
            return (points, anchors, logPriors, mean, lse);
        }
    }
}
