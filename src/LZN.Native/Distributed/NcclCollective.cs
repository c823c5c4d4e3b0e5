using LZN.Native.Backends;
using LZN.Native.Backends.Cuda;
using LZN.Native.Interop;

namespace LZN.Native.Distributed;

/// <summary>
/// NCCL on the CUDA backend's buffers, queued on its stream: rank 0's unique id travels to the others over the host
/// collective (MPI), which also carries the host values (class counts, loss terms). NCCL's all-gather and
/// reduce-scatter need equal counts per rank, so uneven shards are padded to the largest: rows go through padded
/// device buffers [R, maxRows, rowLength], and only the real rows are copied out. Written from nccl.h and tested
/// against its contract only: NCCL is not installed where the tests run (docs/distributed.md).
/// </summary>
public sealed unsafe class NcclCollective : ICollective
{
    private readonly ICollective _host;
    private readonly CudaBackend _backend;
    private readonly NcclCommunicator _communicator;
    private FloatBuffer? _padded; // [R, maxRows, rowLength] for the largest message so far
    private FloatBuffer? _slot; // [maxRows, rowLength] for the largest message so far

    /// <summary>Joins the NCCL communicator of every rank of <paramref name="host"/> (a collective call: all ranks at once).</summary>
    public NcclCollective(ICollective host, CudaBackend backend)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(backend);
        _host = host;
        _backend = backend;
        NcclUniqueId id = default;
        if (host.Rank == 0)
            Nccl.ThrowIfFailed(Nccl.GetUniqueId(&id), "ncclGetUniqueId");
        host.Broadcast(new Span<byte>(id.Internal, NcclUniqueId.Bytes), 0);
        _communicator = NcclCommunicator.Create(backend.Context, id, host.WorldSize, host.Rank);
        int version = 0;
        Nccl.ThrowIfFailed(Nccl.GetVersion(&version), "ncclGetVersion");
        Version = version;
    }

    /// <summary>NCCL_VERSION_CODE of the library, e.g. 22803 for 2.28.3.</summary>
    public int Version { get; }

    public int Rank => _host.Rank;

    public int WorldSize => _host.WorldSize;

    public string Description => $"NCCL {Version / 10000}.{Version / 100 % 100}.{Version % 100} (host values over {_host.Description})";

    /// <summary>Whether NCCL can be loaded here (through the project's resolver, which records every attempt).</summary>
    public static bool IsAvailable => NativeLibraries.TryLoad(NativeLibraries.Nccl).Loaded;

    public void AllGather(FloatBuffer local, FloatBuffer gathered, IReadOnlyList<int> rowCounts, int rowLength)
    {
        var elements = CollectiveChecks.Elements(local, gathered, rowCounts, Rank, WorldSize, rowLength);
        long slot = elements.Max();
        var (padded, mine) = Padded(slot);
        _backend.Copy(local, mine.Slice(0, local.Length));
        Nccl.ThrowIfFailed(Nccl.AllGather(CudaBackend.Pointer(mine), CudaBackend.Pointer(padded), (nuint)slot, NcclDataType.Float32,
            _communicator.Handle, _backend.StreamHandle), "ncclAllGather");
        long offset = 0;
        for (int rank = 0; rank < WorldSize; rank++)
        {
            _backend.Copy(padded.Slice(rank * slot, elements[rank]), gathered.Slice(offset, elements[rank]));
            offset += elements[rank];
        }
    }

    public void ReduceScatter(FloatBuffer full, FloatBuffer local, IReadOnlyList<int> rowCounts, int rowLength)
    {
        var elements = CollectiveChecks.Elements(local, full, rowCounts, Rank, WorldSize, rowLength);
        long slot = elements.Max();
        var (padded, mine) = Padded(slot);
        long offset = 0;
        for (int rank = 0; rank < WorldSize; rank++)
        {
            _backend.Copy(full.Slice(offset, elements[rank]), padded.Slice(rank * slot, elements[rank]));
            offset += elements[rank];
        }
        Nccl.ThrowIfFailed(Nccl.ReduceScatter(CudaBackend.Pointer(padded), CudaBackend.Pointer(mine), (nuint)slot, NcclDataType.Float32,
            NcclReduction.Sum, _communicator.Handle, _backend.StreamHandle), "ncclReduceScatter");
        _backend.Copy(mine.Slice(0, local.Length), local);
    }

    public void AllReduceSum(IReadOnlyList<FloatBuffer> buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        // One group: NCCL fuses the in-place all-reduces of every buffer into one launch.
        Nccl.ThrowIfFailed(Nccl.GroupStart(), "ncclGroupStart");
        try
        {
            foreach (var buffer in buffers)
            {
                ulong pointer = CudaBackend.Pointer(buffer);
                Nccl.ThrowIfFailed(Nccl.AllReduce(pointer, pointer, (nuint)buffer.Length, NcclDataType.Float32, NcclReduction.Sum,
                    _communicator.Handle, _backend.StreamHandle), "ncclAllReduce");
            }
        }
        finally
        {
            Nccl.ThrowIfFailed(Nccl.GroupEnd(), "ncclGroupEnd");
        }
    }

    public void AllReduceSum(Span<double> values) => _host.AllReduceSum(values);

    public void AllReduceSum(Span<int> values) => _host.AllReduceSum(values);

    public void Broadcast(Span<byte> data, int root) => _host.Broadcast(data, root);

    public void Barrier() => _host.Barrier();

    public void Abort(int exitCode) => _host.Abort(exitCode);

    /// <summary>Destroys the communicator; the host collective stays with its owner.</summary>
    public void Dispose()
    {
        _backend.Synchronize();
        _communicator.Dispose();
        _slot?.Dispose();
        _padded?.Dispose();
    }

    /// <summary>The padded buffer of every rank's slot [R, slot] and this rank's slot [slot], grown as needed.</summary>
    private (FloatBuffer Padded, FloatBuffer Mine) Padded(long slot)
    {
        if (_slot is null || _slot.Length < slot)
        {
            _slot?.Dispose();
            _padded?.Dispose();
            _slot = null;
            _padded = null;
            _slot = _backend.AllocateFloat(slot);
            _padded = _backend.AllocateFloat(slot * WorldSize);
        }
        _backend.Fill(_slot, 0f);
        return (_padded!.Slice(0, slot * WorldSize), _slot.Slice(0, slot));
    }
}
