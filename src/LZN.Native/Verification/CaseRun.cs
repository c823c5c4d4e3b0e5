using System.Globalization;
using System.Runtime.CompilerServices;
using LZN.Native.Backends;

namespace LZN.Native.Verification;

/// <summary>
/// What a case body works with: the backend, a seeded generator for its inputs, device buffers that are slices of
/// larger buffers whose margins hold a sentinel (a read outside the slice turns the result NaN, a write there is seen
/// bit for bit), outputs poisoned with NaN (an element left unwritten fails), and the checks the body states. At the
/// end the margins and the inputs are checked too, and everything the run allocated is freed.
/// </summary>
public sealed class CaseRun : IDisposable
{
    /// <summary>Sentinel elements on each side of every buffer the run hands out.</summary>
    private const int Margin = 5;

    /// <summary>The sentinel of index buffers: negative, so an index read outside its slice is out of range.</summary>
    private const int IndexSentinel = -0x5A5A5A5;

    /// <summary>The sentinel of float buffers: a quiet NaN with a payload no arithmetic produces.</summary>
    private const int SentinelBits = 0x7FC05A5A;

    private readonly Random _random;
    private readonly List<FloatSlice> _floats = [];
    private readonly List<IntSlice> _ints = [];
    private readonly List<(string Output, double Error, double Bound, string? Failure)> _checks = [];

    internal CaseRun(IBackend backend, int seed)
    {
        Backend = backend;
        _random = new Random(seed);
    }

    public IBackend Backend { get; }

    private static float Sentinel => BitConverter.Int32BitsToSingle(SentinelBits);

    // ---- inputs -------------------------------------------------------------------------------

    /// <summary>U[-scale, scale) draws.</summary>
    public float[] Uniform(int length, float scale = 1)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
            values[i] = scale * (2 * _random.NextSingle() - 1);
        return values;
    }

    /// <summary>N(0, scale^2) draws (Box-Muller), rounded to float so the reference sees what the backend sees.</summary>
    public float[] Normal(int length, double scale = 1)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            double u1 = 1.0 - _random.NextDouble(), u2 = _random.NextDouble();
            values[i] = (float)(scale * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
        }
        return values;
    }

    /// <summary>Integers in [0, maxExclusive).</summary>
    public int[] Integers(int length, int maxExclusive)
    {
        var values = new int[length];
        for (int i = 0; i < length; i++)
            values[i] = _random.Next(maxExclusive);
        return values;
    }

    /// <summary>An integer in [0, maxExclusive).</summary>
    public int Next(int maxExclusive) => _random.Next(maxExclusive);

    /// <summary>A key for a counter-based generator (Philox).</summary>
    public ulong Key() => (ulong)_random.NextInt64();

    public static double[] Widen(ReadOnlySpan<float> values)
    {
        var wide = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
            wide[i] = values[i];
        return wide;
    }

    // ---- device buffers -----------------------------------------------------------------------

    /// <summary>A read-only input: at the end it must hold exactly these values, and its margins the sentinel.</summary>
    public FloatBuffer Input(float[] values, [CallerArgumentExpression(nameof(values))] string name = "") =>
        Slice(name, values, readOnly: true);

    /// <summary>A read-only index input, checked like <see cref="Input(float[], string)"/>.</summary>
    public IntBuffer Input(int[] values, [CallerArgumentExpression(nameof(values))] string name = "")
    {
        ArgumentNullException.ThrowIfNull(values);
        var padded = new int[values.Length + 2 * Margin]; // [margin + length + margin]
        Array.Fill(padded, IndexSentinel);
        values.CopyTo(padded, Margin);
        var owner = Backend.FromHost(padded);
        _ints.Add(new IntSlice(name, owner, values));
        return owner.Slice(Margin, values.Length);
    }

    /// <summary>A buffer the op updates in place (an accumulator, y of axpby): starts at these values.</summary>
    public FloatBuffer InOut(float[] values, [CallerArgumentExpression(nameof(values))] string name = "") =>
        Slice(name, values, readOnly: false);

    /// <summary>An output of <paramref name="length"/> elements, every one NaN until the op writes it.</summary>
    public FloatBuffer Output(string name, long length)
    {
        var poison = new float[length];
        Array.Fill(poison, float.NaN);
        return Slice(name, poison, readOnly: false);
    }

    private FloatBuffer Slice(string name, float[] values, bool readOnly)
    {
        ArgumentNullException.ThrowIfNull(values);
        var padded = new float[values.Length + 2 * Margin]; // [margin + length + margin]
        Array.Fill(padded, Sentinel);
        values.CopyTo(padded, Margin);
        var owner = Backend.FromHost(padded);
        _floats.Add(new FloatSlice(name, owner, readOnly ? (float[])values.Clone() : null));
        return owner.Slice(Margin, values.Length);
    }

    // ---- checks -------------------------------------------------------------------------------

    /// <summary>Reads <paramref name="actual"/> now and holds it against its float64 expectation.</summary>
    public void Expect(FloatBuffer actual, double[] expected, double bound, ErrorMeasure? measure = null,
        [CallerArgumentExpression(nameof(actual))] string output = "")
    {
        ArgumentNullException.ThrowIfNull(actual);
        var (error, failure) = (measure ?? ErrorMeasure.MaxRelative).Evaluate(output, Widen(actual.ToArray()), expected, bound);
        _checks.Add((output, error, bound, failure));
    }

    /// <summary>
    /// An accumulated output (a gradient the op adds to): reads <paramref name="actual"/> now and holds what the op
    /// added to <paramref name="start"/> against <paramref name="expectedIncrement"/>, so the bound applies to the
    /// op's own contribution and an op that overwrote instead of adding fails by the size of the start.
    /// </summary>
    public void ExpectIncrement(FloatBuffer actual, float[] start, double[] expectedIncrement, double bound, ErrorMeasure? measure = null,
        [CallerArgumentExpression(nameof(actual))] string output = "")
    {
        ArgumentNullException.ThrowIfNull(actual);
        ArgumentNullException.ThrowIfNull(start);
        double[] increment = Widen(actual.ToArray());
        for (int i = 0; i < increment.Length && i < start.Length; i++)
            increment[i] -= start[i];
        var (error, failure) = (measure ?? ErrorMeasure.MaxRelative).Evaluate($"{output} increment", increment, expectedIncrement, bound);
        _checks.Add((output, error, bound, failure));
    }

    /// <summary>A value the op returned to the host (a loss), against its expectation: |a - e| / |e|.</summary>
    public void Expect(double actual, double expected, double bound, [CallerArgumentExpression(nameof(actual))] string output = "")
    {
        double error = Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-30);
        error = double.IsNaN(error) ? double.PositiveInfinity : error;
        string? failure = error <= bound ? null : string.Create(CultureInfo.InvariantCulture,
            $"{output} is {actual:R}, expected {expected:R} (error {ErrorMeasure.Format(error)} > bound {ErrorMeasure.Format(bound)})");
        _checks.Add((output, error, bound, failure));
    }

    /// <summary>Checks the margins and inputs, and folds every check into the case's result.</summary>
    internal VerificationResult Finish(VerificationCase verificationCase)
    {
        if (_checks.Count == 0)
            throw new InvalidOperationException($"The case {verificationCase.Name} checks nothing.");
        var failures = _checks.Where(check => check.Failure is not null).Select(check => check.Failure!).ToList();
        foreach (var slice in _floats)
            failures.AddRange(slice.Problems());
        foreach (var slice in _ints)
            failures.AddRange(slice.Problems());
        var worst = _checks.MaxBy(check => Ratio(check.Error, check.Bound));
        string? failure = failures.Count switch
        {
            0 => null,
            1 => failures[0],
            _ => $"{failures[0]} (and {failures.Count - 1} more)",
        };
        return new VerificationResult(verificationCase, worst.Error, worst.Bound, failure);
    }

    private static double Ratio(double error, double bound) => bound > 0 ? error / bound : error == 0 ? 0 : double.PositiveInfinity;

    public void Dispose()
    {
        foreach (var slice in _floats)
            slice.Owner.Dispose();
        foreach (var slice in _ints)
            slice.Owner.Dispose();
    }

    /// <summary>A slice's owner [margin + length + margin] and, for a read-only input, the values it must still hold.</summary>
    private sealed record FloatSlice(string Name, FloatBuffer Owner, float[]? Original)
    {
        public IEnumerable<string> Problems()
        {
            float[] all = Owner.ToArray();
            int length = all.Length - 2 * Margin;
            for (int i = 0; i < all.Length; i++)
            {
                bool inMargin = i < Margin || i >= Margin + length;
                if (inMargin && BitConverter.SingleToInt32Bits(all[i]) != SentinelBits)
                {
                    yield return Margins(Name, i, length, all[i].ToString("R", CultureInfo.InvariantCulture));
                    yield break;
                }
                if (!inMargin && Original is not null
                    && BitConverter.SingleToInt32Bits(all[i]) != BitConverter.SingleToInt32Bits(Original[i - Margin]))
                {
                    yield return string.Create(CultureInfo.InvariantCulture,
                        $"input {Name}[{i - Margin}] changed from {Original[i - Margin]:R} to {all[i]:R}");
                    yield break;
                }
            }
        }
    }

    private sealed record IntSlice(string Name, IntBuffer Owner, int[] Original)
    {
        public IEnumerable<string> Problems()
        {
            int[] all = Owner.ToArray();
            for (int i = 0; i < all.Length; i++)
            {
                bool inMargin = i < Margin || i >= Margin + Original.Length;
                if (inMargin ? all[i] != IndexSentinel : all[i] != Original[i - Margin])
                {
                    yield return inMargin
                        ? Margins(Name, i, Original.Length, all[i].ToString(CultureInfo.InvariantCulture))
                        : string.Create(CultureInfo.InvariantCulture, $"input {Name}[{i - Margin}] changed from {Original[i - Margin]} to {all[i]}");
                    yield break;
                }
            }
        }
    }

    private static string Margins(string name, int index, int length, string value) => index < Margin
        ? $"{name}: the margin before the slice was written (element {index - Margin} is {value})"
        : $"{name}: the margin after the slice was written (element {index - Margin} of {length} is {value})";
}
