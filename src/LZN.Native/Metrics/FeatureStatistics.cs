using MathNet.Numerics.LinearAlgebra;

namespace LZN.Native.Metrics;

/// <summary>
/// The first two moments of a feature set, in float64: the mean [dim] and the unbiased covariance [dim, dim]
/// (denominator count - 1, as numpy.cov and the reference FID code use). This is all a Frechet distance needs,
/// so the real data's statistics can be computed once and reused.
/// </summary>
public sealed class FeatureStatistics
{
    public FeatureStatistics(Vector<double> mean, Matrix<double> covariance, int count)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(covariance);
        if (covariance.RowCount != mean.Count || covariance.ColumnCount != mean.Count)
            throw new ArgumentException($"a covariance of {covariance.RowCount} x {covariance.ColumnCount} does not match a mean of {mean.Count}.", nameof(covariance));
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 2);
        Mean = mean;
        Covariance = covariance;
        Count = count;
    }

    /// <summary>[dim]</summary>
    public Vector<double> Mean { get; }

    /// <summary>[dim, dim], symmetric.</summary>
    public Matrix<double> Covariance { get; }

    /// <summary>Samples the moments were estimated from.</summary>
    public int Count { get; }

    public int Dim => Mean.Count;

    /// <summary>
    /// Moments of <paramref name="features"/> [count, dim] (row-major). The covariance is (X - mu)^T (X - mu) / (count - 1)
    /// over the centred rows in float64: centring first avoids the cancellation of E[x x^T] - mu mu^T. The result does not
    /// depend on the order of the rows beyond float64 rounding.
    /// </summary>
    public static FeatureStatistics FromFeatures(ReadOnlySpan<float> features, int count, int dim)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 2);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (features.Length != (long)count * dim)
            throw new ArgumentException($"{features.Length} feature values do not make {count} rows of {dim}.", nameof(features));
        var mean = new double[dim]; // [dim]
        for (int row = 0; row < count; row++)
        {
            var values = features.Slice(row * dim, dim);
            for (int j = 0; j < dim; j++)
                mean[j] += values[j];
        }
        for (int j = 0; j < dim; j++)
            mean[j] /= count;
        var centred = Matrix<double>.Build.Dense(count, dim); // [count, dim]
        for (int row = 0; row < count; row++)
        {
            var values = features.Slice(row * dim, dim);
            for (int j = 0; j < dim; j++)
                centred[row, j] = values[j] - mean[j];
        }
        var covariance = centred.TransposeThisAndMultiply(centred).Divide(count - 1); // [dim, dim]
        // The product is symmetric up to rounding; make it exactly so for the symmetric eigensolver.
        covariance = (covariance + covariance.Transpose()).Divide(2);
        return new FeatureStatistics(Vector<double>.Build.Dense(mean), covariance, count);
    }
}
