using LZN.Native.Backends;

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

    public static double Forward(ActivationKind kind, double x) => kind switch
    {
        ActivationKind.Identity => x,
        ActivationKind.Relu => x > 0 ? x : 0,
        ActivationKind.Silu => x / (1 + Math.Exp(-x)),
        ActivationKind.Tanh => Math.Tanh(x),
        ActivationKind.Sigmoid => 1 / (1 + Math.Exp(-x)),
        ActivationKind.Gelu => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>f'(x) by central differences of the float64 definition (step 1e-5: error ~1e-10).</summary>
    public static double FiniteDifference(ActivationKind kind, double x, double step = 1e-5) =>
        (Forward(kind, x + step) - Forward(kind, x - step)) / (2 * step);

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

    public static double[] SoftmaxRows(float[] x, int rows, int cols)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < cols; c++)
                max = Math.Max(max, x[r * cols + c]);
            double sum = 0;
            for (int c = 0; c < cols; c++)
                sum += y[r * cols + c] = Math.Exp(x[r * cols + c] - max);
            for (int c = 0; c < cols; c++)
                y[r * cols + c] /= sum;
        }
        return y;
    }
}
