using LZN.Native.Kernels;

namespace LZN.Tests.Kernels;

public class KernelReportTests
{
    [Test]
    public void PtxasLinesGiveEachKernelsResources()
    {
        const string log = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Compiling entry function 'tiles' for 'sm_90'
            ptxas info    : Function properties for tiles
            ptxas         .     16 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads
            ptxas info    : Used 168 registers, 4224 bytes smem, 440 bytes cmem[0]
            ptxas info    : Compiling entry function 'rows' for 'sm_90'
            ptxas info    : Function properties for rows
            ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 29 registers
            """;
        var kernels = KernelReport.ParsePtxasLog(log);
        Assert.That(kernels.Select(kernel => kernel.Kernel), Is.EqualTo(new[] { "tiles", "rows" }));
        Assert.That((kernels[0].Registers, kernels[0].StaticSharedBytes, kernels[0].StackFrameBytes, kernels[0].SpillStoreBytes, kernels[0].SpillLoadBytes),
            Is.EqualTo((168, 4224, 16, 8, 12)));
        Assert.That((kernels[1].Registers, kernels[1].StaticSharedBytes, kernels[1].SpillStoreBytes), Is.EqualTo((29, 0, 0)));
    }

    [Test]
    public void TheTileLoopIsTheOutermostLoopWithABarrier()
    {
        const string ptx = """
            .visible .entry k(
                .param .u64 k_param_0
            )
            {
                ld.shared.f32 %f1, [%r1];
            $L__BB0_1:
                fma.rn.f32 %f2, %f1, %f1, %f2;
            $L__BB0_2:
                ld.shared.v4.f32 {%f3, %f4, %f5, %f6}, [%r2];
                fma.rn.f32 %f2, %f3, %f4, %f2;
                mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%f7, %f8, %f9, %f10}, {%r3, %r4, %r5, %r6}, {%r7, %r8}, {%f7, %f8, %f9, %f10};
                @%p1 bra $L__BB0_2;
                bar.sync 0;
                cp.async.ca.shared.global [%r9], [%rd1], 16, 16;
                cp.async.commit_group;
                @%p2 bra $L__BB0_1;
            $L__BB0_3:
                fma.rn.f32 %f2, %f2, %f2, %f2;
                @%p3 bra.uni $L__BB0_3;
                ret;
            }
            """;
        var (whole, loop) = KernelReport.ParsePtx(ptx)["k"];
        Assert.That(whole, Is.EqualTo(new StaticCounts(Mma: 1, Fma: 3, SharedLoads: 2, Barriers: 1, AsyncCopies: 1, Shuffles: 0)));
        Assert.That(loop, Is.EqualTo(new StaticCounts(Mma: 1, Fma: 2, SharedLoads: 1, Barriers: 1, AsyncCopies: 1, Shuffles: 0)),
            "the loop from $L__BB0_1 holds the barrier, the inner loop and the copy; the later loop has no barrier");
    }

    [TestCase(90, 232448)]
    [TestCase(80, 166912)]
    [TestCase(86, 101376)]
    public void OccupancyFollowsTheArchitecturesLimits(int architecture, int optin)
    {
        var limits = GpuArchitectureLimits.For(architecture);
        Assert.That(limits.MaxSharedBytesPerBlockOptin, Is.EqualTo(optin));
        Assert.That(limits.ResidentBlocks(256, 96, 54272), Is.EqualTo(architecture == 86 ? 1 : 2), "v1 forward tile: registers and shared memory");
        Assert.That(limits.ResidentBlocks(256, 32, 0), Is.EqualTo(limits.MaxThreadsPerMultiprocessor / 256));
        Assert.That(limits.ResidentBlocks(256, 32, optin + 1), Is.Zero, "a block over the opt-in maximum does not fit at all");
    }

    [Test]
    public void EveryKernelCompilesForEveryPlannedArchitectureButTheZoneFilesForSm75()
    {
        NvrtcRequirement.EnsureLoaded();
        var report = KernelReport.Build(KernelReport.DefaultArchitectures);
        foreach (int architecture in KernelReport.DefaultArchitectures.Where(architecture => architecture >= 80))
            Assert.That(report.Kernels.Where(kernel => kernel.Architecture == architecture).Select(kernel => kernel.File).Distinct(),
                Is.EquivalentTo(KernelSources.SourceFiles), $"sm_{architecture}");
        Assert.That(report.Failures.Select(failure => (failure.File, failure.Architecture)),
            Is.EquivalentTo(new[] { ("latent_zone.cu", 75), ("latent_zone_v2.cu", 75) }), "only the zone kernels need sm_80 (cp.async, mma)");
        Assert.That(report.Kernels.Where(kernel => kernel.Architecture >= 80 && kernel.File.StartsWith("latent_zone", StringComparison.Ordinal)),
            Has.All.Matches<KernelResources>(kernel => kernel.SpillStoreBytes == 0 && kernel.SpillLoadBytes == 0), "no zone kernel spills on sm_80 to sm_90");
        // The launcher takes the one-slot anchors backward (_w1) where the two-slot one does not fit: each
        // architecture must have one that does.
        foreach (int architecture in new[] { 86, 89 })
        {
            var anchors = report.Kernels.Where(kernel => kernel.Architecture == architecture
                && kernel.Kernel.StartsWith("zone_backward_anchors_", StringComparison.Ordinal) && !kernel.Kernel.EndsWith("_combine", StringComparison.Ordinal)).ToList();
            Assert.That(anchors.Where(kernel => kernel.Kernel.EndsWith("_w1", StringComparison.Ordinal)).Select(kernel => kernel.BlocksPerMultiprocessor).ToList(),
                Has.Count.EqualTo(6).And.All.Positive, $"sm_{architecture}: the one-slot anchors kernels fit");
            Assert.That(anchors.Where(kernel => !kernel.Kernel.EndsWith("_w1", StringComparison.Ordinal)).Select(kernel => kernel.BlocksPerMultiprocessor).ToList(),
                Has.Count.EqualTo(6).And.All.Zero, $"sm_{architecture}: the two-slot anchors kernels need more than 99 KB");
        }
    }

    [Test]
    public void TheReportCoversEveryKernelAndSaysWhichFilesAnArchitectureCannotCompile()
    {
        NvrtcRequirement.EnsureLoaded();
        var report = KernelReport.Build([90, 75]);
        var sm90 = report.Kernels.Where(kernel => kernel.Architecture == 90).ToList();
        Assert.That(sm90.Select(kernel => kernel.File).Distinct(), Is.EquivalentTo(KernelSources.SourceFiles));
        var forward = sm90.Single(kernel => kernel.Kernel == "zone_forward_tiles_64");
        Assert.That((forward.Threads, forward.DynamicSharedBytes, forward.SpillStoreBytes, forward.SpillLoadBytes), Is.EqualTo((256, 54272, 0, 0)));
        Assert.That(forward.Registers, Is.InRange(32, 255));
        Assert.That(forward.BlocksPerMultiprocessor, Is.EqualTo(GpuArchitectureLimits.For(90).ResidentBlocks(256, forward.Registers, 54272)));
        Assert.That(forward.TileLoop.Barriers, Is.Positive);
        Assert.That(forward.TileLoop.Fma, Is.Positive);
        Assert.That(forward.TileLoop.Mma, Is.Zero, "v1 computes its logits with FMAs");
        var failure = report.Failures.First(failure => failure.File == "latent_zone.cu");
        Assert.That(failure.Architecture, Is.EqualTo(75));
        Assert.That(failure.Error, Does.Contain("cp.async"));
    }
}
