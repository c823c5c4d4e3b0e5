using LZN.Native.Backends;

namespace LZN.Native.Zones;

/// <summary>
/// The anchors a flow runs over: A [Count, Dim] and optional class log-priors b [Count]
/// (null = uniform). All flows run on <see cref="Backend"/>, the backend that owns <see cref="Anchors"/>.
/// </summary>
public readonly record struct ZoneAnchors(FloatBuffer Anchors, int Count, int Dim, FloatBuffer? LogPriors = null)
{
    /// <summary>
    /// The largest magnitude of an anchor, prior or latent value the flows are meant for: the squared distances they
    /// take stay inside float32's range up to ten million dimensions, and far larger values would overflow to
    /// infinity and make every zone arbitrary. Readers of user data (`lzn zones`) refuse values beyond it.
    /// </summary>
    public const float MaxMagnitude = 1e15f;

    public IBackend Backend => Anchors.Backend;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Dim);
        ZoneChecks.Length(Anchors, (long)Count * Dim, nameof(Anchors));
        if (LogPriors is not null)
            ZoneChecks.Length(LogPriors, Count, nameof(LogPriors));
    }
}

/// <summary>Argument checks shared by the zone flows.</summary>
internal static class ZoneChecks
{
    public static void Length<T>(DeviceBuffer<T>? buffer, long expected, string name) where T : unmanaged
    {
        if (buffer is not null && buffer.Length != expected)
            throw new ArgumentException($"{name} has {buffer.Length} elements; expected {expected}.", name);
    }
}
