namespace LZN.Native.Kernels;

/// <summary>
/// The per-SM and per-block limits of a compute capability (CUDA C Programming Guide, "Technical Specifications
/// per Compute Capability"), for occupancy computed without a device. The emulated device models the same
/// limits (src/LZN.Emulator/driver/arch.cpp).
/// </summary>
public sealed record GpuArchitectureLimits(int Architecture, int MaxThreadsPerMultiprocessor, int MaxBlocksPerMultiprocessor,
    int RegistersPerMultiprocessor, int SharedBytesPerMultiprocessor, int MaxSharedBytesPerBlockOptin, int ReservedSharedBytesPerBlock)
{
    private static readonly GpuArchitectureLimits[] Known =
    [
        new(75, 1024, 16, 65536, 64 * 1024, 64 * 1024, 0),
        new(80, 2048, 32, 65536, 164 * 1024, 163 * 1024, 1024),
        new(86, 1536, 16, 65536, 100 * 1024, 99 * 1024, 1024),
        new(87, 2048, 32, 65536, 164 * 1024, 163 * 1024, 1024),
        new(89, 1536, 24, 65536, 100 * 1024, 99 * 1024, 1024),
        new(90, 2048, 32, 65536, 228 * 1024, 227 * 1024, 1024),
    ];

    /// <summary>The architectures with a limits table (major * 10 + minor).</summary>
    public static IReadOnlyList<int> Architectures { get; } = [.. Known.Select(limits => limits.Architecture)];

    /// <summary>The limits of sm_<paramref name="architecture"/>, e.g. 90.</summary>
    public static GpuArchitectureLimits For(int architecture) =>
        Known.FirstOrDefault(limits => limits.Architecture == architecture)
            ?? throw new ArgumentException($"sm_{architecture} has no limits table; known: sm_{string.Join(", sm_", Architectures)}.");

    /// <summary>
    /// Blocks one SM holds at once, as cuOccupancyMaxActiveBlocksPerMultiprocessor computes it: the least of the
    /// block, thread, register (allocated per warp in units of 256) and shared-memory limits; 0 when one block
    /// does not fit.
    /// </summary>
    public int ResidentBlocks(int threads, int registers, int sharedBytes)
    {
        if (threads <= 0 || threads > 1024 || sharedBytes > MaxSharedBytesPerBlockOptin)
            return 0;
        int warps = (threads + 31) / 32;
        int blocks = Math.Min(MaxBlocksPerMultiprocessor, MaxThreadsPerMultiprocessor / (warps * 32));
        if (registers > 0)
            blocks = Math.Min(blocks, RegistersPerMultiprocessor / ((registers * 32 + 255) / 256 * 256 * warps));
        if (sharedBytes > 0)
            blocks = Math.Min(blocks, SharedBytesPerMultiprocessor / (sharedBytes + ReservedSharedBytesPerBlock));
        return blocks;
    }
}
