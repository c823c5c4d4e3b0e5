using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Tests.Zones;
using static LZN.Tests.Zones.ZoneTestData;

namespace LZN.Tests.Backends.Cpu;

/// <summary>The CPU zone kernels split into many row tiles agree with one tile (the oracle tests use one).</summary>
public class CpuZoneKernelTilingTests
{
    [Test]
    public void ManyRowTilesAgreeWithOne()
    {
        const int rows = 70, anchorCount = 80, dim = 9, offset = 5;
        const float time = 0.35f;
        using var backend = new CpuBackend();
        // 16-row tiles (the minimum) against a single 70-row tile.
        var tiled = new CpuZoneKernels(backend, tileElements: 64);
        var whole = new CpuZoneKernels(backend, tileElements: 1 << 20);
        var problem = Problem(anchorCount, dim, priors: true, seed: 151);
        using var anchors = backend.FromHost(Array.ConvertAll(problem.Anchors, v => (float)v));
        using var logPriors = backend.FromHost(Array.ConvertAll(problem.LogPriors!, v => (float)v));
        using var points = backend.FromHost(Array.ConvertAll(PointsNearAnchors(problem.Anchors, anchorCount, dim, rows, time, seed: 152), v => (float)v));
        using var targets = backend.FromHost(Integers(rows, anchorCount, seed: 153));
        using var velocityGrad = backend.FromHost(Array.ConvertAll(Normal(rows * dim, seed: 154), v => (float)v));
        using var targetGrad = backend.FromHost(Array.ConvertAll(Normal(rows, seed: 155), v => (float)v));

        var a = Run(backend, tiled, anchors, logPriors, points, targets, velocityGrad, targetGrad, rows, anchorCount, dim, time, offset);
        var b = Run(backend, whole, anchors, logPriors, points, targets, velocityGrad, targetGrad, rows, anchorCount, dim, time, offset);
        using (Assert.EnterMultipleScope())
        {
            for (int k = 0; k < a.Length; k++)
                Assert.That(RelativeError(a[k], b[k]), Is.LessThanOrEqualTo(1e-6), $"output {k}");
        }
    }

    /// <summary>Step then StepBackward (no velocity gradient or self anchors when null); returns next, m, lse, target log-prob, probabilities, dx, dA, db.</summary>
    internal static double[][] Run(IBackend backend, IZoneKernels kernels, FloatBuffer anchors, FloatBuffer logPriors, FloatBuffer points,
        IntBuffer targets, FloatBuffer? velocityGrad, FloatBuffer targetGrad, int rows, int anchorCount, int dim, float time, int? offset)
    {
        using var next = backend.AllocateFloat((long)rows * dim);
        using var mean = backend.AllocateFloat((long)rows * dim);
        using var lse = backend.AllocateFloat(rows);
        using var targetLogProb = backend.AllocateFloat(rows);
        using var probabilities = backend.AllocateFloat((long)rows * anchorCount);
        kernels.Step(new ZoneStepArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = time, StepSize = -0.05f, Points = points, Anchors = anchors,
            LogPriors = logPriors, NextPoints = next, WeightedMean = mean, LogSumExp = lse, Targets = targets,
            TargetLogProb = targetLogProb, Probabilities = probabilities,
        });
        using var pointsGrad = backend.AllocateFloat((long)rows * dim);
        using var anchorsGrad = backend.AllocateFloat((long)anchorCount * dim);
        using var priorsGrad = backend.AllocateFloat(anchorCount);
        kernels.StepBackward(new ZoneBackwardArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = time, Points = points, Anchors = anchors, LogPriors = logPriors,
            WeightedMean = mean, LogSumExp = lse, VelocityGrad = velocityGrad, Targets = targets, TargetLogProbGrad = targetGrad,
            PointsGrad = pointsGrad, AnchorsGrad = anchorsGrad, LogPriorsGrad = priorsGrad, SelfAnchorOffset = offset,
        });
        return [.. new[] { next, mean, lse, targetLogProb, probabilities, pointsGrad, anchorsGrad, priorsGrad }
            .Select(buffer => Array.ConvertAll(buffer.ToArray(), v => (double)v))];
    }
}
