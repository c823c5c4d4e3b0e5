namespace LZN.Native.Optim;

/// <summary>
/// Linear learning-rate warm-up: the update with zero-based index n uses factor min(1, (n + 1) / WarmupSteps), so
/// the first update is already non-zero and update WarmupSteps - 1 reaches the full rate (5000 in the reference).
/// </summary>
public sealed record LinearWarmup(long WarmupSteps)
{
    public long WarmupSteps { get; } = WarmupSteps >= 0 ? WarmupSteps : throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, "warm-up steps cannot be negative.");

    /// <summary>The learning-rate multiplier of update <paramref name="updateIndex"/> (0 = the first update).</summary>
    public double Factor(long updateIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(updateIndex);
        return WarmupSteps == 0 ? 1.0 : Math.Min(1.0, (updateIndex + 1.0) / WarmupSteps);
    }
}
