using LZN.Native.Backends;
using LZN.Native.Backends.Cuda;
using static LZN.Tests.Cuda.ZoneReference64;

namespace LZN.Tests.Cuda;

/// <summary>kernels/latent_zone.cu (through CudaZoneKernels) against the float64 reference, on fresh random inputs.</summary>
[Category("GPU")]
public class ZoneKernelGpuTests
{
    private const double StepSize = 0.05;

    private CudaBackend? _cuda;

    private CudaBackend Cuda => _cuda ?? throw new InvalidOperationException("No CUDA backend.");

    [OneTimeSetUp]
    public void OpenDevice()
    {
        var cuda = CudaRequirement.CreateBackend();
        _cuda = cuda;
        TestContext.Out.WriteLine(cuda.Description);
    }

    [OneTimeTearDown]
    public void CloseDevice() => _cuda?.Dispose();

    /// <summary>rows, anchorCount, dim, time, log-priors: N = 1, N below a tile, B > N, several tiles and splits, two dim groups, t = 1, small t.</summary>
    public static IEnumerable<TestCaseData> Shapes()
    {
        yield return new TestCaseData(70, 1, 37, 0.5, true).SetName("{m}(B70,N1,d37)");
        yield return new TestCaseData(70, 13, 37, 0.3, false).SetName("{m}(B70,N13,d37)");
        yield return new TestCaseData(130, 50, 200, 0.7, true).SetName("{m}(B130,N50,d200)");
        yield return new TestCaseData(65, 140, 256, 0.4, true).SetName("{m}(B65,N140,d256)");
        yield return new TestCaseData(20, 70, 300, 0.6, false).SetName("{m}(B20,N70,d300)");
        yield return new TestCaseData(3, 10, 129, 1.0, true).SetName("{m}(B3,N10,d129,t1)");
        yield return new TestCaseData(40, 70, 64, 0.05, true).SetName("{m}(B40,N70,d64,t0.05)");
        yield return new TestCaseData(300, 1000, 256, 0.2, false).SetName("{m}(B300,N1000,d256)");
    }

    [TestCaseSource(nameof(Shapes))]
    public void StepMatchesFloat64Reference(int rows, int anchorCount, int dim, double time, bool priors)
    {
        var problem = RandomProblem(rows, anchorCount, dim, time, priors, seed: rows + 31 * anchorCount + dim);
        int[] targets = Integers(rows, anchorCount, seed: dim);
        var expected = Step(problem, StepSize, targets);

        using var x = Upload(problem.Points);
        using var anchors = Upload(problem.Anchors);
        using var logPriors = priors ? Upload(problem.LogPriors!) : null;
        using var targetBuffer = Cuda.FromHost(targets);
        using var next = Poisoned((long)rows * dim);
        using var mean = Poisoned((long)rows * dim);
        using var lse = Poisoned(rows);
        using var targetLogProb = Poisoned(rows);
        using var probabilities = Poisoned((long)rows * anchorCount);
        Cuda.Zones.Step(new ZoneStepArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)time, StepSize = (float)StepSize,
            Points = x, Anchors = anchors, LogPriors = logPriors, NextPoints = next, WeightedMean = mean,
            LogSumExp = lse, Targets = targetBuffer, TargetLogProb = targetLogProb, Probabilities = probabilities,
        });

        double magnitude = LogitMagnitude(problem), tolerance = Tolerance(magnitude);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(RelativeError(Download(mean), expected.Mean), Is.LessThanOrEqualTo(tolerance), "weighted mean");
            Assert.That(RelativeError(Download(next), expected.Next), Is.LessThanOrEqualTo(tolerance), "next points");
            Assert.That(Download(probabilities), Is.EqualTo(expected.Probabilities).Within(tolerance), "probabilities");
            // lse and log p carry the absolute rounding error of logits of this magnitude.
            Assert.That(Download(lse), Is.EqualTo(expected.LogSumExp).Within(4e-6 * magnitude), "lse");
            Assert.That(Download(targetLogProb), Is.EqualTo(expected.TargetLogProb).Within(4e-6 * magnitude), "target log-prob");
        }
    }

    [TestCaseSource(nameof(Shapes))]
    public void StepBackwardMatchesFloat64Reference(int rows, int anchorCount, int dim, double time, bool priors)
    {
        var problem = RandomProblem(rows, anchorCount, dim, time, priors, seed: 7 * rows + anchorCount + dim);
        int[] targets = Integers(rows, anchorCount, seed: rows);
        double[] g = Normal(rows * dim, seed: 100 + dim);
        double[] beta = Normal(rows, seed: 200 + dim);
        double tolerance = Tolerance(LogitMagnitude(problem));

        // g with a target loss and every gradient; g alone with dA and db not requested; the target loss alone.
        foreach (var (withG, withTargets, withParameterGrads) in new[] { (true, true, true), (true, false, false), (false, true, true) })
        {
            string what = $"g={withG}, targets={withTargets}";
            var expected = ZoneReference64.Backward(problem, withG ? g : null, withTargets ? targets : null, withTargets ? beta : null);
            var (pointsGrad, anchorsGrad, priorsGrad) = RunBackward(problem, priors, withG ? g : null,
                withTargets ? targets : null, withTargets ? beta : null, withParameterGrads);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(RelativeError(pointsGrad, expected.Points), Is.LessThanOrEqualTo(tolerance), $"dx ({what})");
                if (withParameterGrads)
                {
                    Assert.That(RelativeError(anchorsGrad, expected.Anchors), Is.LessThanOrEqualTo(tolerance), $"dA ({what})");
                    Assert.That(RelativeError(priorsGrad, expected.LogPriors), Is.LessThanOrEqualTo(tolerance), $"db ({what})");
                }
                else
                {
                    Assert.That(anchorsGrad, Is.All.EqualTo(0.0), $"dA untouched ({what})");
                    Assert.That(priorsGrad, Is.All.EqualTo(0.0), $"db untouched ({what})");
                }
            }
        }
    }

    /// <summary>
    /// The first encode step (t = 1e-4, x_i = eps z_i + (1 - eps) a_i) has a one-hot softmax: m_i must equal a_i
    /// exactly, and the backward must see ds = 0 exactly rather than rounding noise amplified by c/t^3 ~ 1e12.
    /// </summary>
    [Test]
    public void OneHotFirstEncodeStepIsExact()
    {
        const int count = 100, dim = 256;
        const double time = 1e-4;
        double[] anchorValues = Normal(count * dim, seed: 41);
        double[] noise = Normal(count * dim, seed: 42);
        double[] points = [.. anchorValues.Select((a, e) => (double)(float)(time * noise[e] + (1 - time) * a))];
        var problem = new ZoneProblem64(count, count, dim, time, points, anchorValues, null);

        using var x = Upload(points);
        using var anchors = Upload(anchorValues);
        using var next = Poisoned((long)count * dim);
        using var mean = Poisoned((long)count * dim);
        using var lse = Poisoned(count);
        Cuda.Zones.Step(new ZoneStepArgs
        {
            Rows = count, AnchorCount = count, Dim = dim, Time = (float)time, StepSize = (float)StepSize,
            Points = x, Anchors = anchors, NextPoints = next, WeightedMean = mean, LogSumExp = lse,
        });
        Assert.That(mean.ToArray(), Is.EqualTo(anchorValues.Select(a => (float)a).ToArray()), "m_i = a_i exactly");

        double[] g = Normal(count * dim, seed: 43);
        var expected = ZoneReference64.Backward(problem, g, null, null);
        var (pointsGrad, anchorsGrad, priorsGrad) = RunBackward(problem, priors: true, g, null, null, withParameterGrads: true, mean, lse);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(RelativeError(pointsGrad, expected.Points), Is.LessThanOrEqualTo(1e-6), "dx = g / t");
            Assert.That(RelativeError(anchorsGrad, expected.Anchors), Is.LessThanOrEqualTo(1e-6), "dA = -g / t");
            Assert.That(priorsGrad, Is.All.EqualTo(0.0), "sum_i ds_ij = 0 exactly");
        }
    }

    /// <summary>
    /// Runs Step (for m and lse, unless given) then StepBackward into gradients that start non-zero, and returns
    /// the increments (so accumulation, not overwriting, is what passes).
    /// </summary>
    private (double[] Points, double[] Anchors, double[] LogPriors) RunBackward(ZoneProblem64 problem, bool priors, double[]? g,
        int[]? targets, double[]? beta, bool withParameterGrads, FloatBuffer? savedMean = null, FloatBuffer? savedLse = null)
    {
        int rows = problem.Rows, anchorCount = problem.AnchorCount, dim = problem.Dim;
        using var x = Upload(problem.Points);
        using var anchors = Upload(problem.Anchors);
        using var logPriors = priors && problem.LogPriors is not null ? Upload(problem.LogPriors) : null;
        using var ownMean = savedMean is null ? Cuda.AllocateFloat((long)rows * dim) : null;
        using var ownLse = savedLse is null ? Cuda.AllocateFloat(rows) : null;
        var mean = savedMean ?? ownMean!;
        var lse = savedLse ?? ownLse!;
        if (savedMean is null)
        {
            using var next = Cuda.AllocateFloat((long)rows * dim);
            Cuda.Zones.Step(new ZoneStepArgs
            {
                Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)problem.Time, StepSize = (float)StepSize,
                Points = x, Anchors = anchors, LogPriors = logPriors, NextPoints = next, WeightedMean = mean, LogSumExp = lse,
            });
        }

        double[] initialPoints = Normal(rows * dim, seed: 301), initialAnchors = Normal(anchorCount * dim, seed: 302);
        double[] initialPriors = Normal(anchorCount, seed: 303);
        using var velocityGrad = g is null ? null : Upload(g);
        using var targetBuffer = targets is null ? null : Cuda.FromHost(targets);
        using var targetGrad = beta is null ? null : Upload(beta);
        using var pointsGrad = Upload(initialPoints);
        using var anchorsGrad = Upload(initialAnchors);
        using var priorsGrad = Upload(initialPriors);
        Cuda.Zones.StepBackward(new ZoneBackwardArgs
        {
            Rows = rows, AnchorCount = anchorCount, Dim = dim, Time = (float)problem.Time,
            Points = x, Anchors = anchors, LogPriors = logPriors, WeightedMean = mean, LogSumExp = lse,
            VelocityGrad = velocityGrad, Targets = targetBuffer, TargetLogProbGrad = targetGrad, PointsGrad = pointsGrad,
            AnchorsGrad = withParameterGrads ? anchorsGrad : null, LogPriorsGrad = withParameterGrads ? priorsGrad : null,
        });
        return (Increment(pointsGrad, initialPoints), Increment(anchorsGrad, initialAnchors), Increment(priorsGrad, initialPriors));
    }

    private static ZoneProblem64 RandomProblem(int rows, int anchorCount, int dim, double time, bool priors, int seed) =>
        new(rows, anchorCount, dim, time, Normal(rows * dim, seed), Normal(anchorCount * dim, seed + 1),
            priors ? Normal(anchorCount, seed + 2, scale: 0.5) : null);

    /// <summary>
    /// Size of the expanded logit terms, 1 + s max|x| max|a| + s (c/2) max|a|^2: fp32 logits carry an absolute error
    /// proportional to it, and every output inherits that error through the softmax.
    /// </summary>
    private static double LogitMagnitude(ZoneProblem64 p)
    {
        double maxPoint = MaxRowNorm(p.Points, p.Dim), maxAnchor = MaxRowNorm(p.Anchors, p.Dim);
        return 1 + p.Scale * maxPoint * maxAnchor + p.Scale * p.C / 2 * maxAnchor * maxAnchor;
    }

    /// <summary>
    /// Relative tolerance: 5e-7 per unit of logit magnitude, about seven times the largest ratio seen when these
    /// kernels ran on a CPU emulation of the CUDA threads (fmaf, expf) against this reference.
    /// </summary>
    private static double Tolerance(double logitMagnitude) => 1e-5 + 5e-7 * logitMagnitude;

    private static double MaxRowNorm(double[] matrix, int dim) =>
        Enumerable.Range(0, matrix.Length / dim).Max(r => Math.Sqrt(matrix.AsSpan(r * dim, dim).ToArray().Sum(v => v * v)));

    private FloatBuffer Upload(double[] values) => Cuda.FromHost(Array.ConvertAll(values, v => (float)v));

    private FloatBuffer Poisoned(long length)
    {
        var buffer = Cuda.AllocateFloat(length);
        Cuda.Fill(buffer, float.NaN);
        return buffer;
    }

    private static double[] Download(FloatBuffer buffer) => Array.ConvertAll(buffer.ToArray(), v => (double)v);

    private static double[] Increment(FloatBuffer buffer, double[] initial) =>
        [.. Download(buffer).Select((value, e) => value - initial[e])];
}
