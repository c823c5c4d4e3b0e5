using LZN.Native.Backends;
using LZN.Native.Nn;

namespace LZN.Tests.Training;

/// <summary>The whole-model gradient check of the training tests: analytic gradients against central differences of the step's loss.</summary>
internal static class CentralDifferences
{
    /// <summary>
    /// Compares <paramref name="analytic"/> (the parameter's gradient) with (L(w + eps) - L(w - eps)) / 2 eps on the three
    /// largest-magnitude coordinates and the middle one (small ones would only measure rounding), restoring each value.
    /// </summary>
    public static void AssertMatches(IBackend backend, Parameter parameter, float[] analytic, Func<double> loss, float epsilon)
    {
        var values = parameter.Value.ToArray();
        var coordinates = Enumerable.Range(0, analytic.Length).OrderByDescending(i => Math.Abs(analytic[i])).Take(3)
            .Append(analytic.Length / 2).Distinct();
        foreach (int i in coordinates)
        {
            float original = values[i];
            values[i] = original + epsilon;
            backend.Upload(values, parameter.Value);
            double plus = loss();
            values[i] = original - epsilon;
            backend.Upload(values, parameter.Value);
            double minus = loss();
            values[i] = original;
            backend.Upload(values, parameter.Value);
            double numeric = (plus - minus) / (2 * epsilon);
            Assert.That(analytic[i], Is.EqualTo(numeric).Within(3e-3 + 5e-2 * Math.Abs(numeric)), $"{parameter.Name}[{i}]");
        }
        Assert.That(analytic.Max(Math.Abs), Is.GreaterThan(1e-4f), "the parameter receives a gradient");
    }
}
