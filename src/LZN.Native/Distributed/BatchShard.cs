namespace LZN.Native.Distributed;

/// <summary>
/// One rank's contiguous slice of a global batch: rank r of R owns rows [floor(r B / R), floor((r + 1) B / R)), so the
/// ranks' slices, in rank order, are the one-process batch and the sizes differ by at most one (the higher ranks
/// take the extra rows). <see cref="Collective"/> carries the gathers and sums between the slices.
/// </summary>
public sealed class BatchShard
{
    private BatchShard(ICollective collective, int globalRows)
    {
        Collective = collective;
        GlobalRows = globalRows;
        var counts = new int[collective.WorldSize];
        for (int rank = 0; rank < counts.Length; rank++)
            counts[rank] = First(globalRows, rank + 1, counts.Length) - First(globalRows, rank, counts.Length);
        RowCounts = counts;
        FirstRow = First(globalRows, collective.Rank, collective.WorldSize);
        Rows = counts[collective.Rank];
    }

    public ICollective Collective { get; }

    /// <summary>B: the rows of the whole batch over all ranks.</summary>
    public int GlobalRows { get; }

    /// <summary>This rank's first row in the global batch (the rows on lower ranks).</summary>
    public int FirstRow { get; }

    /// <summary>b_r: this rank's rows.</summary>
    public int Rows { get; }

    /// <summary>Rows of every rank [WorldSize].</summary>
    public IReadOnlyList<int> RowCounts { get; }

    /// <summary>b_r / B: the weight of this rank's mean losses in the global mean.</summary>
    public double Share => (double)Rows / GlobalRows;

    /// <summary>The shard of <paramref name="globalRows"/> rows that <paramref name="collective"/>'s rank owns; every rank needs at least one row.</summary>
    public static BatchShard Of(ICollective collective, int globalRows)
    {
        ArgumentNullException.ThrowIfNull(collective);
        if (globalRows < collective.WorldSize)
            throw new ArgumentOutOfRangeException(nameof(globalRows), globalRows, $"a batch of {globalRows} cannot give each of {collective.WorldSize} ranks a row.");
        return new BatchShard(collective, globalRows);
    }

    private static int First(int globalRows, int rank, int worldSize) => (int)((long)rank * globalRows / worldSize);
}
