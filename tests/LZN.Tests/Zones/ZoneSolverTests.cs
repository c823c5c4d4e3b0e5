using LZN.Native.Diagnostics;
using LZN.Native.Zones;
using LZN.Tests.Backends;
using LZN.Tests.Zones.Reference;
using static LZN.Tests.Zones.ZoneTestData;

namespace LZN.Tests.Zones;

/// <summary>
/// DPM-Solver++ (time-uniform, eps = 1e-3 at both ends) against the same ODE solved by float64 Euler with
/// 4000 and 2000 steps, Richardson-extrapolated (2 x_4000 - x_2000) so the reference error is second order.
/// Tolerance: a 20-step solver has a truncation error; the bounds are about 1.5x what order p reaches here
/// (measured 3.8e-2, 3.2e-3, 2.2e-3 for p = 1, 2, 3). What proves the formulas is the convergence rate:
/// doubling K to 40 must shrink the error by about 2^p (measured 2.0, 3.7, 5.3; the order-3 rate is still
/// approaching 8 through the lower-order warm-up steps).
/// </summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public class ZoneSolverTests(BackendCase backendCase) : ZoneBackendFixture(backendCase)
{
    private const int Count = 16, Dim = 8, FineSteps = 4000;
    private const double Epsilon = 1e-3;
    private const float NoiseScale = 1f;

    private static readonly Lazy<(OracleProblem Problem, double[] Noise, double[] Reference)> Reference = new(() =>
    {
        var problem = Problem(Count, Dim, priors: false, seed: 91);
        var noise = Round(Normal(Count * Dim, seed: 92));
        var start = ZoneOracle.EncodeStart(problem.Anchors, noise, NoiseScale, Epsilon);
        double span = 1 - 2 * Epsilon;
        var fine = ZoneOracle.Euler(problem, start, Count, Epsilon, span / FineSteps, FineSteps).Final;
        var half = ZoneOracle.Euler(problem, start, Count, Epsilon, span / (FineSteps / 2), FineSteps / 2).Final;
        return (problem, noise, fine.Select((v, e) => 2 * v - half[e]).ToArray());
    });

    [TestCase(1, 5e-2, 1.7)]
    [TestCase(2, 5e-3, 3.2)]
    [TestCase(3, 3e-3, 4.5)]
    public void DpmSolverMatchesAFineEulerSolution(int order, double tolerance, double minimumRate)
    {
        double error20 = Error(order, steps: 20);
        double error40 = Error(order, steps: 40);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(error20, Is.LessThanOrEqualTo(tolerance), "20 steps");
            Assert.That(error20 / error40, Is.GreaterThanOrEqualTo(minimumRate), "error ratio from 20 to 40 steps");
        }
    }

    [TestCase(0)]
    [TestCase(4)]
    public void DpmSolverRejectsBadOrders(int order)
    {
        var (problem, noise, _) = Reference.Value;
        using var anchors = Upload(problem.Anchors);
        using var z = Upload(noise);
        Assert.That(() => LatentEncoder.Encode(new ZoneAnchors(anchors, Count, Dim), z, new EncodeOptions { Solver = FlowSolver.DpmSolverPlusPlus, SolverOrder = order }),
            Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    /// <summary>Keeping the trajectory for gradients changes nothing in the latents: the same steps, stored instead of overwritten.</summary>
    [TestCase(1)]
    [TestCase(3)]
    public void DpmSolverKeepingItsTrajectoryGivesTheSameLatents(int order)
    {
        var (problem, noise, _) = Reference.Value;
        using var anchors = Upload(problem.Anchors);
        using var z = Upload(noise);
        var zoneAnchors = new ZoneAnchors(anchors, Count, Dim);
        var options = new EncodeOptions { Solver = FlowSolver.DpmSolverPlusPlus, SolverOrder = order };
        using var plain = LatentEncoder.Encode(zoneAnchors, z, options);
        using var kept = LatentEncoder.Encode(zoneAnchors, z, options with { KeepTrajectory = true });
        Assert.That(Download(kept.Latents), Is.EqualTo(Download(plain.Latents)));
    }

    private double Error(int order, int steps)
    {
        var (problem, noise, reference) = Reference.Value;
        using var anchors = Upload(problem.Anchors);
        using var z = Upload(noise);
        using var result = LatentEncoder.Encode(new ZoneAnchors(anchors, Count, Dim), z,
            new EncodeOptions { Steps = steps, Solver = FlowSolver.DpmSolverPlusPlus, SolverOrder = order, NoiseScale = NoiseScale });
        return RelativeError(Download(result.Latents), reference);
    }
}
