using LZN.Native.Backends;

namespace LZN.Native.Distributed;

/// <summary>
/// A collective whose messages travel in host memory: device buffers (of any backend) are downloaded into reused host
/// arrays, the host collective runs, and the results are uploaded. On the CPU backend staging is one memcpy each way; on
/// CUDA it is the fallback when NCCL is absent.
/// </summary>
public abstract class HostStagedCollective : ICollective
{
    private float[] _send = []; // [the largest message so far]
    private float[] _receive = []; // [the largest message so far]

    public abstract int Rank { get; }

    public abstract int WorldSize { get; }

    public abstract string Description { get; }

    /// <summary>A host collective from send [elements over ranks, as the call needs] into receive.</summary>
    private delegate void HostCall(Span<float> send, Span<float> receive, int[] elements);

    public void AllGather(FloatBuffer local, FloatBuffer gathered, IReadOnlyList<int> rowCounts, int rowLength) =>
        Staged(local, gathered, CollectiveChecks.Elements(local, gathered, rowCounts, Rank, WorldSize, rowLength), AllGatherHost);

    public void ReduceScatter(FloatBuffer full, FloatBuffer local, IReadOnlyList<int> rowCounts, int rowLength) =>
        Staged(full, local, CollectiveChecks.Elements(local, full, rowCounts, Rank, WorldSize, rowLength), ReduceScatterHost);

    public void AllReduceSum(IReadOnlyList<FloatBuffer> buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        var values = Scratch(ref _send, buffers.Sum(buffer => buffer.Length));
        int offset = 0;
        foreach (var buffer in buffers)
        {
            buffer.Backend.Download(buffer, values.Slice(offset, (int)buffer.Length));
            offset += (int)buffer.Length;
        }
        AllReduceSumHost(values);
        offset = 0;
        foreach (var buffer in buffers)
        {
            buffer.Backend.Upload(values.Slice(offset, (int)buffer.Length), buffer);
            offset += (int)buffer.Length;
        }
    }

    public abstract void AllReduceSum(Span<double> values);

    public abstract void AllReduceSum(Span<int> values);

    public abstract void Broadcast(Span<byte> data, int root);

    public abstract void Barrier();

    public abstract void Abort(int exitCode);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Every rank's <paramref name="send"/> [elements[rank]] into <paramref name="receive"/> [sum elements], in rank order.</summary>
    protected abstract void AllGatherHost(Span<float> send, Span<float> receive, int[] elements);

    /// <summary>The sum over ranks of <paramref name="send"/> [sum elements], this rank's part into <paramref name="receive"/> [elements[rank]].</summary>
    protected abstract void ReduceScatterHost(Span<float> send, Span<float> receive, int[] elements);

    /// <summary>Sums <paramref name="values"/> over the ranks in place.</summary>
    protected abstract void AllReduceSumHost(Span<float> values);

    /// <summary>Downloads <paramref name="source"/>, runs <paramref name="call"/> on the host, uploads its result into <paramref name="destination"/>.</summary>
    private void Staged(FloatBuffer source, FloatBuffer destination, int[] elements, HostCall call)
    {
        var send = Scratch(ref _send, source.Length);
        var receive = Scratch(ref _receive, destination.Length);
        source.Backend.Download(source, send);
        call(send, receive, elements);
        destination.Backend.Upload(receive, destination);
    }

    /// <summary>The first <paramref name="length"/> floats of a host array grown as needed (messages fit int counts).</summary>
    private static Span<float> Scratch(ref float[] array, long length)
    {
        if (length > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(length), length, "one collective message holds at most 2^31 - 1 floats.");
        if (array.Length < length)
            array = new float[length];
        return array.AsSpan(0, (int)length);
    }
}
