using LZN.Native.Backends.Cpu;
using LZN.Native.Distributed;
using LZN.Native.Interop;

namespace LZN.Tests.Distributed;

/// <summary>The batch split, the single-process collective and the MPI library's resolution, in this process.</summary>
public class CollectiveTests
{
    [TestCase(7, 2, new[] { 3, 4 })]
    [TestCase(10, 3, new[] { 3, 3, 4 })]
    [TestCase(128, 8, new[] { 16, 16, 16, 16, 16, 16, 16, 16 })]
    [TestCase(3, 3, new[] { 1, 1, 1 })]
    public void ShardsAreContiguousSlicesInRankOrder(int batch, int ranks, int[] expected)
    {
        int next = 0;
        for (int rank = 0; rank < ranks; rank++)
        {
            var shard = BatchShard.Of(new FixedRank(rank, ranks), batch);
            Assert.That(shard.RowCounts, Is.EqualTo(expected));
            Assert.That(shard.FirstRow, Is.EqualTo(next));
            Assert.That(shard.Rows, Is.EqualTo(expected[rank]));
            Assert.That(shard.Share, Is.EqualTo((double)expected[rank] / batch));
            next += shard.Rows;
        }
        Assert.That(next, Is.EqualTo(batch));
    }

    [Test]
    public void ABatchSmallerThanTheRanksIsRefused() =>
        Assert.That(() => BatchShard.Of(new FixedRank(0, 4), 3), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("each of 4 ranks"));

    [Test]
    public void OneProcessPassesEveryDistributedCheck()
    {
        using var backend = new CpuBackend();
        var rows = DistributedChecks.Run(backend, SingleProcessCollective.Instance);
        Assert.That(rows.Select(row => row.Name), Does.Contain("gathered anchors grad vs finite differences")
            .And.Contain("gathered anchors grad, DPM-Solver++, vs finite differences").And.Contain("representation zone loss grad vs finite differences"));
        Assert.That(rows.Where(row => !row.Passed), Is.Empty);
    }

    [Test]
    public void CollectivesRefuseBuffersOfTheWrongLength()
    {
        using var backend = new CpuBackend();
        using var local = backend.AllocateFloat(3 * 4);
        using var gathered = backend.AllocateFloat(5 * 4);
        Assert.That(() => SingleProcessCollective.Instance.AllGather(local, gathered, [3], 4),
            Throws.ArgumentException.With.Message.Contains("all ranks' rows hold 20 floats; expected 3 x 4"));
        Assert.That(() => SingleProcessCollective.Instance.AllGather(local, gathered, [3, 2], 4),
            Throws.ArgumentException.With.Message.Contains("2 row counts for 1 ranks"));
    }

    [Test]
    public void WithoutALauncherNothingMpiRelatedLoads()
    {
        if (DistributedLaunch.UnderMpi)
            Assert.Ignore("the tests themselves run under mpirun");
        Assert.That(DistributedLaunch.WorldSize, Is.EqualTo(1));
        Assert.That(DistributedLaunch.Create(), Is.SameAs(SingleProcessCollective.Instance));
    }

    [Test]
    public void TheResolverKnowsOpenMpiAndNccl()
    {
        if (!OperatingSystem.IsLinux())
            Assert.Ignore("Open MPI's and NCCL's file names are Linux ones");
        Assert.That(NativeLibraries.FileNames(NativeLibraries.Mpi), Is.EqualTo(new[] { "libmpi.so.40" }));
        Assert.That(NativeLibraries.FileNames(NativeLibraries.Nccl), Does.Contain("libnccl.so.2"));
    }

    /// <summary>A rank of a job that never communicates: only the split is under test.</summary>
    private sealed class FixedRank(int rank, int worldSize) : ICollective
    {
        public int Rank => rank;

        public int WorldSize => worldSize;

        public string Description => "fixed rank";

        public void AllGather(LZN.Native.Backends.FloatBuffer local, LZN.Native.Backends.FloatBuffer gathered, IReadOnlyList<int> rowCounts, int rowLength) =>
            throw new NotSupportedException();

        public void ReduceScatter(LZN.Native.Backends.FloatBuffer full, LZN.Native.Backends.FloatBuffer local, IReadOnlyList<int> rowCounts, int rowLength) =>
            throw new NotSupportedException();

        public void AllReduceSum(IReadOnlyList<LZN.Native.Backends.FloatBuffer> buffers) => throw new NotSupportedException();

        public void AllReduceSum(Span<double> values) => throw new NotSupportedException();

        public void AllReduceSum(Span<int> values) => throw new NotSupportedException();

        public void Broadcast(Span<byte> data, int root) => throw new NotSupportedException();

        public void Barrier() => throw new NotSupportedException();

        public void Abort(int exitCode) => throw new NotSupportedException();

        public void Dispose()
        {
        }
    }
}
