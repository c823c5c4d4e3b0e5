using LZN.Native.Backends;
using LZN.Native.Diagnostics;
using LZN.Tests.Backends;
using LZN.Tests.Zones.Reference;
using static LZN.Tests.Zones.ZoneTestData;

namespace LZN.Tests.Zones;

/// <summary>IZoneKernels.Step and StepBackward against the float64 oracle, one velocity evaluation at a time.</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public class ZoneKernelTests(BackendCase backendCase) : ZoneBackendFixture(backendCase)
{
    private const float StepSize = 0.05f;

    /// <summary>rows, anchorCount, dim, time, log-priors: d = 37 (no SIMD multiple), N = 1, N below a tile, B > N, t = eps and t = 1.</summary>
    public static IEnumerable<TestCaseData> Shapes()
    {
        yield return new TestCaseData(5, 7, 37, 0.3, false).SetName("{m}(B5,N7,d37,t0.3)");
        yield return new TestCaseData(9, 1, 37, 0.5, true).SetName("{m}(B9,N1,d37,t0.5,priors)");
        yield return new TestCaseData(70, 13, 16, 0.2, true).SetName("{m}(B70,N13,d16,t0.2,priors)");
        yield return new TestCaseData(24, 20, 37, 1e-4, false).SetName("{m}(B24,N20,d37,t1e-4)");
        yield return new TestCaseData(12, 10, 8, 1.0, true).SetName("{m}(B12,N10,d8,t1,priors)");
        yield return new TestCaseData(33, 40, 64, 0.05, true).SetName("{m}(B33,N40,d64,t0.05,priors)");
        yield return new TestCaseData(17, 9, 5, 0.7, false).SetName("{m}(B17,N9,d5,t0.7)");
    }

    [TestCaseSource(nameof(Shapes))]
    public void StepMatchesOracle(int rows, int anchorCount, int dim, double time, bool priors)
    {
        var problem = Problem(anchorCount, dim, priors, seed: rows + anchorCount);
        var points = Round(PointsNearAnchors(problem.Anchors, anchorCount, dim, rows, time, seed: 7));
        var targets = Integers(rows, anchorCount, seed: 3);
        var expected = ZoneOracle.Velocity(problem, points, rows, time);

        using var anchors = Upload(problem.Anchors);
        using var logPriors = priors ? Upload(problem.LogPriors!) : null;
        using var x = Upload(points);
        using var targetBuffer = Upload(targets);
        using var next = Poisoned((long)rows * dim);
        using var mean = Poisoned((long)rows * dim);
        using var lse = Poisoned(rows);
        using var targetLogProb = Poisoned(rows);
        using var probabilities = Poisoned((long)rows * anchorCount);
        Backend.Zones.Step(new ZoneStepArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = StepSize,
            Points = x, Anchors = anchors, LogPriors = logPriors, NextPoints = next, WeightedMean = mean,
            LogSumExp = lse, Targets = targetBuffer, TargetLogProb = targetLogProb, Probabilities = probabilities,
        });

        var expectedNext = new double[rows * dim];
        for (int e = 0; e < expectedNext.Length; e++)
            expectedNext[e] = points[e] + StepSize * expected.Velocity[e];
        var expectedTarget = new double[rows];
        var expectedLse = new double[rows];
        var logitScale = new double[rows];
        double c = 1 - time;
        for (int i = 0; i < rows; i++)
        {
            expectedTarget[i] = expected.LogProbabilities[i * anchorCount + targets[i]];
            // The kernels' logits omit the row constant -|x_i|^2/(2t^2) (it cancels in the softmax).
            double squaredNorm = Dot(points.AsSpan(i * dim, dim).ToArray(), points.AsSpan(i * dim, dim).ToArray());
            expectedLse[i] = expected.LogSumExp[i] + squaredNorm / (2 * time * time);
            // fp32 logits carry an absolute error proportional to the magnitude of the expanded terms.
            logitScale[i] = 1 + (c / (time * time)) * Math.Sqrt(squaredNorm) * MaxNorm(problem.Anchors, dim) + squaredNorm / (2 * time * time);
        }

        using (Assert.EnterMultipleScope())
        {
            Assert.That(RelativeError(Download(mean), expected.Mean), Is.LessThanOrEqualTo(2e-5), "weighted mean");
            Assert.That(RelativeError(Download(next), expectedNext), Is.LessThanOrEqualTo(2e-5), "next points");
            Assert.That(Download(probabilities), Is.EqualTo(expected.Probabilities).Within(1e-4), "probabilities");
            var actualLse = Download(lse);
            var actualTarget = Download(targetLogProb);
            for (int i = 0; i < rows; i++)
            {
                Assert.That(actualLse[i], Is.EqualTo(expectedLse[i]).Within(1e-6 * logitScale[i]), $"lse row {i}");
                Assert.That(actualTarget[i], Is.EqualTo(expectedTarget[i]).Within(1e-6 * logitScale[i]), $"target log-prob row {i}");
            }
        }
    }

    [TestCaseSource(nameof(Shapes))]
    public void StepBackwardMatchesOracle(int rows, int anchorCount, int dim, double time, bool priors)
    {
        var problem = Problem(anchorCount, dim, priors, seed: rows + anchorCount);
        var points = Round(PointsNearAnchors(problem.Anchors, anchorCount, dim, rows, time, seed: 7));
        var targets = Integers(rows, anchorCount, seed: 3);
        var velocityGrad = Round(Normal(rows * dim, seed: 11));
        var targetGrad = Round(Normal(rows, seed: 12));
        var forward = ZoneOracle.Velocity(problem, points, rows, time);
        var expectedPoints = new double[rows * dim];
        var expectedAnchors = new double[anchorCount * dim];
        var expectedPriors = new double[anchorCount];
        ZoneOracle.VelocityBackward(problem, points, rows, time, forward, velocityGrad, targets, targetGrad,
            expectedPoints, expectedAnchors, priors ? expectedPriors : null);

        using var anchors = Upload(problem.Anchors);
        using var logPriors = priors ? Upload(problem.LogPriors!) : null;
        using var x = Upload(points);
        using var targetBuffer = Upload(targets);
        using var next = Backend.AllocateFloat((long)rows * dim);
        using var mean = Backend.AllocateFloat((long)rows * dim);
        using var lse = Backend.AllocateFloat(rows);
        Backend.Zones.Step(new ZoneStepArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = StepSize,
            Points = x, Anchors = anchors, LogPriors = logPriors, NextPoints = next, WeightedMean = mean, LogSumExp = lse,
        });

        // Gradients start from non-zero values: the kernel must accumulate, not overwrite.
        var initialPoints = Round(Normal(rows * dim, seed: 21));
        var initialAnchors = Round(Normal(anchorCount * dim, seed: 22));
        var initialPriors = Round(Normal(anchorCount, seed: 23));
        using var g = Upload(velocityGrad);
        using var beta = Upload(targetGrad);
        using var pointsGrad = Upload(initialPoints);
        using var anchorsGrad = Upload(initialAnchors);
        using var priorsGrad = Upload(initialPriors);
        Backend.Zones.StepBackward(new ZoneBackwardArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time,
            Points = x, Anchors = anchors, LogPriors = logPriors, WeightedMean = mean, LogSumExp = lse,
            VelocityGrad = g, Targets = targetBuffer, TargetLogProbGrad = beta,
            PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad, LogPriorsGrad = priors ? priorsGrad : null,
        });

        using (Assert.EnterMultipleScope())
        {
            Assert.That(RelativeError(Subtract(Download(pointsGrad), initialPoints), expectedPoints), Is.LessThanOrEqualTo(1e-4), "dx");
            Assert.That(RelativeError(Subtract(Download(anchorsGrad), initialAnchors), expectedAnchors), Is.LessThanOrEqualTo(1e-4), "dA");
            if (priors)
                Assert.That(Subtract(Download(priorsGrad), initialPriors), Is.EqualTo(expectedPriors).Within(1e-4 * (1 + MaxAbs(targetGrad)) * rows), "db");
            else
                Assert.That(Download(priorsGrad), Is.EqualTo(initialPriors), "db untouched when not requested");
        }
    }

    [Test]
    public void StepBackwardWithOnlyATargetLoss()
    {
        const int rows = 6, anchorCount = 5, dim = 7;
        const double time = 0.4;
        var problem = Problem(anchorCount, dim, priors: true, seed: 5);
        var points = Round(PointsNearAnchors(problem.Anchors, anchorCount, dim, rows, time, seed: 8));
        var targets = Integers(rows, anchorCount, seed: 9);
        var targetGrad = Round(Normal(rows, seed: 10));
        var forward = ZoneOracle.Velocity(problem, points, rows, time);
        var expectedPoints = new double[rows * dim];
        var expectedAnchors = new double[anchorCount * dim];
        var expectedPriors = new double[anchorCount];
        ZoneOracle.VelocityBackward(problem, points, rows, time, forward, null, targets, targetGrad, expectedPoints, expectedAnchors, expectedPriors);

        using var anchors = Upload(problem.Anchors);
        using var logPriors = Upload(problem.LogPriors!);
        using var x = Upload(points);
        using var targetBuffer = Upload(targets);
        using var mean = Upload(forward.Mean);
        using var lse = Backend.AllocateFloat(rows);
        using var next = Backend.AllocateFloat((long)rows * dim);
        Backend.Zones.Step(new ZoneStepArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = StepSize,
            Points = x, Anchors = anchors, LogPriors = logPriors, NextPoints = next, LogSumExp = lse,
        });
        using var beta = Upload(targetGrad);
        using var pointsGrad = Backend.AllocateFloat((long)rows * dim);
        using var anchorsGrad = Backend.AllocateFloat((long)anchorCount * dim);
        using var priorsGrad = Backend.AllocateFloat(anchorCount);
        Backend.Zones.StepBackward(new ZoneBackwardArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time,
            Points = x, Anchors = anchors, LogPriors = logPriors, WeightedMean = mean, LogSumExp = lse,
            Targets = targetBuffer, TargetLogProbGrad = beta, PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad, LogPriorsGrad = priorsGrad,
        });

        using (Assert.EnterMultipleScope())
        {
            Assert.That(RelativeError(Download(pointsGrad), expectedPoints), Is.LessThanOrEqualTo(1e-4), "dx");
            Assert.That(RelativeError(Download(anchorsGrad), expectedAnchors), Is.LessThanOrEqualTo(1e-4), "dA");
            Assert.That(RelativeError(Download(priorsGrad), expectedPriors), Is.LessThanOrEqualTo(1e-4), "db");
        }
    }

    /// <summary>
    /// SelfAnchorOffset: rows are anchor rows [offset, offset + rows); AnchorsGrad also receives
    /// (1/t) g_i + (1 - t)(c/t^2) sum_j ds_ij a_j in row offset + i.
    /// </summary>
    [TestCase(1e-4)]
    [TestCase(0.45)]
    public void StepBackwardAddsTheSelfAnchorQueryPath(double time)
    {
        const int anchorCount = 20, rows = 7, offset = 9, dim = 11;
        var problem = Problem(anchorCount, dim, priors: false, seed: 81);
        var points = Round(PointsNearAnchors(problem.Anchors.AsSpan(offset * dim).ToArray(), anchorCount - offset, dim, rows, time, seed: 82));
        var velocityGrad = Round(Normal(rows * dim, seed: 83));
        var forward = ZoneOracle.Velocity(problem, points, rows, time);
        var pointsExpected = new double[rows * dim];
        var anchorsExpected = new double[anchorCount * dim];
        ZoneOracle.VelocityBackward(problem, points, rows, time, forward, velocityGrad, null, null, pointsExpected, anchorsExpected, null);
        // dx_i = g_i/t + e_i, so the query path (1/t) g_i + (1 - t) e_i = (1 - t) dx_i + g_i.
        for (int i = 0; i < rows; i++)
        {
            for (int k = 0; k < dim; k++)
                anchorsExpected[(offset + i) * dim + k] += (1 - time) * pointsExpected[i * dim + k] + velocityGrad[i * dim + k];
        }

        using var anchors = Upload(problem.Anchors);
        using var x = Upload(points);
        using var next = Backend.AllocateFloat((long)rows * dim);
        using var mean = Backend.AllocateFloat((long)rows * dim);
        using var lse = Backend.AllocateFloat(rows);
        Backend.Zones.Step(new ZoneStepArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = StepSize,
            Points = x, Anchors = anchors, NextPoints = next, WeightedMean = mean, LogSumExp = lse,
        });
        using var g = Upload(velocityGrad);
        using var pointsGrad = Backend.AllocateFloat((long)rows * dim);
        using var anchorsGrad = Backend.AllocateFloat((long)anchorCount * dim);
        Backend.Zones.StepBackward(new ZoneBackwardArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time,
            Points = x, Anchors = anchors, WeightedMean = mean, LogSumExp = lse,
            VelocityGrad = g, PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad, SelfAnchorOffset = offset,
        });

        using (Assert.EnterMultipleScope())
        {
            Assert.That(RelativeError(Download(pointsGrad), pointsExpected), Is.LessThanOrEqualTo(1e-5), "dx");
            Assert.That(RelativeError(Download(anchorsGrad), anchorsExpected), Is.LessThanOrEqualTo(1e-5), "dA with the self-anchor path");
        }
    }

    /// <summary>A class absent from the batch has log-prior -inf: probability exactly 0, no NaN forward or backward.</summary>
    [Test]
    public void AnAbsentClassGetsNoProbabilityAndNoNaN()
    {
        const int rows = 6, anchorCount = 4, dim = 5, absent = 2;
        const double time = 0.3;
        var problem = Problem(anchorCount, dim, priors: true, seed: 91);
        problem.LogPriors![absent] = double.NegativeInfinity;
        var points = Round(PointsNearAnchors(problem.Anchors, anchorCount, dim, rows, time, seed: 92));
        var expected = ZoneOracle.Velocity(problem, points, rows, time);
        var pointsExpected = new double[rows * dim];
        var anchorsExpected = new double[anchorCount * dim];
        var priorsExpected = new double[anchorCount];
        var velocityGrad = Round(Normal(rows * dim, seed: 93));
        ZoneOracle.VelocityBackward(problem, points, rows, time, expected, velocityGrad, null, null, pointsExpected, anchorsExpected, priorsExpected);

        using var anchors = Upload(problem.Anchors);
        using var logPriors = Upload(problem.LogPriors);
        using var x = Upload(points);
        using var next = Poisoned((long)rows * dim);
        using var mean = Poisoned((long)rows * dim);
        using var lse = Poisoned(rows);
        using var probabilities = Poisoned((long)rows * anchorCount);
        Backend.Zones.Step(new ZoneStepArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = StepSize, Points = x, Anchors = anchors,
            LogPriors = logPriors, NextPoints = next, WeightedMean = mean, LogSumExp = lse, Probabilities = probabilities,
        });
        using var g = Upload(velocityGrad);
        using var pointsGrad = Backend.AllocateFloat((long)rows * dim);
        using var anchorsGrad = Backend.AllocateFloat((long)anchorCount * dim);
        using var priorsGrad = Backend.AllocateFloat(anchorCount);
        Backend.Zones.StepBackward(new ZoneBackwardArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, Points = x, Anchors = anchors, LogPriors = logPriors,
            WeightedMean = mean, LogSumExp = lse, VelocityGrad = g, PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad, LogPriorsGrad = priorsGrad,
        });

        var p = Download(probabilities);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Enumerable.Range(0, rows).Select(i => p[i * anchorCount + absent]), Is.All.Zero, "absent class");
            Assert.That(RelativeError(Download(mean), expected.Mean), Is.LessThanOrEqualTo(2e-5), "weighted mean");
            Assert.That(RelativeError(Download(pointsGrad), pointsExpected), Is.LessThanOrEqualTo(1e-4), "dx");
            Assert.That(RelativeError(Download(anchorsGrad), anchorsExpected), Is.LessThanOrEqualTo(1e-4), "dA");
            Assert.That(RelativeError(Download(priorsGrad), priorsExpected), Is.LessThanOrEqualTo(1e-4), "db");
        }
    }

    internal static OracleProblem Problem(int anchorCount, int dim, bool priors, int seed)
    {
        var anchors = Round(Normal(anchorCount * dim, seed));
        double[]? logPriors = null;
        if (priors)
        {
            // Log of normalised class frequencies in [0.2, 1].
            var weights = Array.ConvertAll(Normal(anchorCount, seed + 1000), w => 0.6 + 0.4 * Math.Tanh(w));
            double total = weights.Sum();
            logPriors = Round(Array.ConvertAll(weights, w => Math.Log(w / total)));
        }
        return new OracleProblem(anchors, anchorCount, dim, logPriors);
    }

    /// <summary>Rounds to float32 so the oracle sees exactly the inputs the backend sees.</summary>
    internal static double[] Round(double[] values) => Array.ConvertAll(values, v => (double)(float)v);

    private static double[] Subtract(double[] a, double[] b)
    {
        var result = new double[a.Length];
        for (int i = 0; i < a.Length; i++)
            result[i] = a[i] - b[i];
        return result;
    }

    private static double MaxAbs(double[] values) => values.Max(Math.Abs);

    private static double MaxNorm(double[] anchors, int dim)
    {
        double max = 0;
        for (int j = 0; j < anchors.Length / dim; j++)
            max = Math.Max(max, Math.Sqrt(Dot(anchors.AsSpan(j * dim, dim).ToArray(), anchors.AsSpan(j * dim, dim).ToArray())));
        return max;
    }
}
