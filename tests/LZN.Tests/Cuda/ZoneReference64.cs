using LZN.Native.Diagnostics;

namespace LZN.Tests.Cuda;

/// <summary>One zone problem in float64: x [Rows, Dim], A [AnchorCount, Dim], b [AnchorCount] or null.</summary>
internal sealed record ZoneProblem64(int Rows, int AnchorCount, int Dim, double Time, double[] Points, double[] Anchors, double[]? LogPriors)
{
    public double C => 1 - Time;

    /// <summary>s = c / t^2, the coefficient of x.a in the logits.</summary>
    public double Scale => C / (Time * Time);
}

/// <summary>p [rows, N], m [rows, d], lse [rows], next [rows, d], log p(i -> tgt_i) [rows] (NaN without targets).</summary>
internal sealed record ZoneStep64(double[] Probabilities, double[] Mean, double[] LogSumExp, double[] Next, double[] TargetLogProb);

/// <summary>dL/dx [rows, d], dL/dA [N, d], dL/db [N].</summary>
internal sealed record ZoneGradients64(double[] Points, double[] Anchors, double[] LogPriors);

/// <summary>
/// What the CUDA zone kernels must produce, from the shared float64 oracle (<see cref="ZoneOracle"/>, direct
/// form -|x - c a|^2/(2t^2) + b) mapped onto the kernels' contract: their logits drop the row constant
/// -|x_i|^2/(2t^2), so their lse is the oracle's plus that constant; probabilities, m, v and gradients agree as is.
/// </summary>
internal static class ZoneReference64
{
    public static ZoneStep64 Step(ZoneProblem64 p, double stepSize, int[]? targets)
    {
        int rows = p.Rows, n = p.AnchorCount, d = p.Dim;
        var velocity = ZoneOracle.Velocity(Oracle(p), p.Points, rows, p.Time);
        var next = new double[rows * d];
        var lse = new double[rows];
        var targetLogProb = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            double squaredNorm = 0;
            for (int k = 0; k < d; k++)
            {
                next[i * d + k] = p.Points[i * d + k] + stepSize * velocity.Velocity[i * d + k];
                squaredNorm += p.Points[i * d + k] * p.Points[i * d + k];
            }
            lse[i] = velocity.LogSumExp[i] + squaredNorm / (2 * p.Time * p.Time);
            targetLogProb[i] = targets is null ? double.NaN : velocity.LogProbabilities[i * n + targets[i]];
        }
        return new ZoneStep64(velocity.Probabilities, velocity.Mean, lse, next, targetLogProb);
    }

    /// <summary>Gradients of L = sum_i g_i.v_i + sum_i beta_i log p(i -> tgt_i) (either part may be absent).</summary>
    public static ZoneGradients64 Backward(ZoneProblem64 p, double[]? velocityGrad, int[]? targets, double[]? targetGrad)
    {
        var problem = Oracle(p);
        var forward = ZoneOracle.Velocity(problem, p.Points, p.Rows, p.Time);
        var gradients = new ZoneGradients64(new double[p.Rows * p.Dim], new double[p.AnchorCount * p.Dim], new double[p.AnchorCount]);
        ZoneOracle.VelocityBackward(problem, p.Points, p.Rows, p.Time, forward, velocityGrad, targets, targetGrad,
            gradients.Points, gradients.Anchors, gradients.LogPriors);
        return gradients;
    }

    private static OracleProblem Oracle(ZoneProblem64 p) => new(p.Anchors, p.AnchorCount, p.Dim, p.LogPriors);

    /// <summary>N(0, scale^2) draws from a seeded System.Random (Box-Muller), rounded to float so both sides see the same inputs.</summary>
    public static double[] Normal(int count, int seed, double scale = 1.0)
    {
        var random = new Random(seed);
        var values = new double[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = (float)(scale * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
        }
        return values;
    }

    public static int[] Integers(int count, int exclusiveMax, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => random.Next(exclusiveMax))];
    }

    /// <summary>
    /// max |actual - expected| / max |expected|: NaN anywhere in actual gives NaN, which fails every bound. The scale
    /// has a floor of 1e-9 so an expected result that is zero up to float64 rounding (e.g. dx at t = 1, where the
    /// logits do not depend on x) is not compared digit by digit with rounding noise.
    /// </summary>
    public static double RelativeError(double[] actual, double[] expected)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        double worst = 0, scale = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(error))
                return double.NaN;
            worst = Math.Max(worst, error);
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        return worst / Math.Max(scale, 1e-9);
    }
}
