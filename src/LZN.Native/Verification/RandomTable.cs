using LZN.Native.Backends;
using LZN.Native.Diagnostics;

namespace LZN.Native.Verification;

/// <summary>
/// The counter-based fills against float64 evaluations of the same Philox4x32-10 words: one element, a tail, and
/// a long fill whose counters cross 2^32 (the carry into Philox's second counter word). Uniform and Bernoulli draws
/// are exact in float (24-bit fractions); the normal's log and cos round.
/// </summary>
public static class RandomTable
{
    private const string Family = "random";

    /// <summary>(length, first counter).</summary>
    private static readonly (int Length, ulong Offset)[] Fills = [(1, 0), (1001, 7), (131_075, (1UL << 32) - 5)];

    /// <summary>Each draw against itself, absolute below 1 (a draw near 0 has no digits to lose).</summary>
    private static readonly ErrorMeasure Draw = ErrorMeasure.Relative(floor: 1);

    public static IReadOnlyList<VerificationCase> Cases { get; } = [.. Build()];

    private static IEnumerable<VerificationCase> Build()
    {
        foreach (var (length, offset) in Fills)
        {
            string size = $"{length} from {offset}";
            yield return new VerificationCase(Family, "philox normal", size, run =>
            {
                ulong key = run.Key();
                var values = run.Output("values", length); // [length]
                run.Backend.FillNormal(values, key, offset, 0.5f, 2f);
                // float log, cos and 2 pi u2 move a draw by at most ~7e-6 (|N| < 5.8, the angle off by ~6e-7).
                run.Expect(values, Draws(length, i => 0.5 + 2.0 * ReferenceOps.PhiloxNormal(key, offset + i)), 1e-5, Draw);
            });
            yield return new VerificationCase(Family, "philox uniform", size, run =>
            {
                ulong key = run.Key();
                var values = run.Output("values", length); // [length]
                run.Backend.FillUniform(values, key, offset, -1f, 3f);
                run.Expect(values, Draws(length, i => -1.0 + 4.0 * Philox.Uniform(key, offset + i)), 1e-7, Draw);
            });
            yield return new VerificationCase(Family, "philox bernoulli", size, run =>
            {
                const float probability = 0.8f, value = 1f / probability;
                ulong key = run.Key();
                var values = run.Output("values", length); // [length]
                run.Backend.FillBernoulli(values, key, offset, probability, value);
                // A selection between two given floats: exact.
                run.Expect(values, Draws(length, i => Philox.Uniform(key, offset + i) < probability ? value : 0.0), 0);
            });
        }
    }

    private static double[] Draws(int length, Func<ulong, double> draw)
    {
        var values = new double[length];
        for (int i = 0; i < length; i++)
            values[i] = draw((ulong)i);
        return values;
    }
}
