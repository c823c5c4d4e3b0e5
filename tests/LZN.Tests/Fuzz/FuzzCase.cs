namespace LZN.Tests.Fuzz;

/// <summary>What lzn must do with a fuzz case's input.</summary>
internal enum Expectation
{
    /// <summary>The input is valid: lzn exits 0.</summary>
    Valid,

    /// <summary>The input is invalid: lzn exits 2 with one "lzn: error:" line.</summary>
    Rejected,
}

/// <summary>How a case ended, judged against its expectation.</summary>
internal enum Verdict
{
    Pass,

    /// <summary>An unhandled exception (stack trace) or an exit code other than 0 and 2.</summary>
    Crash,

    /// <summary>Still running after <see cref="FuzzRunner.HangLimit"/>.</summary>
    Hang,

    /// <summary>Exit code 0 on an input that is invalid.</summary>
    SilentGarbage,

    /// <summary>A valid input refused.</summary>
    FalseRejection,

    /// <summary>Refused, but not with exactly one "lzn: error:" line.</summary>
    UnclearRejection,
}

/// <summary>
/// One generated input: its files (name to bytes, written into the case's own folder), the lzn command line that reads
/// them ({case} and {shared} stand for the case's folder and the folder of the unmutated bases), and the outcome its
/// mutation implies, decided when it was made (by construction, not by running a reader).
/// </summary>
internal sealed record FuzzCase(int Index, string Family, string Mutation, Expectation Expected, IReadOnlyDictionary<string, byte[]> Files, string[] Arguments)
{
    public override string ToString() => $"#{Index} {Family}/{Mutation} (expected {Expected}): lzn {string.Join(' ', Arguments)}";
}

/// <summary>The outcome of one case.</summary>
internal sealed record FuzzResult(FuzzCase Case, Verdict Verdict, int? ExitCode, TimeSpan Elapsed, string Error);
