using LZN.Native.Backends;

namespace LZN.Native.Distributed;

/// <summary>
/// The all-gather with its backward, for rows each rank computes for its own slice of the batch but every rank needs in
/// full (the anchors of a latent flow over the global batch): <see cref="Forward"/> gathers every rank's rows,
/// the caller accumulates dLoss/d(gathered rows) into <see cref="Gradient"/>, and <see cref="Backward"/> hands each rank
/// the sum over ranks of its own rows' gradient (a reduce-scatter). In a single process both are the identity and
/// copy nothing. Buffers are allocated once and reused by every step.
/// </summary>
public sealed class GatheredRows : IDisposable
{
    private readonly FloatBuffer? _gathered; // [GlobalRows, rowLength]; null with one rank (the local rows are all rows)
    private readonly FloatBuffer? _localGradient; // [Rows, rowLength]; null with one rank

    public GatheredRows(IBackend backend, BatchShard shard, int rowLength)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(shard);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowLength);
        Shard = shard;
        RowLength = rowLength;
        Gradient = backend.AllocateFloat((long)shard.GlobalRows * rowLength);
        if (shard.Collective.WorldSize > 1)
        {
            _gathered = backend.AllocateFloat((long)shard.GlobalRows * rowLength);
            _localGradient = backend.AllocateFloat((long)shard.Rows * rowLength);
        }
    }

    public BatchShard Shard { get; }

    public int RowLength { get; }

    /// <summary>dLoss/d(gathered rows) [GlobalRows, rowLength], cleared by <see cref="Forward"/>; the caller accumulates into it.</summary>
    public FloatBuffer Gradient { get; }

    /// <summary>Gathers <paramref name="local"/> [Rows, rowLength] of every rank into [GlobalRows, rowLength] (rank order) and clears <see cref="Gradient"/>.</summary>
    public FloatBuffer Forward(FloatBuffer local)
    {
        ArgumentNullException.ThrowIfNull(local);
        Gradient.Backend.Fill(Gradient, 0f);
        if (_gathered is null)
        {
            if (local.Length != Gradient.Length)
                throw new ArgumentException($"the rows hold {local.Length} floats; expected {Shard.Rows} x {RowLength}.", nameof(local));
            return local;
        }
        Shard.Collective.AllGather(local, _gathered, Shard.RowCounts, RowLength);
        return _gathered;
    }

    /// <summary>dLoss/d(this rank's rows) [Rows, rowLength]: this rank's rows of <see cref="Gradient"/> summed over the ranks.</summary>
    public FloatBuffer Backward()
    {
        if (_localGradient is null)
            return Gradient;
        Shard.Collective.ReduceScatter(Gradient, _localGradient, Shard.RowCounts, RowLength);
        return _localGradient;
    }

    public void Dispose()
    {
        _localGradient?.Dispose();
        _gathered?.Dispose();
        Gradient.Dispose();
    }
}
