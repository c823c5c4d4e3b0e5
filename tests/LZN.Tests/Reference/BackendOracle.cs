using LZN.Native.Backends;
using LZN.Native.Diagnostics;

namespace LZN.Tests.Reference;

/// <summary>Float64 definitions of the backend ops: the oracle every backend is tested against.</summary>
public static class BackendOracle
{
    /// <summary>
    /// Row-major C = alpha op(A) op(B) + beta C over the [m, n] window of c (row stride ldc); returns the
    /// whole of c with the window replaced, and per element the magnitude |alpha| sum|a b| + |beta c|
    /// that bounds the rounding error. beta == 0 ignores C (BLAS).
    /// </summary>
    public static (double[] Values, double[] Magnitudes) Gemm(bool transposeA, bool transposeB, int m, int n, int k,
        double alpha, float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb,
        double beta, float[] c, int cOffset, int ldc)
    {
        var values = Array.ConvertAll(c, v => (double)v);
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

    /// <summary>f'(x) by central differences of the float64 definition (step 1e-5: error ~1e-10).</summary>
    public static double FiniteDifference(ActivationKind kind, double x, double step = 1e-5) =>
        (ReferenceOps.Activation(kind, x + step) - ReferenceOps.Activation(kind, x - step)) / (2 * step);

    public static double Sum(ReadOnlySpan<float> values)
    {
        double sum = 0;
        foreach (float value in values)
            sum += value;
        return sum;
    }

    public static double SumOfSquares(ReadOnlySpan<float> values)
    {
        double sum = 0;
        foreach (float value in values)
            sum += (double)value * value;
        return sum;
    }
}
