namespace LZN.Native.Backends.Cpu;

/// <summary>
/// Counter-based fills: element i is exactly mean + std * Philox.Normal(seed, offset + i) (or the uniform and
/// Bernoulli analogues), so any split of the buffer over threads yields the same numbers as the scalar definition.
/// </summary>
public sealed partial class CpuBackend
{
    /// <summary>Ten Philox rounds (plus log/cos for normals) per element: fills pay for threads far sooner than arithmetic.</summary>
    private const int RandomParallelThreshold = 1 << 12;

    public void FillNormal(FloatBuffer destination, ulong seed, ulong offset, float mean, float std) =>
        FillByCounter(destination, offset, counter => mean + std * Philox.Normal(seed, counter));

    public void FillUniform(FloatBuffer destination, ulong seed, ulong offset, float low, float high)
    {
        float width = high - low;
        FillByCounter(destination, offset, counter => low + width * Philox.Uniform(seed, counter));
    }

    public void FillBernoulli(FloatBuffer destination, ulong seed, ulong offset, float probability, float value) =>
        FillByCounter(destination, offset, counter => Philox.Uniform(seed, counter) < probability ? value : 0f);

    /// <summary>Element i = draw(offset + i), over threads in chunks (a delegate call is small beside ten Philox rounds).</summary>
    private void FillByCounter(FloatBuffer destination, ulong offset, Func<ulong, float> draw)
    {
        var cd = Cast(destination);
        CpuParallel.ForChunks((int)cd.Length, (start, count) =>
        {
            var span = cd.Span.Slice(start, count);
            ulong first = offset + (ulong)start;
            for (int i = 0; i < span.Length; i++)
                span[i] = draw(first + (ulong)i);
        }, RandomParallelThreshold);
    }
}
