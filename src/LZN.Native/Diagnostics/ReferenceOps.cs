using LZN.Native.Backends;

namespace LZN.Native.Diagnostics;

/// <summary>
/// Naive float64 definitions of the backend primitives: the oracle the verification tables (Verification/)
/// hold every backend against. Written for obviousness, not speed.
/// </summary>
public static class ReferenceOps
{
    /// <summary>
    /// Row-major C = alpha op(A) op(B) + beta C over the [m, n] window of c at <paramref name="cOffset"/> (row stride
    /// ldc) in double; returns the whole of c with the window replaced, and per element the magnitude
    /// |alpha| sum |a b| + |beta c| that bounds its rounding error. beta == 0 ignores C, NaN included (BLAS).
    /// </summary>
    public static (double[] Values, double[] Magnitudes) Gemm(bool transposeA, bool transposeB, int m, int n, int k,
        double alpha, ReadOnlySpan<float> a, int aOffset, int lda, ReadOnlySpan<float> b, int bOffset, int ldb,
        double beta, ReadOnlySpan<float> c, int cOffset, int ldc)
    {
        var values = new double[c.Length];
        for (int i = 0; i < c.Length; i++)
            values[i] = c[i];
        var magnitudes = new double[c.Length];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0, magnitude = 0;
                for (int p = 0; p < k; p++)
                {
                    double av = transposeA ? a[aOffset + p * lda + i] : a[aOffset + i * lda + p];
                    double bv = transposeB ? b[bOffset + j * ldb + p] : b[bOffset + p * ldb + j];
                    sum += av * bv;
                    magnitude += Math.Abs(av * bv);
                }
                int index = cOffset + i * ldc + j;
                double old = beta == 0 ? 0 : beta * c[index];
                values[index] = alpha * sum + old;
                magnitudes[index] = Math.Abs(alpha) * magnitude + Math.Abs(old);
            }
        }
        return (values, magnitudes);
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

    /// <summary>
    /// N(0, 1) at a Philox counter in double: Box-Muller on the same two words as <see cref="Philox.Normal"/>, so
    /// only the float rounding of its log, cos and 2 pi u2 separates the two.
    /// </summary>
    public static double PhiloxNormal(ulong seed, ulong counter)
    {
        var (r0, r1, _, _) = Philox.Generate(seed, counter);
        double u1 = ((r0 >> 8) + 1) * (double)Philox.UnitScale, u2 = (r1 >> 8) * (double)Philox.UnitScale;
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
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
}
