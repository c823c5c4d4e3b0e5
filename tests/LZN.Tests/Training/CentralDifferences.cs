using LZN.Native.Backends;
using LZN.Native.Nn;

namespace LZN.Tests.Training;

/// <summary>The whole-model gradient check of the training tests: analytic gradients against central differences of the step's loss.</summary>
internal static class CentralDifferences
{
    /// <summary>
    /// Compares <paramref name="analytic"/> (the parameter's gradient) with (L(w + eps) - L(w - eps)) / 2 eps on the three
    /// largest-magnitude coordinates and the middle one (small ones would only measure rounding), restoring each value.
    /// The bound is 3e-3 + 5% of the difference, plus twice what the loss's own float32 rounding can do to it,
    /// 2 n / eps with n from <see cref="RoundingNoise"/>: the loss is a long float32 computation whose last bits move with
    /// the BLAS kernels' summation order (OpenBLAS's AVX-512 and AVX2 kernels round differently), and a central
    /// difference divides that noise by 2 eps, which matters for the small middle coordinate.
    /// </summary>
    public static void AssertMatches(IBackend backend, Parameter parameter, float[] analytic, Func<double> loss, float epsilon)
    {
        var values = parameter.Value.ToArray();
        int[] coordinates = [.. Enumerable.Range(0, analytic.Length).OrderByDescending(i => Math.Abs(analytic[i])).Take(3)
            .Append(analytic.Length / 2).Distinct()];
        var losses = coordinates.Select(i => LossesAround(backend, parameter, values, i, loss, epsilon)).ToArray(); // [coordinates][5]
        // The noise is the loss's, not a coordinate's: the largest estimate of the coordinates serves them all.
        double noise = losses.Max(RoundingNoise);
        TestContext.Out.WriteLine($"{parameter.Name}: loss rounding noise {noise:0.0e+00}, +{2 * noise / epsilon:0.0e+00} on the bound");
        for (int c = 0; c < coordinates.Length; c++)
        {
            int i = coordinates[c];
            double numeric = (losses[c][4] - losses[c][0]) / (2 * epsilon);
            Assert.That(analytic[i], Is.EqualTo(numeric).Within(3e-3 + 5e-2 * Math.Abs(numeric) + 2 * noise / epsilon), $"{parameter.Name}[{i}]");
        }
        Assert.That(analytic.Max(Math.Abs), Is.GreaterThan(1e-4f), "the parameter receives a gradient");
    }

    /// <summary>L(w + k eps / 2) for k = -2..2 along coordinate <paramref name="i"/>, which is restored after.</summary>
    private static double[] LossesAround(IBackend backend, Parameter parameter, float[] values, int i, Func<double> loss, float epsilon)
    {
        float original = values[i];
        var losses = new double[5]; // [k + 2]
        for (int k = -2; k <= 2; k++)
        {
            values[i] = original + k * epsilon / 2;
            backend.Upload(values, parameter.Value);
            losses[k + 2] = loss();
        }
        values[i] = original;
        backend.Upload(values, parameter.Value);
        return losses;
    }

    /// <summary>
    /// The rounding noise of the loss from its five values at w + k h, h = eps / 2, k = -2..2 (inside the central
    /// difference's own interval, so a kink beyond it does not count): the fourth difference
    /// L(2) - 4 L(1) + 6 L(0) - 4 L(-1) + L(-2) is h^4 times the fourth derivative for a smooth loss, negligible at these
    /// eps, while independent errors of size n in the five values add up to about sqrt(1 + 16 + 36 + 16 + 1) n = 8.4 n.
    /// </summary>
    private static double RoundingNoise(double[] losses) =>
        Math.Abs(losses[4] - 4 * losses[3] + 6 * losses[2] - 4 * losses[1] + losses[0]) / 8.4;
}
