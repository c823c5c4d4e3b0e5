using LZN.Native.Backends.Cuda;
using LZN.Native.Verification;
using LZN.Tests.Backends.Cpu;
using LZN.Tests.Verification;
using static LZN.Tests.Zones.ZoneTestData;

namespace LZN.Tests.Cuda;

/// <summary>
/// The gemm path's zero skipping (kernels/latent_zone_gemm.cu, zone_gemm_sparse_*) against the same path without it
/// (gemm-dense), on the problem of the CPU's <see cref="CpuZoneSparseTests"/>: one chunk of 48 rows, and chunks of 16
/// rows (scratch of 16 rows x 96 anchors), where one-hot, mixed and dense chunks meet in one step.
/// </summary>
[Category("GPU")]
[TestFixture(CudaZoneKernels.DefaultGemmScratchFloats)]
[TestFixture(16L * CpuZoneSparseTests.ProblemAnchors)]
public sealed class CudaZoneSparseTests(long gemmScratchFloats)
{
    private CudaBackend? _backend;

    private CudaBackend Backend => _backend ?? throw new InvalidOperationException("opened in OneTimeSetUp");

    [OneTimeSetUp]
    public void OpenDevice() => _backend = CudaRequirement.CreateBackend();

    [OneTimeTearDown]
    public void CloseDevice() => _backend?.Dispose();

    /// <summary>
    /// Both paths agree to 1e-6 (only the order of the nonzero terms differs); at 0.04 and 0.12 the step and the
    /// backward take the sparse kernels, at 0.5 neither does (which the counters show).
    /// </summary>
    [TestCase(0.04f, true, true)]
    [TestCase(0.12f, true, true)]
    [TestCase(0.12f, false, true)]
    [TestCase(0.12f, true, false)]
    [TestCase(0.5f, true, true)]
    public void SkippingZerosAgreesWithTheDenseGemms(float time, bool selfAnchors, bool velocity)
    {
        Backend.UseZoneKernels(ZoneKernelVersion.GemmDense, gemmScratchFloats);
        var dense = CpuZoneSparseTests.RunProblem(Backend, Backend.Zones, time, selfAnchors, velocity);
        Backend.UseZoneKernels(ZoneKernelVersion.Gemm, gemmScratchFloats);
        var zones = (CudaZoneKernels)Backend.Zones;
        var skipping = CpuZoneSparseTests.RunProblem(Backend, zones, time, selfAnchors, velocity);

        using (Assert.EnterMultipleScope())
        {
            bool sparse = time < 0.3f;
            Assert.That(zones.ForwardChunks.Sparse > 0, Is.EqualTo(sparse), $"forward chunks (all, skipping zeros): {zones.ForwardChunks}");
            Assert.That(zones.BackwardChunks.Sparse > 0, Is.EqualTo(sparse), $"backward chunks (all, skipping zeros): {zones.BackwardChunks}");
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
