using LZN.Native.Backends;

namespace LZN.Native.Distributed;

/// <summary>One rank: a gather or a reduce-scatter copies the rows across, sums and broadcasts leave the values as they are.</summary>
public sealed class SingleProcessCollective : ICollective
{
    public static SingleProcessCollective Instance { get; } = new();

    public int Rank => 0;

    public int WorldSize => 1;

    public string Description => "single process";

    public void AllGather(FloatBuffer local, FloatBuffer gathered, IReadOnlyList<int> rowCounts, int rowLength)
    {
        CollectiveChecks.Elements(local, gathered, rowCounts, 0, 1, rowLength);
        CopyIfDistinct(local, gathered);
    }

    public void ReduceScatter(FloatBuffer full, FloatBuffer local, IReadOnlyList<int> rowCounts, int rowLength)
    {
        CollectiveChecks.Elements(local, full, rowCounts, 0, 1, rowLength);
        CopyIfDistinct(full, local);
    }

    public void AllReduceSum(IReadOnlyList<FloatBuffer> buffers)
    {
    }

    public void AllReduceSum(Span<double> values)
    {
    }

    public void AllReduceSum(Span<int> values)
    {
    }

    public void Broadcast(Span<byte> data, int root) => ArgumentOutOfRangeException.ThrowIfNotEqual(root, 0);

    public void Barrier()
    {
    }

    public void Abort(int exitCode)
    {
    }

    public void Dispose()
    {
    }

    private static void CopyIfDistinct(FloatBuffer source, FloatBuffer destination)
    {
        if (!ReferenceEquals(source, destination))
            source.Backend.Copy(source, destination);
    }
}
