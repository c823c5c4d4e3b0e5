using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace LZN.Native.Metrics;

/// <summary>
/// The Frechet (2-Wasserstein) distance between the Gaussians N(mu1, S1) and N(mu2, S2) fitted to two feature sets:
/// FD = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2}).
/// <para>
/// S1 S2 is not symmetric, so its square root is not taken directly (scipy's sqrtm on it, as the reference FID code
/// does, can return complex parts and needs an epsilon fix-up). Instead: S1 = V D V^T gives the symmetric root
/// R = V D^{1/2} V^T; then S1 S2 = R (R S2 R) R^{-1} is similar to the symmetric positive semi-definite M = R S2 R, so
/// (S1 S2)^{1/2} has the eigenvalues sqrt(lambda_i(M)) and Tr((S1 S2)^{1/2}) = sum_i sqrt(lambda_i(M)). Both steps use
/// MathNet's symmetric eigendecomposition. Covariances are positive semi-definite in exact arithmetic; eigenvalues that
/// rounding pushes slightly below zero are clamped to zero (they stand for directions of zero variance). A distance
/// that rounding makes slightly negative (identical inputs) is returned as 0.
/// </para>
/// </summary>
public static class FrechetDistance
{
    /// <summary>FD between the moments of two feature sets of the same dimension.</summary>
    public static double Compute(FeatureStatistics first, FeatureStatistics second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        if (first.Dim != second.Dim)
            throw new ArgumentException($"feature dimensions differ: {first.Dim} vs {second.Dim}.", nameof(second));
        double meanTerm = (first.Mean - second.Mean).DotProduct(first.Mean - second.Mean);
        double traceTerm = first.Covariance.Trace() + second.Covariance.Trace() - 2 * TraceOfSquareRootOfProduct(first.Covariance, second.Covariance);
        return Math.Max(0, meanTerm + traceTerm);
    }

    /// <summary>FD between two feature sets [firstCount, dim] and [secondCount, dim].</summary>
    public static double Compute(ReadOnlySpan<float> first, int firstCount, ReadOnlySpan<float> second, int secondCount, int dim) =>
        Compute(FeatureStatistics.FromFeatures(first, firstCount, dim), FeatureStatistics.FromFeatures(second, secondCount, dim));

    /// <summary>Tr((S1 S2)^{1/2}) for symmetric positive semi-definite S1, S2 [dim, dim] = sum_i sqrt(lambda_i(S1^{1/2} S2 S1^{1/2})).</summary>
    public static double TraceOfSquareRootOfProduct(Matrix<double> first, Matrix<double> second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        var root = SymmetricSquareRoot(first); // [dim, dim]
        var product = root * second * root; // [dim, dim]
        product = (product + product.Transpose()).Divide(2);
        var eigenvalues = product.Evd(Symmetricity.Symmetric).EigenValues;
        double trace = 0;
        foreach (var eigenvalue in eigenvalues)
            trace += Math.Sqrt(Math.Max(0, eigenvalue.Real));
        return trace;
    }

    /// <summary>V max(D, 0)^{1/2} V^T for a symmetric matrix V D V^T: the positive semi-definite square root.</summary>
    public static Matrix<double> SymmetricSquareRoot(Matrix<double> symmetric)
    {
        ArgumentNullException.ThrowIfNull(symmetric);
        var evd = symmetric.Evd(Symmetricity.Symmetric);
        var roots = Vector<double>.Build.Dense(symmetric.RowCount, i => Math.Sqrt(Math.Max(0, evd.EigenValues[i].Real))); // [dim]
        var vectors = evd.EigenVectors; // [dim, dim], columns = eigenvectors
        return vectors * Matrix<double>.Build.DiagonalOfDiagonalVector(roots) * vectors.Transpose();
    }
}
