using LZN.Native.Backends;

namespace LZN.Native.Verification;

/// <summary>Every family's table, in the order `lzn selftest` prints them (docs/verification.md).</summary>
public static class VerificationTables
{
    public static IReadOnlyList<VerificationCase> All { get; } =
    [
        .. GemmTable.Cases,
        .. ElementwiseTable.Cases,
        .. ReductionTable.Cases,
        .. RandomTable.Cases,
        .. NnTable.Cases,
        .. ZoneTable.Cases,
        .. OptimizerTable.Cases,
        .. FlowMatchingTable.Cases,
    ];

    /// <summary>Runs every case of every table on <paramref name="backend"/> with inputs from <paramref name="seed"/>.</summary>
    public static IReadOnlyList<VerificationResult> Run(IBackend backend, int seed) => [.. All.Select(c => c.Run(backend, seed))];
}
