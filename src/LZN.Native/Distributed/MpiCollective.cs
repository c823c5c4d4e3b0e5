using System.Text;
using LZN.Native.Interop;

namespace LZN.Native.Distributed;

/// <summary>An MPI call returned an error class (only when the job's error handler returns errors instead of aborting).</summary>
public sealed class MpiException(string call, int code) : Exception($"{call} failed with MPI error class {code}.")
{
    public int Code { get; } = code;
}

/// <summary>
/// The collectives on MPI_COMM_WORLD of Open MPI (libmpi.so.40 through <see cref="NativeLibraries"/>), on host memory.
/// Creating it initialises MPI (MPI_THREAD_SERIALIZED; the training loop's thread makes every call); disposing it
/// finalises MPI. One per process: MPI cannot be initialised twice.
/// </summary>
public sealed unsafe class MpiCollective : HostStagedCollective
{
    private readonly MpiHandles _handles;
    private bool _finalized;

    public MpiCollective()
    {
        _handles = MpiHandles.Load();
        int initialized = 0, provided = 0, rank = 0, size = 0;
        Check(Mpi.Initialized(&initialized), "MPI_Initialized");
        if (initialized == 0)
            Check(Mpi.InitThread(null, null, Mpi.ThreadSerialized, &provided), "MPI_Init_thread");
        Check(Mpi.CommRank(_handles.CommWorld, &rank), "MPI_Comm_rank");
        Check(Mpi.CommSize(_handles.CommWorld, &size), "MPI_Comm_size");
        Rank = rank;
        WorldSize = size;
        Library = LibraryVersion();
    }

    public override int Rank { get; }

    public override int WorldSize { get; }

    /// <summary>The first line of MPI_Get_library_version, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, ...".</summary>
    public string Library { get; }

    public override string Description => $"MPI ({Library.Split(',')[0]}), {WorldSize} ranks";

    public override void AllReduceSum(Span<double> values)
    {
        fixed (double* pointer = values)
            Check(Mpi.Allreduce(Mpi.InPlace, pointer, values.Length, _handles.Double, _handles.Sum, _handles.CommWorld), "MPI_Allreduce");
    }

    public override void AllReduceSum(Span<int> values)
    {
        fixed (int* pointer = values)
            Check(Mpi.Allreduce(Mpi.InPlace, pointer, values.Length, _handles.Int, _handles.Sum, _handles.CommWorld), "MPI_Allreduce");
    }

    public override void Broadcast(Span<byte> data, int root)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(root);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(root, WorldSize);
        fixed (byte* pointer = data)
            Check(Mpi.Bcast(pointer, data.Length, _handles.Byte, root, _handles.CommWorld), "MPI_Bcast");
    }

    public override void Barrier() => Check(Mpi.Barrier(_handles.CommWorld), "MPI_Barrier");

    /// <summary>MPI_Abort: mpirun ends every rank of the job; this process does not return.</summary>
    public override void Abort(int exitCode) => Mpi.Abort(_handles.CommWorld, exitCode);

    protected override void AllGatherHost(Span<float> send, Span<float> receive, int[] elements)
    {
        var displacements = Displacements(elements);
        fixed (float* sendPointer = send, receivePointer = receive)
        fixed (int* counts = elements, offsets = displacements)
        {
            Check(Mpi.Allgatherv(sendPointer, send.Length, _handles.Float, receivePointer, counts, offsets, _handles.Float, _handles.CommWorld),
                "MPI_Allgatherv");
        }
    }

    protected override void ReduceScatterHost(Span<float> send, Span<float> receive, int[] elements)
    {
        fixed (float* sendPointer = send, receivePointer = receive)
        fixed (int* counts = elements)
            Check(Mpi.ReduceScatter(sendPointer, receivePointer, counts, _handles.Float, _handles.Sum, _handles.CommWorld), "MPI_Reduce_scatter");
    }

    protected override void AllReduceSumHost(Span<float> values)
    {
        fixed (float* pointer = values)
            Check(Mpi.Allreduce(Mpi.InPlace, pointer, values.Length, _handles.Float, _handles.Sum, _handles.CommWorld), "MPI_Allreduce");
    }

    protected override void Dispose(bool disposing)
    {
        if (_finalized)
            return;
        _finalized = true;
        int finalized = 0;
        if (Mpi.Finalized(&finalized) == Mpi.Success && finalized == 0)
            Mpi.Finalize();
    }

    private static int[] Displacements(int[] elements)
    {
        var displacements = new int[elements.Length];
        for (int r = 1; r < elements.Length; r++)
            displacements[r] = checked(displacements[r - 1] + elements[r - 1]);
        return displacements;
    }

    private static string LibraryVersion()
    {
        // MPI_MAX_LIBRARY_VERSION_STRING is 256 in Open MPI's mpi.h.
        var buffer = new byte[256];
        int length = 0;
        fixed (byte* pointer = buffer)
            Check(Mpi.GetLibraryVersion(pointer, &length), "MPI_Get_library_version");
        return Encoding.UTF8.GetString(buffer, 0, Math.Clamp(length, 0, buffer.Length)).Trim('\0', ' ', '\n');
    }

    private static void Check(int code, string call)
    {
        if (code != Mpi.Success)
            throw new MpiException(call, code);
    }
}
