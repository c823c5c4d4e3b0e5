using System.Globalization;

namespace LZN.Native.Verification;

/// <summary>
/// How a check turns an output and its float64 expectation into one error to hold against the bound. Every measure
/// treats NaN in the output as an infinite error, and an expected NaN (padding an op must leave alone) as a demand
/// that the output be NaN there too.
/// </summary>
public sealed class ErrorMeasure
{
    /// <summary>Smallest scale an element is measured against, so an exact zero expectation demands an exact zero.</summary>
    private const double TinyScale = 1e-30;

    private readonly Kind _kind;
    private readonly double _floor;
    private readonly double[]? _scales;

    private ErrorMeasure(Kind kind, double floor = 0, double[]? scales = null)
    {
        _kind = kind;
        _floor = floor;
        _scales = scales;
    }

    private enum Kind
    {
        MaxRelative,
        Normwise,
        Relative,
        PerElement,
    }

    /// <summary>max_i |a_i - e_i| / max_j |e_j|: every element against the output's scale (the default).</summary>
    public static ErrorMeasure MaxRelative { get; } = new(Kind.MaxRelative);

    /// <summary>||a - e|| / ||e||: the whole output at once (the latent-zone bounds are stated this way).</summary>
    public static ErrorMeasure Normwise { get; } = new(Kind.Normwise);

    /// <summary>max_i |a_i - e_i| / (|e_i| + floor): each element relative to itself, absolute below the floor.</summary>
    public static ErrorMeasure Relative(double floor) => new(Kind.Relative, floor);

    /// <summary>max_i |a_i - e_i| / scales_i: each element against its own scale (e.g. GEMM's sum of |a b| terms).</summary>
    public static ErrorMeasure PerElement(double[] scales) => new(Kind.PerElement, scales: scales);

    /// <summary>The error of <paramref name="actual"/> against <paramref name="expected"/> under this measure.</summary>
    public double Error(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected) =>
        Evaluate("actual", CaseRun.Widen(actual), expected, double.PositiveInfinity).Error;

    /// <summary>The error of <paramref name="actual"/>, and unless it meets <paramref name="bound"/>, the first element to blame.</summary>
    internal (double Error, string? Failure) Evaluate(string output, ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double bound)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException($"{output} has {actual.Length} elements; its expectation {expected.Length}.", nameof(expected));
        if (_scales is not null && _scales.Length != expected.Length)
            throw new ArgumentException($"{output} has {expected.Length} elements; its scales {_scales.Length}.", nameof(expected));
        return _kind == Kind.Normwise ? EvaluateNormwise(output, actual, expected, bound) : EvaluatePerElement(output, actual, expected, bound);
    }

    private (double Error, string? Failure) EvaluatePerElement(string output, ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double bound)
    {
        double largest = 0;
        foreach (double value in expected)
        {
            if (!double.IsNaN(value))
                largest = Math.Max(largest, Math.Abs(value));
        }
        double error = 0;
        string? failure = null;
        for (int i = 0; i < actual.Length; i++)
        {
            double scale = _kind switch
            {
                Kind.MaxRelative => largest,
                Kind.Relative => Math.Abs(expected[i]) + _floor,
                _ => _scales![i],
            };
            double elementError = ElementError(actual[i], expected[i], Math.Max(scale, TinyScale));
            error = Math.Max(error, elementError);
            if (failure is null && !(elementError <= bound))
                failure = Blame(output, i, actual[i], expected[i], $"error {Format(elementError)} > bound {Format(bound)}");
        }
        return (error, failure);
    }

    private static (double Error, string? Failure) EvaluateNormwise(string output, ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double bound)
    {
        double difference = 0, norm = 0, worst = -1;
        int worstIndex = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double elementError = ElementError(actual[i], expected[i], 1);
            if (!double.IsNaN(expected[i]))
            {
                difference += elementError * elementError;
                norm += expected[i] * expected[i];
            }
            else
            {
                difference += elementError;
            }
            if (elementError > worst)
            {
                worst = elementError;
                worstIndex = i;
            }
        }
        double error = Math.Sqrt(difference) / Math.Max(Math.Sqrt(norm), TinyScale);
        if (error <= bound)
            return (error, null);
        return (error, Blame(output, worstIndex, actual[worstIndex], expected[worstIndex],
            $"normwise error {Format(error)} > bound {Format(bound)}; the worst element"));
    }

    /// <summary>|a - e| / scale; infinite where the output is NaN or differs from an expected NaN or infinity.</summary>
    private static double ElementError(double actual, double expected, double scale)
    {
        if (double.IsNaN(expected))
            return double.IsNaN(actual) ? 0 : double.PositiveInfinity;
        if (double.IsInfinity(expected))
            return actual == expected ? 0 : double.PositiveInfinity;
        double error = Math.Abs(actual - expected) / scale;
        return double.IsNaN(error) ? double.PositiveInfinity : error;
    }

    private static string Blame(string output, int index, double actual, double expected, string why) =>
        string.Create(CultureInfo.InvariantCulture, $"{output}[{index}] is {actual:G9}, expected {expected:G9} ({why})");

    internal static string Format(double value) => value.ToString("0.##e+00", CultureInfo.InvariantCulture);
}
