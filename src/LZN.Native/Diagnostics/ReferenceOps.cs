using LZN.Native.Backends;

namespace LZN.Native.Diagnostics;

/// <summary>
/// Naive float64 definitions of the backend primitives: the oracle <see cref="SelfTest"/> compares every
/// backend against. Written for obviousness, not speed.
/// </summary>
public static class ReferenceOps
{
    /// <summary>Row-major C = alpha op(A) op(B) + beta C in double; beta == 0 ignores C (BLAS semantics).</summary>
    public static double[] Gemm(bool transposeA, bool transposeB, int m, int n, int k, double alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, double beta, ReadOnlySpan<float> c, int ldc)
    {
        var result = new double[m * ldc];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    double av = transposeA ? a[p * lda + i] : a[i * lda + p];
                    double bv = transposeB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += av * bv;
                }
                result[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j]);
            }
        }
        return result;
    }

    public static double Activation(ActivationKind kind, double x) => kind switch
    {
        ActivationKind.Identity => x,
        ActivationKind.Relu => Math.Max(x, 0),
        ActivationKind.Silu => x / (1 + Math.Exp(-x)),
        ActivationKind.Tanh => Math.Tanh(x),
        ActivationKind.Sigmoid => 1 / (1 + Math.Exp(-x)),
        ActivationKind.Gelu => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>f'(x) by a central difference in double (step 1e-6): independent of the closed forms under test.</summary>
    public static double ActivationDerivative(ActivationKind kind, double x)
    {
        const double step = 1e-6;
        return (Activation(kind, x + step) - Activation(kind, x - step)) / (2 * step);
    }

    public static double[] SoftmaxRows(ReadOnlySpan<float> x, int rows, int cols)
    {
        var result = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < cols; c++)
                max = Math.Max(max, x[r * cols + c]);
            double sum = 0;
            for (int c = 0; c < cols; c++)
                sum += result[r * cols + c] = Math.Exp(x[r * cols + c] - max);
            for (int c = 0; c < cols; c++)
                result[r * cols + c] /= sum;
        }
        return result;
    }

    /// <summary>max_i |actual_i - expected_i| / max(max_i |expected_i|, tiny): error relative to the result's scale.</summary>
    public static double MaxRelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException($"Lengths differ: {actual.Length} vs {expected.Length}.", nameof(actual));
        double maxError = 0, scale = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            maxError = double.IsNaN(error) ? double.PositiveInfinity : Math.Max(maxError, error);
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        return maxError / Math.Max(scale, 1e-30);
    }

    /// <summary>||actual - expected|| / ||expected|| (NaN anywhere gives infinity): the zone issue's relative error.</summary>
    public static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException($"Lengths differ: {actual.Length} vs {expected.Length}.", nameof(actual));
        double difference = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            difference += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        return double.IsNaN(difference) ? double.PositiveInfinity : Math.Sqrt(difference) / Math.Max(Math.Sqrt(norm), 1e-30);
    }
}
