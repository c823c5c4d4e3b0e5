namespace LZN.Native.Backends.Cpu;

/// <summary>
/// Counter-based fills: element i is exactly mean + std * Philox.Normal(seed, offset + i) (or the uniform
/// analogue), so any split of the buffer over threads yields the same numbers as the scalar definition.
/// </summary>
public sealed partial class CpuBackend
{
    /// <summary>Ten Philox rounds (plus log/cos for normals) per element: fills pay for threads far sooner than arithmetic.</summary>
    private const int RandomParallelThreshold = 1 << 12;

    public void FillNormal(FloatBuffer destination, ulong seed, ulong offset, float mean, float std)
    {
        var cd = Cast(destination);
        CpuParallel.ForChunks((int)cd.Length, (start, count) =>
        {
            var span = cd.Span.Slice(start, count);
            ulong first = offset + (ulong)start;
            for (int i = 0; i < span.Length; i++)
                span[i] = mean + std * Philox.Normal(seed, first + (ulong)i);
        }, RandomParallelThreshold);
    }

    public void FillUniform(FloatBuffer destination, ulong seed, ulong offset, float low, float high)
    {
        var cd = Cast(destination);
        float width = high - low;
        CpuParallel.ForChunks((int)cd.Length, (start, count) =>
        {
            var span = cd.Span.Slice(start, count);
            ulong first = offset + (ulong)start;
            for (int i = 0; i < span.Length; i++)
                span[i] = low + width * Philox.Uniform(seed, first + (ulong)i);
        }, RandomParallelThreshold);
    }

    public void FillBernoulli(FloatBuffer destination, ulong seed, ulong offset, float probability, float value)
    {
        var cd = Cast(destination);
        CpuParallel.ForChunks((int)cd.Length, (start, count) =>
        {
            var span = cd.Span.Slice(start, count);
            ulong first = offset + (ulong)start;
            for (int i = 0; i < span.Length; i++)
                span[i] = Philox.Uniform(seed, first + (ulong)i) < probability ? value : 0f;
        }, RandomParallelThreshold);
    }
}
