using System.Runtime.CompilerServices;

namespace LZN.Native.Backends;

/// <summary>
/// Philox4x32-10 (Salmon et al., SC'11), the counter-based generator both backends share:
/// element i of a fill draws from counter (offset + i) under key seed, so a CPU run and a GPU run
/// with the same seed see the same numbers. kernels/random.cu implements the same function.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>2^-24: maps the top 24 bits of a word onto [0, 1) exactly in float32.</summary>
    public const float UnitScale = 1.0f / 16777216.0f;

    /// <summary>The four 32-bit words at <paramref name="counter"/> under <paramref name="seed"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint R0, uint R1, uint R2, uint R3) Generate(ulong seed, ulong counter)
    {
        uint c0 = (uint)counter, c1 = (uint)(counter >> 32), c2 = 0, c3 = 0;
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
            uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += W0;
            k1 += W1;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>U[0, 1) at a counter: the top 24 bits of the first word.</summary>
    public static float Uniform(ulong seed, ulong counter) => (Generate(seed, counter).R0 >> 8) * UnitScale;

    /// <summary>N(0, 1) at a counter: Box-Muller on the first two words (u1 in (0, 1], so the log is finite).</summary>
    public static float Normal(ulong seed, ulong counter)
    {
        var (r0, r1, _, _) = Generate(seed, counter);
        float u1 = ((r0 >> 8) + 1) * UnitScale;
        float u2 = (r1 >> 8) * UnitScale;
        return MathF.Sqrt(-2.0f * MathF.Log(u1)) * MathF.Cos(2.0f * MathF.PI * u2);
    }
}
