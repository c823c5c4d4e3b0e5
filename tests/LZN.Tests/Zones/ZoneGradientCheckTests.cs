using LZN.Native.Diagnostics;
using LZN.Native.Zones;
using LZN.Tests.Zones.Reference;
using static LZN.Tests.Zones.ZoneTestData;

namespace LZN.Tests.Zones;

/// <summary>
/// The float64 oracle's analytic gradients against central finite differences. The backends are checked
/// against these analytic gradients by the zone verification table (LZN.Native.Verification.ZoneTable) and <see cref="ZoneFlowTests"/>.
/// </summary>
public class ZoneGradientCheckTests
{
    private const int Steps = 20;
    private const double Epsilon = 1e-4;

    [TestCase(0.05)]
    [TestCase(0.3)]
    [TestCase(0.9)]
    public void VelocityBackwardMatchesFiniteDifferences(double time)
    {
        const int rows = 4, count = 5, dim = 3;
        var problem = Problem(count, dim, priors: true, seed: 101);
        var points = PointsNearAnchors(problem.Anchors, count, dim, rows, time, seed: 102);
        var weights = Normal(rows * dim, seed: 103);
        var beta = Normal(rows, seed: 104);
        var targets = Integers(rows, count, seed: 105);
        double Loss(OracleProblem p, double[] x)
        {
            var velocity = ZoneOracle.Velocity(p, x, rows, time);
            double loss = Dot(weights, velocity.Velocity);
            for (int i = 0; i < rows; i++)
                loss += beta[i] * velocity.LogProbabilities[i * count + targets[i]];
            return loss;
        }

        var pointsGrad = new double[rows * dim];
        var anchorsGrad = new double[count * dim];
        var priorsGrad = new double[count];
        ZoneOracle.VelocityBackward(problem, points, rows, time, ZoneOracle.Velocity(problem, points, rows, time),
            weights, targets, beta, pointsGrad, anchorsGrad, priorsGrad);

        double step = 1e-6 * time;
        AssertMatchesFiniteDifferences(x => Loss(problem, x), points, pointsGrad, step, "points");
        AssertMatchesFiniteDifferences(a => Loss(problem with { Anchors = a }, points), problem.Anchors, anchorsGrad, step, "anchors");
        AssertMatchesFiniteDifferences(b => Loss(problem with { LogPriors = b }, points), problem.LogPriors!, priorsGrad, 1e-6, "log-priors");
    }

    /// <summary>
    /// An encode of every anchor, through the anchors as queries and keys, the noise and the log-priors: Euler (eps 1e-4,
    /// prior noise 0.45) and DPM-Solver++ of each order (eps 1e-3 at both ends, prior noise 1, the generation task's flow).
    /// </summary>
    [TestCase(FlowSolver.Euler, 0)]
    [TestCase(FlowSolver.DpmSolverPlusPlus, 1)]
    [TestCase(FlowSolver.DpmSolverPlusPlus, 2)]
    [TestCase(FlowSolver.DpmSolverPlusPlus, 3)]
    public void EncodeGradientsMatchFiniteDifferences(FlowSolver solver, int order)
    {
        const int count = 6, dim = 4;
        bool dpm = solver == FlowSolver.DpmSolverPlusPlus;
        double epsilon = dpm ? 1e-3 : Epsilon, noiseScale = dpm ? 1 : 0.45;
        var problem = Problem(count, dim, priors: true, seed: 111);
        var noise = Normal(count * dim, seed: 112);
        var weights = Normal(count * dim, seed: 113);
        OracleTrajectory Encode(OracleProblem p, double[] z) => dpm
            ? ZoneOracle.EncodeDpm(p, p.Anchors, count, z, noiseScale, epsilon, Steps, order)
            : ZoneOracle.Encode(p, p.Anchors, count, z, noiseScale, epsilon, Steps);
        double Loss(OracleProblem p, double[] z) => Dot(weights, Encode(p, z).Final);

        var trajectory = Encode(problem, noise);
        var anchorsGrad = new double[count * dim];
        var priorsGrad = new double[count];
        var startGrad = dpm
            ? ZoneOracle.DpmBackward(trajectory, order, weights, anchorsGrad, priorsGrad)
            : ZoneOracle.Backward(trajectory, weights, null, null, anchorsGrad, priorsGrad);
        var noiseGrad = new double[count * dim];
        for (int e = 0; e < startGrad.Length; e++)
        {
            anchorsGrad[e] += (1 - epsilon) * startGrad[e]; // queries = anchors
            noiseGrad[e] = epsilon * noiseScale * startGrad[e];
        }

        AssertMatchesFiniteDifferences(a => Loss(problem with { Anchors = a }, noise), problem.Anchors, anchorsGrad, 1e-6, "anchors");
        AssertMatchesFiniteDifferences(z => Loss(problem, z), noise, noiseGrad, 1e-4, "noise");
        AssertMatchesFiniteDifferences(b => Loss(problem with { LogPriors = b }, noise), problem.LogPriors!, priorsGrad, 1e-6, "log-priors");
    }

    [TestCase(AssignmentLossKind.Probability)]
    [TestCase(AssignmentLossKind.CrossEntropy)]
    [TestCase(AssignmentLossKind.CutoffCrossEntropy)]
    public void AssignLossGradientsMatchFiniteDifferences(AssignmentLossKind kind)
    {
        const int rows = 5, count = 4, dim = 3;
        var problem = Problem(count, dim, priors: true, seed: 121);
        var latents = Normal(rows * dim, seed: 122);
        var targets = Integers(rows, count, seed: 123);
        var finalWeights = Normal(rows * dim, seed: 124, scale: 0.1);
        double Loss(OracleProblem p, double[] x)
        {
            var trajectory = ZoneOracle.Assign(p, x, rows, Steps);
            return ZoneOracle.Loss(ZoneOracle.TargetLogProbs(trajectory, targets), Steps, rows, kind, out _)
                + Dot(finalWeights, trajectory.Final);
        }

        var forward = ZoneOracle.Assign(problem, latents, rows, Steps);
        ZoneOracle.Loss(ZoneOracle.TargetLogProbs(forward, targets), Steps, rows, kind, out var lossGrad);
        var anchorsGrad = new double[count * dim];
        var priorsGrad = new double[count];
        var latentsGrad = ZoneOracle.Backward(forward, finalWeights, targets, lossGrad, anchorsGrad, priorsGrad);

        AssertMatchesFiniteDifferences(x => Loss(problem, x), latents, latentsGrad, 1e-6, "latents");
        AssertMatchesFiniteDifferences(a => Loss(problem with { Anchors = a }, latents), problem.Anchors, anchorsGrad, 1e-6, "anchors");
        AssertMatchesFiniteDifferences(b => Loss(problem with { LogPriors = b }, latents), problem.LogPriors!, priorsGrad, 1e-6, "log-priors");
    }

    [Test]
    public void RepresentationPatternGradientsMatchFiniteDifferences()
    {
        const int count = 6, dim = 3;
        const double noiseScale = 0.45;
        var view1 = Problem(count, dim, priors: false, seed: 131);
        var shift = Normal(count * dim, seed: 132, scale: 0.8);
        var view2 = new OracleProblem(view1.Anchors.Select((a, e) => a + shift[e]).ToArray(), count, dim);
        var noise = Normal(count * dim, seed: 133);
        var (loss, view1Grad, view2Grad) = RepresentationOracle.LossAndGradients(view1, view2, noise, noiseScale, Epsilon, Steps);
        Assert.That(loss, Is.GreaterThan(0.1), "the problem must not be saturated");

        AssertMatchesFiniteDifferences(a => RepresentationOracle.Loss(view1 with { Anchors = a }, view2, noise, noiseScale, Epsilon, Steps),
            view1.Anchors, view1Grad, 1e-6, "view-1 anchors");
        AssertMatchesFiniteDifferences(a => RepresentationOracle.Loss(view1, view2 with { Anchors = a }, noise, noiseScale, Epsilon, Steps),
            view2.Anchors, view2Grad, 1e-6, "view-2 anchors");
    }

    [TestCase(AssignmentLossKind.Probability)]
    [TestCase(AssignmentLossKind.CrossEntropy)]
    [TestCase(AssignmentLossKind.CutoffCrossEntropy)]
    public void LibraryLossMatchesTheOracleLoss(AssignmentLossKind kind)
    {
        const int steps = 10, rows = 7;
        var logProbs = Array.ConvertAll(Normal(steps * rows, seed: 141), v => -Math.Abs(v));
        double expected = ZoneOracle.Loss(logProbs, steps, rows, kind, out var expectedGrad);
        var gradient = new float[steps * rows];
        double loss = AssignmentLoss.Evaluate(Array.ConvertAll(logProbs, v => (float)v), steps, rows, kind, gradient);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(AssignmentLoss.CutoffStep(steps), Is.EqualTo(2));
            Assert.That(AssignmentLoss.CutoffStep(100), Is.EqualTo(20));
            Assert.That(loss, Is.EqualTo(expected).Within(1e-6));
            Assert.That(gradient, Is.EqualTo(expectedGrad).Within(1e-6));
            Assert.That(gradient.Take(2 * rows), Is.All.Zero, "steps before the cut-off carry no gradient");
        }
    }

    [Test]
    public void CutoffCrossEntropyReadsOnlyTheCutoffStep()
    {
        const int steps = 10, rows = 2;
        // [steps, rows]: row 0 peaks late (a row already in its zone), row 1 peaks at the cut-off step 2.
        var logProbs = new float[steps * rows];
        for (int k = 0; k < steps; k++)
        {
            logProbs[k * rows] = -2f + 0.2f * k;
            logProbs[k * rows + 1] = -0.5f - 0.1f * Math.Abs(k - 2);
        }
        var gradient = new float[steps * rows];
        double loss = AssignmentLoss.Evaluate(logProbs, steps, rows, AssignmentLossKind.CutoffCrossEntropy, gradient);
        var maxGradient = new float[steps * rows];
        double maxLoss = AssignmentLoss.Evaluate(logProbs, steps, rows, AssignmentLossKind.CrossEntropy, maxGradient);

        var expectedGradient = new float[steps * rows];
        expectedGradient[2 * rows] = expectedGradient[2 * rows + 1] = -0.5f;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(loss, Is.EqualTo((1.6 + 0.5) / 2).Within(1e-6), "-mean log P at the cut-off step");
            Assert.That(gradient, Is.EqualTo(expectedGradient), "gradient at the cut-off step only");
            Assert.That(maxLoss, Is.EqualTo((0.2 + 0.5) / 2).Within(1e-6), "the max over steps takes row 0 at its last step");
        }
    }

    /// <summary>Central differences on every coordinate; relative error of the whole gradient vector.</summary>
    private static void AssertMatchesFiniteDifferences(Func<double[], double> loss, double[] at, double[] analytic, double step, string what)
    {
        var numeric = new double[at.Length];
        for (int e = 0; e < at.Length; e++)
        {
            var plus = (double[])at.Clone();
            var minus = (double[])at.Clone();
            plus[e] += step;
            minus[e] -= step;
            numeric[e] = (loss(plus) - loss(minus)) / (2 * step);
        }
        Assert.That(Dot(numeric, numeric), Is.GreaterThan(0), $"{what}: the gradient must not vanish");
        double error = RelativeError(analytic, numeric);
        TestContext.Out.WriteLine($"{what}: relative error {error:E2}");
        Assert.That(error, Is.LessThanOrEqualTo(1e-5), what);
    }
}
