using LZN.Native.Backends.Cuda;
using LZN.Native.Verification;
using LZN.Tests.Backends.Cpu;
using LZN.Tests.Verification;
using static LZN.Tests.Zones.ZoneTestData;

namespace LZN.Tests.Cuda;

/// <summary>
/// The gemm path's zero skipping (kernels/latent_zone_gemm.cu, zone_gemm_sparse_*) against the same path without it
/// (gemm-dense), on the problem of the CPU's <see cref="CpuZoneSparseTests"/>: one chunk of 48 rows, and chunks of 8
/// rows (scratch of 8 rows x 96 anchors), where at t = 0.18 sparse and dense chunks meet in one step.
/// </summary>
[Category("GPU")]
[TestFixture(CudaZoneKernels.DefaultGemmScratchFloats)]
[TestFixture(8L * CpuZoneSparseTests.ProblemAnchors)]
public sealed class CudaZoneSparseTests(long gemmScratchFloats) : CudaFixture
{
    /// <summary>
    /// Both paths agree to 1e-6 (only the order of the nonzero terms differs), and the step and the backward skip zeros
    /// in exactly the chunks whose nonzero p (counted from gemm-dense's probabilities) are 1 in 8 or fewer: every chunk
    /// at 0.04 and 0.12, none at 0.5, and at 0.18 some of the 8-row chunks but not the 48-row one.
    /// </summary>
    [TestCase(0.04f, true, true)]
    [TestCase(0.12f, true, true)]
    [TestCase(0.12f, false, true)]
    [TestCase(0.12f, true, false)]
    [TestCase(0.18f, true, true)]
    [TestCase(0.5f, true, true)]
    public void SkippingZerosAgreesWithTheDenseGemms(float time, bool selfAnchors, bool velocity)
    {
        const int rows = CpuZoneSparseTests.ProblemRows, anchorCount = CpuZoneSparseTests.ProblemAnchors;
        Backend.UseZoneKernels(ZoneKernelVersion.GemmDense, gemmScratchFloats);
        var dense = CpuZoneSparseTests.RunProblem(Backend, Backend.Zones, time, selfAnchors, velocity);
        Backend.UseZoneKernels(ZoneKernelVersion.Gemm, gemmScratchFloats);
        var zones = (CudaZoneKernels)Backend.Zones;
        var skipping = CpuZoneSparseTests.RunProblem(Backend, zones, time, selfAnchors, velocity);

        int chunkRows = zones.GemmChunkRows(rows, anchorCount), chunks = (rows + chunkRows - 1) / chunkRows;
        int sparse = Enumerable.Range(0, chunks).Count(chunk =>
        {
            int first = chunk * chunkRows, count = Math.Min(chunkRows, rows - first);
            int nonzeros = dense[4].Skip(first * anchorCount).Take(count * anchorCount).Count(p => p != 0); // probabilities
            return CudaZoneKernels.IsSparse(nonzeros, count, anchorCount);
        });
        using (Assert.EnterMultipleScope())
        {
            NUnit.Framework.Constraints.IResolveConstraint premise = time switch
            {
                < 0.15f => Is.EqualTo(chunks),
                < 0.3f when chunks > 1 => Is.InRange(1, chunks - 1),
                _ => Is.Zero,
            };
            Assert.That(sparse, premise, $"chunks of {chunkRows} rows with 1 in 8 or fewer nonzero p");
            Assert.That(zones.ForwardChunks, Is.EqualTo(((long)chunks, (long)sparse)), "forward chunks (all, skipping zeros)");
            Assert.That(zones.BackwardChunks, Is.EqualTo(((long)chunks, (long)sparse)), "backward chunks (all, skipping zeros)");
            for (int k = 0; k < skipping.Length; k++)
                Assert.That(RelativeError(skipping[k], dense[k]), Is.LessThanOrEqualTo(1e-6), $"output {k}");
        }
    }

    /// <summary>The zone verification table (ZoneKernelVersionTests runs it on gemm) reaches the sparse kernels too.</summary>
    [Test]
    public void TheZoneTableRunsTheSparseKernels()
    {
        Backend.UseZoneKernels(ZoneKernelVersion.Gemm, gemmScratchFloats);
        var zones = (CudaZoneKernels)Backend.Zones;
        foreach (var verificationCase in ZoneTable.Cases)
            verificationCase.Run(Backend, TableTests.Seed);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(zones.ForwardChunks.Sparse, Is.Positive);
            Assert.That(zones.BackwardChunks.Sparse, Is.Positive);
        }
    }

    /// <summary>A chunk skips its zeros at 1 nonzero p in 8 or fewer (the CPU's rule); a backward chunk also needs at most
    /// 16 entries per row.</summary>
    [TestCase(4, 4, 4, 8, true, true)]
    [TestCase(5, 5, 4, 8, false, false)]
    [TestCase(1000, 1600, 100, 10000, true, true)]
    [TestCase(1000, 1601, 100, 10000, true, false)]
    public void AChunkIsSparseAtOneInEightAndSixteenEntriesARow(int nonzeros, int entries, int rows, int anchorCount, bool forward, bool backward)
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CudaZoneKernels.IsSparse(nonzeros, rows, anchorCount), Is.EqualTo(forward));
            Assert.That(CudaZoneKernels.IsSparseBackward(nonzeros, entries, rows, anchorCount), Is.EqualTo(backward));
        }
    }
}
