using System.Diagnostics;
using LZN.Native.Backends;

namespace LZN.Native.Distributed;

/// <summary>
/// Passes every call to an inner collective and adds its wall time to <see cref="Elapsed"/> (`lzn bench train` under
/// mpirun: the communication share of a step). The time includes waiting for the slowest rank to arrive, so it is
/// communication plus load imbalance. Disposing it leaves the inner collective alone.
/// </summary>
public sealed class TimedCollective(ICollective inner) : ICollective
{
    private readonly ICollective _inner = inner ?? throw new ArgumentNullException(nameof(inner));
    private readonly Stopwatch _clock = new();

    /// <summary>Wall time spent inside the collectives since the last <see cref="Reset"/>.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    public int Rank => _inner.Rank;

    public int WorldSize => _inner.WorldSize;

    public string Description => _inner.Description;

    public void Reset() => _clock.Reset();

    public void AllGather(FloatBuffer local, FloatBuffer gathered, IReadOnlyList<int> rowCounts, int rowLength) =>
        Time(() => _inner.AllGather(local, gathered, rowCounts, rowLength));

    public void ReduceScatter(FloatBuffer full, FloatBuffer local, IReadOnlyList<int> rowCounts, int rowLength) =>
        Time(() => _inner.ReduceScatter(full, local, rowCounts, rowLength));

    public void AllReduceSum(IReadOnlyList<FloatBuffer> buffers) => Time(() => _inner.AllReduceSum(buffers));

    public void AllReduceSum(Span<double> values)
    {
        _clock.Start();
        _inner.AllReduceSum(values);
        _clock.Stop();
    }

    public void AllReduceSum(Span<int> values)
    {
        _clock.Start();
        _inner.AllReduceSum(values);
        _clock.Stop();
    }

    public void Broadcast(Span<byte> data, int root)
    {
        _clock.Start();
        _inner.Broadcast(data, root);
        _clock.Stop();
    }

    public void Barrier() => Time(_inner.Barrier);

    public void Abort(int exitCode) => _inner.Abort(exitCode);

    public void Dispose()
    {
    }

    private void Time(Action call)
    {
        _clock.Start();
        try
        {
            call();
        }
        finally
        {
            _clock.Stop();
        }
    }
}
