using LZN.Native.Backends;

namespace LZN.Native.Verification;

/// <summary>
/// One entry of a verification table (docs/verification.md): an op of a family at one size, written once.
/// Its body builds deterministic inputs from the run's generator, calls the backend, and states every output's
/// float64 expectation and bound; NUnit runs it on every backend and `lzn selftest` runs it on the chosen one.
/// </summary>
public sealed class VerificationCase(string family, string op, string size, Action<CaseRun> body)
{
    public string Family { get; } = family;

    public string Op { get; } = op;

    public string Size { get; } = size;

    /// <summary>"op size": the test's name.</summary>
    public string Name => $"{Op} {Size}";

    /// <summary>
    /// Runs the case on <paramref name="backend"/> with inputs drawn from <paramref name="seed"/> mixed with the
    /// case's name, so a case sees the same inputs whether it runs alone or after the rest of its table.
    /// </summary>
    public VerificationResult Run(IBackend backend, int seed)
    {
        ArgumentNullException.ThrowIfNull(backend);
        using var run = new CaseRun(backend, InputSeed(seed));
        body(run);
        return run.Finish(this);
    }

    public override string ToString() => Name;

    // FNV-1a over the family and name: stable across processes, unlike string.GetHashCode.
    private int InputSeed(int seed)
    {
        uint hash = 2166136261;
        foreach (char character in $"{Family}/{Name}")
            hash = (hash ^ character) * 16777619;
        return (int)(hash ^ (uint)seed);
    }
}

/// <summary>
/// A case's outcome: the error and bound of its worst check (the largest error / bound), and, when it failed, what
/// failed first: an element outside its bound, an element left unwritten (still NaN), a margin around a slice that
/// was written, or an input that changed.
/// </summary>
public sealed record VerificationResult(VerificationCase Case, double Error, double Bound, string? Failure)
{
    public bool Passed => Failure is null;
}
