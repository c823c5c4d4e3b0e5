using System.Runtime.InteropServices;

namespace LZN.Native.Interop;

/// <summary>
/// [LibraryImport] bindings of the few MPI calls data-parallel training needs, on Open MPI's libmpi.so.40 (mpi.h):
/// MPI_Comm, MPI_Datatype and MPI_Op are pointers, and the predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...)
/// are the addresses of exported globals (<see cref="MpiHandles"/>). Every call returns MPI_SUCCESS (0) or an error
/// class; with the default error handler (MPI_ERRORS_ARE_FATAL) an error aborts the job before returning.
/// </summary>
internal static unsafe partial class Mpi
{
    public const int Success = 0;

    /// <summary>MPI_THREAD_SERIALIZED: one thread at a time calls MPI (the training loop's thread).</summary>
    public const int ThreadSerialized = 2;

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Init_thread")]
    public static partial int InitThread(int* argc, byte*** argv, int required, int* provided);

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Initialized")]
    public static partial int Initialized(int* flag);

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Finalized")]
    public static partial int Finalized(int* flag);

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Finalize")]
    public static partial int Finalize();

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Comm_rank")]
    public static partial int CommRank(IntPtr comm, int* rank);

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Comm_size")]
    public static partial int CommSize(IntPtr comm, int* size);

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Get_library_version")]
    public static partial int GetLibraryVersion(byte* version, int* length);

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Allgatherv")]
    public static partial int Allgatherv(void* sendBuffer, int sendCount, IntPtr sendType,
        void* receiveBuffer, int* receiveCounts, int* displacements, IntPtr receiveType, IntPtr comm);

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Reduce_scatter")]
    public static partial int ReduceScatter(void* sendBuffer, void* receiveBuffer, int* receiveCounts, IntPtr type, IntPtr op, IntPtr comm);

    /// <summary>sendBuffer may be <see cref="InPlace"/> (MPI_IN_PLACE): the receive buffer holds the input.</summary>
    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Allreduce")]
    public static partial int Allreduce(void* sendBuffer, void* receiveBuffer, int count, IntPtr type, IntPtr op, IntPtr comm);

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Bcast")]
    public static partial int Bcast(void* buffer, int count, IntPtr type, int root, IntPtr comm);

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Barrier")]
    public static partial int Barrier(IntPtr comm);

    [LibraryImport(NativeLibraries.Mpi, EntryPoint = "MPI_Abort")]
    public static partial int Abort(IntPtr comm, int errorCode);

    /// <summary>MPI_IN_PLACE is ((void *) 1) in Open MPI's mpi.h.</summary>
    public static void* InPlace => (void*)1;
}

/// <summary>
/// Open MPI's predefined handles: mpi.h defines MPI_COMM_WORLD as <c>&amp;ompi_mpi_comm_world</c> (and so on), so the
/// handle is the address of the exported global, which <see cref="NativeLibrary.GetExport"/> returns.
/// </summary>
internal sealed class MpiHandles
{
    private MpiHandles(IntPtr library)
    {
        IntPtr Export(string name) => NativeLibrary.TryGetExport(library, name, out var address)
            ? address : throw new EntryPointNotFoundException($"libmpi exports no '{name}': not Open MPI's ABI.");
        CommWorld = Export("ompi_mpi_comm_world");
        Float = Export("ompi_mpi_float");
        Double = Export("ompi_mpi_double");
        Int = Export("ompi_mpi_int");
        Byte = Export("ompi_mpi_byte");
        Sum = Export("ompi_mpi_op_sum");
    }

    public IntPtr CommWorld { get; }

    public IntPtr Float { get; }

    public IntPtr Double { get; }

    public IntPtr Int { get; }

    public IntPtr Byte { get; }

    public IntPtr Sum { get; }

    /// <summary>The handles of the libmpi the resolver loads; throws listing every attempt when none loads.</summary>
    public static MpiHandles Load() => new(NativeLibraries.Require(NativeLibraries.Mpi).Handle);
}
