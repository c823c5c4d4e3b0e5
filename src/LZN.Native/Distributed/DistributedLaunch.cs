using System.Globalization;

namespace LZN.Native.Distributed;

/// <summary>
/// Whether this process was started by a launcher as one rank of several: Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE
/// and OMPI_COMM_WORLD_RANK in every rank's environment before it starts. Without them nothing MPI-related loads.
/// </summary>
public static class DistributedLaunch
{
    public const string SizeVariable = "OMPI_COMM_WORLD_SIZE";
    public const string RankVariable = "OMPI_COMM_WORLD_RANK";

    /// <summary>The launcher's world size, or 1 without a launcher (or with a value that is not a positive integer).</summary>
    public static int WorldSize => Read(SizeVariable) is int size and > 0 ? size : 1;

    /// <summary>The launcher's rank, or 0 without a launcher.</summary>
    public static int Rank => Read(RankVariable) is int rank and >= 0 ? rank : 0;

    /// <summary>True when mpirun started this process (even as a job of one rank).</summary>
    public static bool UnderMpi => Read(SizeVariable) is > 0;

    /// <summary>LZN_COLLECTIVE=mpi keeps device buffers on MPI through host staging even where NCCL loads.</summary>
    public const string CollectiveVariable = "LZN_COLLECTIVE";

    /// <summary>MPI on MPI_COMM_WORLD when mpirun started this process, otherwise the single-process identity.</summary>
    public static ICollective Create() => UnderMpi ? new MpiCollective() : SingleProcessCollective.Instance;

    /// <summary>
    /// NCCL over <paramref name="host"/>'s ranks for a CUDA backend when NCCL loads (and LZN_COLLECTIVE is not mpi), to be
    /// disposed before the backend; null where <paramref name="host"/> itself serves (one rank, the CPU, no NCCL: MPI
    /// stages device buffers through the host).
    /// </summary>
    public static NcclCollective? ForDevice(ICollective host, Backends.IBackend backend)
    {
        ArgumentNullException.ThrowIfNull(host);
        bool mpiOnly = string.Equals(Environment.GetEnvironmentVariable(CollectiveVariable), "mpi", StringComparison.OrdinalIgnoreCase);
        return host.WorldSize > 1 && !mpiOnly && backend is Backends.Cuda.CudaBackend cuda && NcclCollective.IsAvailable
            ? new NcclCollective(host, cuda)
            : null;
    }

    private static int? Read(string variable) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : null;
}
