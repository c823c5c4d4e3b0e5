using LZN.Native.Backends;

namespace LZN.Native.Distributed;

/// <summary>
/// The collectives data-parallel training needs, over the ranks of one job (rank r of <see cref="WorldSize"/>). Every
/// rank must make the same calls in the same order with matching sizes; a call returns when this rank's part is done.
/// Implementations: <see cref="SingleProcessCollective"/> (one rank, identity), <see cref="MpiCollective"/> (MPI on
/// host memory, device buffers staged through the host).
/// Rows are split over ranks by <see cref="BatchShard"/>: rank r owns rows [first_r, first_r + rowCounts[r]).
/// </summary>
public interface ICollective : IDisposable
{
    int Rank { get; }

    int WorldSize { get; }

    /// <summary>What carries the messages, e.g. "MPI (Open MPI v4.1.4), 2 ranks".</summary>
    string Description { get; }

    /// <summary>
    /// All-gather of rows: every rank's <paramref name="local"/> [rowCounts[rank], rowLength] lands, in rank order, in
    /// <paramref name="gathered"/> [sum rowCounts, rowLength] on every rank. Its backward is <see cref="ReduceScatter"/>.
    /// </summary>
    void AllGather(FloatBuffer local, FloatBuffer gathered, IReadOnlyList<int> rowCounts, int rowLength);

    /// <summary>
    /// Sums <paramref name="full"/> [sum rowCounts, rowLength] over the ranks and writes this rank's rows of the sum into
    /// <paramref name="local"/> [rowCounts[rank], rowLength]: the gradient of <see cref="AllGather"/>.
    /// </summary>
    void ReduceScatter(FloatBuffer full, FloatBuffer local, IReadOnlyList<int> rowCounts, int rowLength);

    /// <summary>Sums every buffer over the ranks in place (all of them in one message); every rank gets the same sums.</summary>
    void AllReduceSum(IReadOnlyList<FloatBuffer> buffers);

    /// <summary>Sums host values over the ranks in place.</summary>
    void AllReduceSum(Span<double> values);

    /// <summary>Sums host counts over the ranks in place.</summary>
    void AllReduceSum(Span<int> values);

    /// <summary>Copies <paramref name="data"/> of rank <paramref name="root"/> into every rank's <paramref name="data"/> (same length everywhere).</summary>
    void Broadcast(Span<byte> data, int root);

    void Barrier();

    /// <summary>Ends every rank of the job with <paramref name="exitCode"/> (MPI_Abort); in a single process it returns.</summary>
    void Abort(int exitCode);
}
