using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using static LZN.Tests.Zones.ZoneTestData;

namespace LZN.Tests.Backends.Cpu;

/// <summary>The CPU zone kernels' sums over nonzero probabilities (small t, underflowed softmax) against the GEMMs and float64.</summary>
public class CpuZoneSparseTests
{
    /// <summary>
    /// Step and StepBackward with and without skipping zeros agree: at t = 0.04 (all rows one-hot), 0.12 (one to
    /// several nonzero p a row, still sparse) and 0.5 (dense, both take the GEMMs); with and without self anchors and
    /// velocity gradients, with targets and priors throughout.
    /// </summary>
    [TestCase(0.04f, true, true)]
    [TestCase(0.12f, true, true)]
    [TestCase(0.12f, false, true)]
    [TestCase(0.12f, true, false)]
    [TestCase(0.5f, true, true)]
    public void SkippingZerosAgreesWithTheGemms(float time, bool selfAnchors, bool velocity)
    {
        using var backend = new CpuBackend();
        var skipping = RunProblem(backend, new CpuZoneKernels(backend), time, selfAnchors, velocity);
        var gemms = RunProblem(backend, new CpuZoneKernels(backend, skipZeros: false), time, selfAnchors, velocity);

        var perRow = Enumerable.Range(0, ProblemRows).Select(r => skipping[4].Skip(r * ProblemAnchors).Take(ProblemAnchors).Count(p => p != 0)).ToArray();
        using (Assert.EnterMultipleScope())
        {
            // The case's premise: which path the tile takes, and, at 0.12, rows of one and of several nonzero p.
            Assert.That(CpuZoneSparse.IsSparse(perRow, ProblemRows, ProblemAnchors), Is.EqualTo(time < 0.3f), "tile sparse");
            if (time is > 0.1f and < 0.3f)
                Assert.That(perRow.Min() == 1 && perRow.Max() > 1, Is.True, $"nonzero p per row: {string.Join(",", perRow)}");
            for (int k = 0; k < skipping.Length; k++)
                Assert.That(RelativeError(skipping[k], gemms[k]), Is.LessThanOrEqualTo(1e-6), $"output {k}");
        }
    }

    internal const int ProblemRows = 48, ProblemAnchors = 96;

    /// <summary>
    /// The problem of <see cref="SkippingZerosAgreesWithTheGemms"/> (48 rows, 96 anchors, dim 12, priors and targets; self
    /// anchors from offset 7 and velocity gradients when asked) through <see cref="CpuZoneKernelTilingTests.Run"/>.
    /// </summary>
    internal static double[][] RunProblem(IBackend backend, IZoneKernels kernels, float time, bool selfAnchors, bool velocity)
    {
        const int rows = ProblemRows, anchorCount = ProblemAnchors, dim = 12, offset = 7;
        var problem = Problem(anchorCount, dim, priors: true, seed: 161);
        using var anchors = backend.FromHost(Array.ConvertAll(problem.Anchors, v => (float)v));
        using var logPriors = backend.FromHost(Array.ConvertAll(problem.LogPriors!, v => (float)v));
        var near = PointsNearAnchors(problem.Anchors, anchorCount, dim, rows, time, seed: 162);
        // Every third row halfway between two anchors, so that some rows keep several nonzero p.
        for (int i = 0; i < rows; i += 3)
        {
            for (int k = 0; k < dim; k++)
                near[i * dim + k] = 0.5 * (near[i * dim + k] + problem.Anchors[(i + 1) * dim + k]);
        }
        using var points = backend.FromHost(Array.ConvertAll(near, v => (float)v));
        // Even rows target their nearest anchor (an entry with p > 0), odd rows a random one (mostly p = 0).
        var targetValues = Integers(rows, anchorCount, seed: 163);
        for (int i = 0; i < rows; i += 2)
            targetValues[i] = i;
        using var targets = backend.FromHost(targetValues);
        using var velocityGrad = velocity ? backend.FromHost(Array.ConvertAll(Normal(rows * dim, seed: 164), v => (float)v)) : null;
        using var targetGrad = backend.FromHost(Array.ConvertAll(Normal(rows, seed: 165), v => (float)v));
        return CpuZoneKernelTilingTests.Run(backend, kernels, anchors, logPriors, points, targets, velocityGrad, targetGrad, rows, anchorCount,
            dim, time, selfAnchors ? offset : null);
    }

    /// <summary>Rows with 0 to 4 nonzero p, in the vector body and the scalar tail of a 37-wide row; one-hot rows exactly.</summary>
    [Test]
    public void SparseWeightedMeanMatchesTheFloat64Sum()
    {
        const int rows = 23, cols = 37, dim = 11;
        var random = new Random(31);
        var anchors = new float[cols * dim]; // [cols, dim]
        for (int i = 0; i < anchors.Length; i++)
            anchors[i] = (float)(random.NextDouble() * 2 - 1);
        var probabilities = new float[rows * cols]; // [rows, cols]
        for (int r = 0; r < rows; r++)
        {
            int nonzero = r % 5;
            for (int k = 0; k < nonzero; k++)
                probabilities[r * cols + (k == 0 ? cols - 1 : random.Next(cols))] = nonzero == 1 ? 1f : (float)random.NextDouble();
        }
        using var backend = new CpuBackend();
        using var p = backend.FromHost(probabilities);
        using var a = backend.FromHost(anchors);
        using var mean = backend.FromHost(Enumerable.Repeat(float.NaN, rows * dim).ToArray()); // [rows, dim]
        CpuZoneSparse.WeightedMean(CpuBackend.Cast(p), CpuBackend.Cast(a), rows, cols, dim, CpuBackend.Cast(mean));

        float[] actual = mean.ToArray();
        using (Assert.EnterMultipleScope())
        {
            for (int r = 0; r < rows; r++)
            {
                for (int k = 0; k < dim; k++)
                {
                    double expected = 0;
                    for (int j = 0; j < cols; j++)
                        expected += (double)probabilities[r * cols + j] * anchors[j * dim + k];
                    if (r % 5 == 1)
                        Assert.That(actual[r * dim + k], Is.EqualTo(anchors[(cols - 1) * dim + k]), $"one-hot row {r}, dim {k}");
                    else
                        Assert.That(actual[r * dim + k], Is.EqualTo(expected).Within(1e-6), $"row {r}, dim {k}");
                }
            }
        }
    }

    /// <summary>The count the softmax returns and the nonzero walk agree with a scalar scan, in the body and the tail.</summary>
    [Test]
    public void NonzeroCountAndWalkAgreeWithAScalarScan()
    {
        var row = new float[45];
        int[] nonzero = [0, 7, 8, 20, 39, 44];
        foreach (int j in nonzero)
            row[j] = 2f;
        row[30] = 1e-45f; // becomes 0 when halved: counted after the scaling

        int count = CpuSoftmaxMath.ScaleAndCountNonzero(row, 0.5f);
        var walked = new List<int>();
        for (int j = CpuSoftmaxMath.NextNonzero(row, 0); j < row.Length; j = CpuSoftmaxMath.NextNonzero(row, j + 1))
            walked.Add(j);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(count, Is.EqualTo(nonzero.Length));
            Assert.That(walked, Is.EqualTo(nonzero));
            Assert.That(row[7], Is.EqualTo(1f));
        }
    }

    /// <summary>The switch to the sparse sum sits at 1 nonzero in 8.</summary>
    [Test]
    public void SparseBelowOneInEight()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CpuZoneSparse.IsSparse([2, 2, 0, 0], rows: 4, cols: 8), Is.True);
            Assert.That(CpuZoneSparse.IsSparse([2, 2, 1, 0], rows: 4, cols: 8), Is.False);
            Assert.That(CpuZoneSparse.IsSparse([1, 1, 9], rows: 2, cols: 8), Is.True, "only the first rows count");
        }
    }
}
