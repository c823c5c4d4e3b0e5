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

    /// <summary>
    /// The first Philox counter of this rank's first row in a draw of <paramref name="rowLength"/> values per row over the
    /// global batch at <paramref name="step"/>: the draws depend on the global row, not on the ranks.
    /// </summary>
    public ulong RowCounter(long step, int rowLength) =>
        checked(((ulong)step * (ulong)GlobalRows + (ulong)FirstRow) * (ulong)rowLength);

    /// <summary>Whether <paramref name="other"/> is the same slice of the same batch over the same ranks (step buffers sized for one serve the other).</summary>
    public bool SameSlice(BatchShard? other) =>
        other is not null && other.Rows == Rows && other.GlobalRows == GlobalRows && other.FirstRow == FirstRow && ReferenceEquals(other.Collective, Collective);

    /// <summary>Whether to stop after this step: cancellation on any rank stops every rank after the same step (one rank stopping alone would leave the others waiting).</summary>
    public bool StopRequested(CancellationToken cancellation)
    {
        if (Collective.WorldSize == 1)
            return cancellation.IsCancellationRequested;
        Span<int> requests = [cancellation.IsCancellationRequested ? 1 : 0];
        Collective.AllReduceSum(requests);
        return requests[0] > 0;
    }

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
