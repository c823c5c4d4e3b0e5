namespace LZN.Native.Optim;

/// <summary>
/// The learning-rate multiplier per update: a linear warm-up, then either the full rate (DecaySteps = 0, the
/// reference's schedule) or a cosine decay that reaches 0 at update DecaySteps.
/// Update n (0-based) uses w(n) = min(1, (n + 1) / WarmupSteps) (1 without warm-up), so the first update is already
/// non-zero and update WarmupSteps - 1 reaches the full rate (5000 in the reference); with decay it is multiplied by
/// (1 + cos(pi min(1, n / DecaySteps))) / 2. Short runs end much better with the decay (docs/training.md).
/// </summary>
public sealed record LearningRateSchedule
{
    public LearningRateSchedule(long warmupSteps, long decaySteps = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(warmupSteps);
        ArgumentOutOfRangeException.ThrowIfNegative(decaySteps);
        WarmupSteps = warmupSteps;
        DecaySteps = decaySteps;
    }

    public long WarmupSteps { get; }

    /// <summary>Update index at which the cosine decay reaches 0 (0 = no decay).</summary>
    public long DecaySteps { get; }

    /// <summary>The learning-rate multiplier of update <paramref name="updateIndex"/> (0 = the first update).</summary>
    public double Factor(long updateIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(updateIndex);
        double warmup = WarmupSteps == 0 ? 1.0 : Math.Min(1.0, (updateIndex + 1.0) / WarmupSteps);
        if (DecaySteps == 0)
            return warmup;
        double progress = Math.Min(1.0, (double)updateIndex / DecaySteps);
        return warmup * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }
}
