using System.Runtime.InteropServices;
using LZN.Native.Interop.Cuda;

namespace LZN.Native.Interop;

/// <summary>ncclResult_t (nccl.h).</summary>
internal enum NcclResult
{
    Success = 0,
    UnhandledCudaError = 1,
    SystemError = 2,
    InternalError = 3,
    InvalidArgument = 4,
    InvalidUsage = 5,
    RemoteError = 6,
    InProgress = 7,
}

/// <summary>ncclDataType_t (nccl.h): the types the collectives use.</summary>
internal enum NcclDataType
{
    Int32 = 2,
    Float32 = 7,
    Float64 = 8,
}

/// <summary>ncclRedOp_t (nccl.h).</summary>
internal enum NcclReduction
{
    Sum = 0,
}

/// <summary>ncclUniqueId: NCCL_UNIQUE_ID_BYTES (128) opaque bytes, passed by value to ncclCommInitRank.</summary>
[StructLayout(LayoutKind.Sequential, Size = Bytes)]
internal unsafe struct NcclUniqueId
{
    public const int Bytes = 128;

    public fixed byte Internal[Bytes];
}

/// <summary>
/// [LibraryImport] bindings of NCCL (nccl.h, from the CUDA 13 header digest; NCCL 2.x ABI): ncclComm_t and cudaStream_t
/// are pointers, counts are size_t (elements, not bytes).
/// </summary>
internal static unsafe partial class Nccl
{
    [LibraryImport(NativeLibraries.Nccl, EntryPoint = "ncclGetVersion")]
    public static partial NcclResult GetVersion(int* version);

    [LibraryImport(NativeLibraries.Nccl, EntryPoint = "ncclGetUniqueId")]
    public static partial NcclResult GetUniqueId(NcclUniqueId* uniqueId);

    [LibraryImport(NativeLibraries.Nccl, EntryPoint = "ncclCommInitRank")]
    public static partial NcclResult CommInitRank(IntPtr* comm, int ranks, NcclUniqueId commId, int rank);

    [LibraryImport(NativeLibraries.Nccl, EntryPoint = "ncclCommDestroy")]
    public static partial NcclResult CommDestroy(IntPtr comm);

    [LibraryImport(NativeLibraries.Nccl, EntryPoint = "ncclAllGather")]
    public static partial NcclResult AllGather(ulong sendBuffer, ulong receiveBuffer, nuint sendCount, NcclDataType type, IntPtr comm, IntPtr stream);

    [LibraryImport(NativeLibraries.Nccl, EntryPoint = "ncclReduceScatter")]
    public static partial NcclResult ReduceScatter(ulong sendBuffer, ulong receiveBuffer, nuint receiveCount, NcclDataType type, NcclReduction op,
        IntPtr comm, IntPtr stream);

    [LibraryImport(NativeLibraries.Nccl, EntryPoint = "ncclAllReduce")]
    public static partial NcclResult AllReduce(ulong sendBuffer, ulong receiveBuffer, nuint count, NcclDataType type, NcclReduction op,
        IntPtr comm, IntPtr stream);

    [LibraryImport(NativeLibraries.Nccl, EntryPoint = "ncclGroupStart")]
    public static partial NcclResult GroupStart();

    [LibraryImport(NativeLibraries.Nccl, EntryPoint = "ncclGroupEnd")]
    public static partial NcclResult GroupEnd();

    [LibraryImport(NativeLibraries.Nccl, EntryPoint = "ncclGetErrorString")]
    public static partial byte* GetErrorString(NcclResult result);

    public static void ThrowIfFailed(NcclResult result, string call)
    {
        if (result != NcclResult.Success)
            throw new NcclException(call, result, Marshal.PtrToStringUTF8((IntPtr)GetErrorString(result)) ?? result.ToString());
    }
}

/// <summary>An NCCL call failed; the message names the call and NCCL's own description.</summary>
public sealed class NcclException : Exception
{
    internal NcclException(string call, NcclResult result, string description)
        : base($"{call} failed: {description} ({result}).") => Code = (int)result;

    public int Code { get; }
}

/// <summary>
/// An NCCL communicator (ncclComm_t), a SafeHandle bound to its device's context like the CUDA handles (CudaHandles.cs
/// has the rules). Disposed, it is destroyed (ncclCommDestroy, which flushes the communicator's queued collectives).
/// Found unreachable by the finalizer, it is left to the process's exit instead: that flush can wait on peers that
/// have stopped, and a blocked finalizer thread would stall every other finalizer of the process.
/// </summary>
internal sealed unsafe class NcclCommunicator : ContextBoundHandle
{
    private bool _finalizing;

    private NcclCommunicator(PrimaryContext context, IntPtr handle)
        : base(context, handle)
    {
    }

    /// <summary>ncclCommInitRank on <paramref name="context"/>'s device: every rank calls it with the same id (rank 0's, broadcast) and its own rank.</summary>
    public static NcclCommunicator Create(PrimaryContext context, NcclUniqueId id, int ranks, int rank)
    {
        IntPtr handle;
        Nccl.ThrowIfFailed(Nccl.CommInitRank(&handle, ranks, id, rank), "ncclCommInitRank");
        return new NcclCommunicator(context, handle);
    }

    protected override void Dispose(bool disposing)
    {
        _finalizing = !disposing;
        base.Dispose(disposing);
    }

    protected override bool Destroy(IntPtr value) => _finalizing || Nccl.CommDestroy(value) == NcclResult.Success;
}
