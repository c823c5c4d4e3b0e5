using LZN.Native.Backends;
using LZN.Native.Metrics;
using MathNet.Numerics.LinearAlgebra;

namespace LZN.Tests.Metrics;

public sealed class FrechetDistanceTests
{
    [Test]
    public void IdenticalSetsGiveZero()
    {
        var features = Gaussian(2000, [0.5, -1, 2], [1, 4, 0.25], seed: 1);
        double distance = FrechetDistance.Compute(features, 2000, features, 2000, 3);
        Assert.That(distance, Is.EqualTo(0).Within(1e-9));
    }

    [Test]
    public void DiagonalGaussiansMatchTheClosedForm()
    {
        // Exact moments: FD = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
        double[] mean1 = [1, 0, -2, 0.5], mean2 = [0, 0.5, -2, 3], var1 = [1, 4, 0.25, 9], var2 = [2, 1, 0.25, 0.01];
        var first = Moments(mean1, Matrix<double>.Build.DenseOfDiagonalArray(var1));
        var second = Moments(mean2, Matrix<double>.Build.DenseOfDiagonalArray(var2));
        double expected = 0;
        for (int i = 0; i < 4; i++)
            expected += Math.Pow(mean1[i] - mean2[i], 2) + Math.Pow(Math.Sqrt(var1[i]) - Math.Sqrt(var2[i]), 2);
        Assert.That(FrechetDistance.Compute(first, second), Is.EqualTo(expected).Within(1e-10 * expected));
    }

    [Test]
    public void SampledDiagonalGaussiansApproachTheClosedForm()
    {
        double[] mean1 = [1, 0, -2], mean2 = [0, 0.5, -2], var1 = [1, 4, 0.25], var2 = [2, 1, 0.5];
        double expected = 0;
        for (int i = 0; i < 3; i++)
            expected += Math.Pow(mean1[i] - mean2[i], 2) + Math.Pow(Math.Sqrt(var1[i]) - Math.Sqrt(var2[i]), 2);
        double distance = FrechetDistance.Compute(Gaussian(50_000, mean1, var1, 2), 50_000, Gaussian(50_000, mean2, var2, 3), 50_000, 3);
        // Sampling error of the moments at n = 50,000 is ~1%; the estimate is biased upwards by O(dim / n).
        Assert.That(distance, Is.EqualTo(expected).Within(0.03 * expected));
    }

    [Test]
    public void NonCommutingCovariancesMatchTheTwoByTwoFormula()
    {
        // For a 2x2 matrix A with positive eigenvalues, Tr sqrt(A) = sqrt(Tr A + 2 sqrt(det A)); A = S1 S2 is not symmetric.
        var s1 = Matrix<double>.Build.DenseOfArray(new double[,] { { 2, 0.9 }, { 0.9, 1 } });
        var s2 = Matrix<double>.Build.DenseOfArray(new double[,] { { 0.5, -0.3 }, { -0.3, 3 } });
        var product = s1 * s2;
        double expectedTrace = Math.Sqrt(product.Trace() + 2 * Math.Sqrt(product.Determinant()));
        Assert.That(FrechetDistance.TraceOfSquareRootOfProduct(s1, s2), Is.EqualTo(expectedTrace).Within(1e-12));
        double[] mean1 = [0.3, -1], mean2 = [1, 1];
        double expected = 0.7 * 0.7 + 2 * 2 + s1.Trace() + s2.Trace() - 2 * expectedTrace;
        Assert.That(FrechetDistance.Compute(Moments(mean1, s1), Moments(mean2, s2)), Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void IsSymmetric()
    {
        var first = Gaussian(3000, [0, 1, 2, 3, 4], [1, 2, 3, 4, 5], seed: 4);
        var second = Correlated(3000, 5, seed: 5);
        double forward = FrechetDistance.Compute(first, 3000, second, 3000, 5);
        double backward = FrechetDistance.Compute(second, 3000, first, 3000, 5);
        Assert.That(forward, Is.GreaterThan(1));
        Assert.That(backward, Is.EqualTo(forward).Within(1e-10 * forward));
    }

    [Test]
    public void DoesNotDependOnSampleOrder()
    {
        const int count = 2500, dim = 6;
        var first = Correlated(count, dim, seed: 6);
        var second = Gaussian(count, [0, 0, 0, 1, 1, 1], [1, 1, 1, 2, 2, 2], seed: 7);
        var shuffled = new float[first.Length];
        var order = LZN.Native.Data.BatchSchedule.Permutation(count, seed: 8, epoch: 0);
        for (int row = 0; row < count; row++)
            first.AsSpan(order[row] * dim, dim).CopyTo(shuffled.AsSpan(row * dim, dim));
        double original = FrechetDistance.Compute(first, count, second, count, dim);
        double permuted = FrechetDistance.Compute(shuffled, count, second, count, dim);
        Assert.That(permuted, Is.EqualTo(original).Within(1e-10 * original));
    }

    [Test]
    public void RankDeficientCovariancesStayFiniteAndNonNegative()
    {
        // A constant feature and a duplicated one make both covariances singular: eigenvalues ~0 of either sign.
        const int count = 500;
        var first = new float[count * 3];
        var second = new float[count * 3];
        var draws = Gaussian(count, [0, 0], [1, 1], seed: 9);
        for (int row = 0; row < count; row++)
        {
            first[row * 3] = draws[row * 2];
            first[row * 3 + 1] = draws[row * 2];
            first[row * 3 + 2] = 0.25f;
            second[row * 3] = draws[row * 2 + 1];
            second[row * 3 + 1] = 0.25f;
            second[row * 3 + 2] = draws[row * 2 + 1];
        }
        double self = FrechetDistance.Compute(first, count, first, count, 3);
        double other = FrechetDistance.Compute(first, count, second, count, 3);
        Assert.That(self, Is.EqualTo(0).Within(1e-9));
        Assert.That(double.IsFinite(other) && other > 0.5, $"FD {other}");
    }

    [Test]
    public void StatisticsUseTheUnbiasedCovariance()
    {
        float[] features = [1, 2, 3, 6, 5, 10]; // rows (1, 2), (3, 6), (5, 10)
        var statistics = FeatureStatistics.FromFeatures(features, 3, 2);
        Assert.That(statistics.Mean.ToArray(), Is.EqualTo(new double[] { 3, 6 }).Within(1e-15));
        Assert.That(statistics.Covariance.ToArray(), Is.EqualTo(new double[,] { { 4, 8 }, { 8, 16 } }).Within(1e-12));
    }

    private static FeatureStatistics Moments(double[] mean, Matrix<double> covariance) =>
        new(Vector<double>.Build.DenseOfArray(mean), covariance, 100);

    /// <summary>[count, dim] independent N(mean_i, variance_i) draws from Philox.</summary>
    internal static float[] Gaussian(int count, double[] mean, double[] variance, ulong seed)
    {
        int dim = mean.Length;
        var values = new float[count * dim];
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(mean[i % dim] + Math.Sqrt(variance[i % dim]) * Philox.Normal(seed, (ulong)i));
        return values;
    }

    /// <summary>[count, dim] draws of a correlated Gaussian: x_j = z_j + 0.8 z_{j-1} + 0.3 j.</summary>
    private static float[] Correlated(int count, int dim, ulong seed)
    {
        var values = new float[count * dim];
        for (int row = 0; row < count; row++)
        {
            float previous = Philox.Normal(seed, (ulong)(row * (dim + 1)));
            for (int j = 0; j < dim; j++)
            {
                float z = Philox.Normal(seed, (ulong)(row * (dim + 1) + j + 1));
                values[row * dim + j] = z + 0.8f * previous + 0.3f * j;
                previous = z;
            }
        }
        return values;
    }
}
