using LZN.Native.Backends;
using LZN.Native.Diagnostics;
using LZN.Native.Zones;
using LZN.Tests.Backends;
using LZN.Tests.Zones.Reference;
using static LZN.Tests.Zones.ZoneTestData;

namespace LZN.Tests.Zones;

/// <summary>
/// The flows beyond the zone verification table (LZN.Native.Verification.ZoneTable, which holds encode, assign and the
/// losses against the oracle): encodes of a row slice and of given points, the zones of an assign, a truncated assign,
/// the representation-learning pattern, and assign(encode) returning each anchor to its zone.
/// </summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public class ZoneFlowTests(BackendCase backendCase) : ZoneBackendFixture(backendCase)
{
    private const int Steps = 20;
    private const double Epsilon = 1e-4;

    [Test]
    public void EncodeOfARowSliceMatchesOracle()
    {
        const int count = 24, dim = 16, first = 8, rows = 10;
        var problem = Problem(count, dim, priors: false, seed: 33);
        var queries = problem.Anchors.AsSpan(first * dim, rows * dim).ToArray();
        var noise = Round(Normal(rows * dim, seed: 34));
        var expected = ZoneOracle.Encode(problem, queries, rows, noise, 0.45, Epsilon, Steps).Final;

        using var anchors = Upload(problem.Anchors);
        using var z = Upload(noise);
        using var result = LatentEncoder.EncodeAnchorRows(new ZoneAnchors(anchors, count, dim), first, rows, z,
            new EncodeOptions { Steps = Steps, NoiseScale = 0.45f });

        Assert.That(RelativeError(Download(result.Latents), expected), Is.LessThanOrEqualTo(5e-4));
    }

    [Test]
    public void EncodeOfGivenPointsGradientsMatchOracle()
    {
        const int count = 12, rows = 9, dim = 10;
        var problem = Problem(count, dim, priors: true, seed: 38);
        // Given points are copies of anchor rows held elsewhere (a point off every anchor has no zone to start in).
        var queries = problem.Anchors.AsSpan(count * dim - rows * dim).ToArray();
        var noise = Round(Normal(rows * dim, seed: 40));
        var latentGrad = Round(Normal(rows * dim, seed: 41));
        var trajectory = ZoneOracle.Encode(problem, queries, rows, noise, 1.0, Epsilon, Steps);
        var expectedAnchors = new double[count * dim];
        var expectedPriors = new double[count];
        var startGrad = ZoneOracle.Backward(trajectory, latentGrad, null, null, expectedAnchors, expectedPriors);
        var expectedQueries = Array.ConvertAll(startGrad, g => (1 - Epsilon) * g);

        using var anchors = Upload(problem.Anchors);
        using var logPriors = Upload(problem.LogPriors!);
        using var q = Upload(queries);
        using var z = Upload(noise);
        using var result = LatentEncoder.Encode(new ZoneAnchors(anchors, count, dim, logPriors), q, rows, z,
            new EncodeOptions { Steps = Steps, KeepTrajectory = true });
        using var dLatents = Upload(latentGrad);
        using var anchorsGrad = Backend.AllocateFloat(count * dim);
        using var queriesGrad = Backend.AllocateFloat(rows * dim);
        using var priorsGrad = Backend.AllocateFloat(count);
        LatentEncoder.Backward(result, dLatents, new EncodeGradients(Anchors: anchorsGrad, Queries: queriesGrad, LogPriors: priorsGrad));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(RelativeError(Download(result.Latents), trajectory.Final), Is.LessThanOrEqualTo(5e-4), "latents");
            Assert.That(RelativeError(Download(anchorsGrad), expectedAnchors), Is.LessThanOrEqualTo(1e-3), "anchors");
            Assert.That(RelativeError(Download(queriesGrad), expectedQueries), Is.LessThanOrEqualTo(1e-3), "queries");
            Assert.That(RelativeError(Download(priorsGrad), expectedPriors), Is.LessThanOrEqualTo(1e-3), "log-priors");
        }
    }

    /// <summary>The zone of each assigned point, from its nearest anchor, is the oracle's (the points themselves: the zone table).</summary>
    [Test]
    public void NearestAnchorsOfAnAssignAreTheOracles()
    {
        const int rows = 24, count = 10, dim = 16;
        var problem = Problem(count, dim, priors: true, seed: 41);
        var latents = Round(Normal(rows * dim, seed: 42));
        var trajectory = ZoneOracle.Assign(problem, latents, rows, Steps);

        using var anchors = Upload(problem.Anchors);
        using var logPriors = Upload(problem.LogPriors!);
        using var x = Upload(latents);
        var zoneAnchors = new ZoneAnchors(anchors, count, dim, logPriors);
        using var result = ZoneAssigner.Assign(zoneAnchors, x, rows, options: new AssignOptions { Steps = Steps });

        Assert.That(ZoneAssigner.NearestAnchors(zoneAnchors, result.FinalPoints, rows), Is.EqualTo(NearestAnchors(trajectory.Final, problem)));
    }

    [Test]
    public void AnAssignOfTheFirstStepsMatchesTheFullAssignThereAndGivesTheCutoffLossTheSameGradients()
    {
        const int rows = 20, count = 8, dim = 12, evaluated = 5; // u = 4 of K = 20
        var problem = Problem(count, dim, priors: true, seed: 55);
        var latents = Round(Normal(rows * dim, seed: 56));
        var targets = Integers(rows, count, seed: 57);
        var trajectory = ZoneOracle.Assign(problem, latents, rows, Steps);
        using var anchors = Upload(problem.Anchors);
        using var logPriors = Upload(problem.LogPriors!);
        using var x = Upload(latents);
        using var targetBuffer = Upload(targets);
        var zoneAnchors = new ZoneAnchors(anchors, count, dim, logPriors);

        (double Loss, double[] LogProbs, double[] Latents, double[] Anchors) Run(AssignOptions options, out double[] finalPoints)
        {
            using var result = ZoneAssigner.Assign(zoneAnchors, x, rows, targetBuffer, options);
            using var beta = Backend.AllocateFloat(Steps * rows);
            double loss = AssignmentLoss.Evaluate(result, AssignmentLossKind.CutoffCrossEntropy, beta);
            using var latentsGrad = Backend.AllocateFloat(rows * dim);
            using var anchorsGrad = Backend.AllocateFloat(count * dim);
            ZoneAssigner.Backward(result, null, beta, new AssignGradients(latentsGrad, anchorsGrad));
            finalPoints = Download(result.FinalPoints);
            Assert.That((result.Steps, result.EvaluatedSteps), Is.EqualTo((Steps, options.EvaluatedSteps ?? Steps)));
            return (loss, Download(result.TargetLogProbs!), Download(latentsGrad), Download(anchorsGrad));
        }

        var full = Run(new AssignOptions { Steps = Steps, KeepTrajectory = true }, out _);
        var first = Run(new AssignOptions { Steps = Steps, KeepTrajectory = true, EvaluatedSteps = evaluated }, out var pointsAtStep);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(first.LogProbs.Take(evaluated * rows), Is.EqualTo(full.LogProbs.Take(evaluated * rows)), "the steps both evaluated");
            Assert.That(first.LogProbs.Skip(evaluated * rows), Is.All.NaN, "steps not evaluated");
            Assert.That(RelativeError(pointsAtStep, trajectory.Points[evaluated]), Is.LessThanOrEqualTo(5e-4), "x_E");
            Assert.That(first.Loss, Is.EqualTo(full.Loss));
            Assert.That(first.Latents, Is.EqualTo(full.Latents).Within(1e-6), "latents grad");
            Assert.That(first.Anchors, Is.EqualTo(full.Anchors).Within(1e-6), "anchors grad");
        }

        using var truncated = ZoneAssigner.Assign(zoneAnchors, x, rows, targetBuffer, new AssignOptions { Steps = Steps, EvaluatedSteps = evaluated - 1 });
        using var gradient = Backend.AllocateFloat(Steps * rows);
        Assert.That(() => AssignmentLoss.Evaluate(truncated, AssignmentLossKind.CutoffCrossEntropy, gradient),
            Throws.ArgumentException.With.Message.Contains("reads steps up to 4, but the assign evaluated only 4 of 20"));
        Assert.That(() => AssignmentLoss.Evaluate(truncated, AssignmentLossKind.CrossEntropy, gradient),
            Throws.ArgumentException.With.Message.Contains("The ce loss reads steps up to 19"));
        Assert.That(() => ZoneAssigner.Assign(zoneAnchors, x, rows, targetBuffer, new AssignOptions { Steps = Steps, EvaluatedSteps = Steps + 1 }),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("EvaluatedSteps must lie in [1, Steps = 20]"));
    }

    /// <summary>
    /// Representation learning: encode view 1 (anchors A1, queries A1), assign through view 2's anchors A2
    /// with target i for row i, cross-entropy loss; gradients into A1 (queries and keys) and A2.
    /// </summary>
    [Test]
    public void RepresentationPatternGradientsMatchOracle()
    {
        const int count = 16, dim = 6;
        const float noiseScale = 0.45f;
        var view1 = Problem(count, dim, priors: false, seed: 61);
        // Views far enough apart that the loss is not saturated (a saturated row has p = 1 and no gradient).
        var shift = Normal(count * dim, seed: 62, scale: 0.8);
        var view2 = new OracleProblem(Round(view1.Anchors.Select((a, e) => a + shift[e]).ToArray()), count, dim);
        var noise = Round(Normal(count * dim, seed: 63));
        var targets = Enumerable.Range(0, count).ToArray();
        var (expectedLoss, expectedA1, expectedA2) = RepresentationOracle.LossAndGradients(view1, view2, noise, noiseScale, Epsilon, Steps);
        Assert.That(expectedLoss, Is.GreaterThan(0.1), "the problem must not be saturated");

        using var a1 = Upload(view1.Anchors);
        using var a2 = Upload(view2.Anchors);
        using var z = Upload(noise);
        using var targetBuffer = Upload(targets);
        using var encoded = LatentEncoder.Encode(new ZoneAnchors(a1, count, dim), z,
            new EncodeOptions { Steps = Steps, NoiseScale = noiseScale, KeepTrajectory = true });
        using var assigned = ZoneAssigner.Assign(new ZoneAnchors(a2, count, dim), encoded.Latents, count, targetBuffer,
            new AssignOptions { Steps = Steps, KeepTrajectory = true });
        using var beta = Backend.AllocateFloat(Steps * count);
        double loss = AssignmentLoss.Evaluate(assigned, AssignmentLossKind.CrossEntropy, beta);
        using var latentsGrad = Backend.AllocateFloat(count * dim);
        using var a1Grad = Backend.AllocateFloat(count * dim);
        using var a2Grad = Backend.AllocateFloat(count * dim);
        ZoneAssigner.Backward(assigned, null, beta, new AssignGradients(Latents: latentsGrad, Anchors: a2Grad));
        LatentEncoder.Backward(encoded, latentsGrad, new EncodeGradients(Anchors: a1Grad));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(loss, Is.EqualTo(expectedLoss).Within(1e-4 * (1 + Math.Abs(expectedLoss))), "loss");
            Assert.That(RelativeError(Download(a1Grad), expectedA1), Is.LessThanOrEqualTo(1e-3), "view-1 anchors");
            Assert.That(RelativeError(Download(a2Grad), expectedA2), Is.LessThanOrEqualTo(1e-3), "view-2 anchors");
        }
    }

    /// <summary>
    /// The defining property: with eps = 1e-4, assign(encode(a_i)) lands in zone i. Prior scale 0.45 as in
    /// representation learning; with alpha = 1 and 20 Euler steps each way even the float64 oracle returns
    /// only about 80% of N(0, I) anchors to their own zone (discretisation, not rounding).
    /// </summary>
    [Test]
    public void AssignOfEncodeReturnsTheAnchorsOwnZone()
    {
        const int count = 128, dim = 32;
        var problem = Problem(count, dim, priors: false, seed: 71);
        using var anchors = Upload(problem.Anchors);
        using var z = Upload(Normal(count * dim, seed: 72));
        var zoneAnchors = new ZoneAnchors(anchors, count, dim);
        using var encoded = LatentEncoder.Encode(zoneAnchors, z, new EncodeOptions { Steps = Steps, NoiseScale = 0.45f });
        using var assigned = ZoneAssigner.Assign(zoneAnchors, encoded.Latents, count, options: new AssignOptions { Steps = Steps });

        var zones = ZoneAssigner.NearestAnchors(zoneAnchors, assigned.FinalPoints, count);
        int own = zones.Where((zone, i) => zone == i).Count();
        Assert.That(own, Is.GreaterThanOrEqualTo((int)Math.Ceiling(0.99 * count)));
    }

    private static int[] NearestAnchors(double[] points, OracleProblem problem)
    {
        int rows = points.Length / problem.Dim;
        var zones = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            double best = double.PositiveInfinity;
            for (int j = 0; j < problem.AnchorCount; j++)
            {
                double distance = 0;
                for (int k = 0; k < problem.Dim; k++)
                    distance += Math.Pow(points[i * problem.Dim + k] - problem.Anchors[j * problem.Dim + k], 2);
                if (distance < best)
                {
                    best = distance;
                    zones[i] = j;
                }
            }
        }
        return zones;
    }
}
