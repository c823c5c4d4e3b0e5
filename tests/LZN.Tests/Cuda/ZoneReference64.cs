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
/// Float64 reference of IZoneKernels in the contract's own formulation (design/lzn-math.md sections 3, 6, 7):
/// logits s x.a - (c^2/(2t^2))|a|^2 + b (lse over these), and the section-7 backward written out naively.
/// ZoneReference64Tests checks the backward against finite differences of <see cref="Loss"/>.
/// </summary>
internal static class ZoneReference64
{
    public static double[] Logits(ZoneProblem64 p, int row)
    {
        int n = p.AnchorCount, d = p.Dim;
        var logits = new double[n];
        for (int j = 0; j < n; j++)
        {
            double dot = 0, squared = 0;
            for (int k = 0; k < d; k++)
            {
                dot += p.Points[row * d + k] * p.Anchors[j * d + k];
                squared += p.Anchors[j * d + k] * p.Anchors[j * d + k];
            }
            logits[j] = p.Scale * dot - p.C * p.C / (2 * p.Time * p.Time) * squared + (p.LogPriors?[j] ?? 0);
        }
        return logits;
    }

    public static ZoneStep64 Step(ZoneProblem64 p, double stepSize, int[]? targets)
    {
        int rows = p.Rows, n = p.AnchorCount, d = p.Dim;
        var probabilities = new double[rows * n];
        var mean = new double[rows * d];
        var lse = new double[rows];
        var next = new double[rows * d];
        var targetLogProb = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            double[] logits = Logits(p, i);
            double max = logits.Max(), sum = 0;
            foreach (double logit in logits)
                sum += Math.Exp(logit - max);
            lse[i] = max + Math.Log(sum);
            for (int j = 0; j < n; j++)
            {
                double pij = Math.Exp(logits[j] - lse[i]);
                probabilities[i * n + j] = pij;
                for (int k = 0; k < d; k++)
                    mean[i * d + k] += pij * p.Anchors[j * d + k];
            }
            for (int k = 0; k < d; k++)
                next[i * d + k] = p.Points[i * d + k] + stepSize * (p.Points[i * d + k] - mean[i * d + k]) / p.Time;
            targetLogProb[i] = targets is null ? double.NaN : logits[targets[i]] - lse[i];
        }
        return new ZoneStep64(probabilities, mean, lse, next, targetLogProb);
    }

    /// <summary>Gradients of L = sum_i g_i.v_i + sum_i beta_i log p(i -> tgt_i) (either part may be absent).</summary>
    public static ZoneGradients64 Backward(ZoneProblem64 p, double[]? velocityGrad, int[]? targets, double[]? targetGrad)
    {
        int rows = p.Rows, n = p.AnchorCount, d = p.Dim;
        double t = p.Time, c = p.C, s = p.Scale;
        var forward = Step(p, 0, null);
        var dx = new double[rows * d];
        var dA = new double[n * d];
        var db = new double[n];
        for (int i = 0; i < rows; i++)
        {
            double rowDot = 0;
            if (velocityGrad is not null)
            {
                for (int k = 0; k < d; k++)
                {
                    rowDot += velocityGrad[i * d + k] * forward.Mean[i * d + k];
                    dx[i * d + k] += velocityGrad[i * d + k] / t;
                }
            }
            for (int j = 0; j < n; j++)
            {
                double pij = forward.Probabilities[i * n + j], gDotA = 0;
                if (velocityGrad is not null)
                {
                    for (int k = 0; k < d; k++)
                        gDotA += velocityGrad[i * d + k] * p.Anchors[j * d + k];
                }
                double ds = -(pij / t) * (gDotA - rowDot);
                if (targetGrad is not null)
                    ds += targetGrad[i] * ((targets![i] == j ? 1 : 0) - pij);
                for (int k = 0; k < d; k++)
                {
                    double g = velocityGrad?[i * d + k] ?? 0;
                    dx[i * d + k] += s * ds * p.Anchors[j * d + k];
                    dA[j * d + k] += -pij * g / t + s * (ds * p.Points[i * d + k] - c * p.Anchors[j * d + k] * ds);
                }
                db[j] += ds;
            }
        }
        return new ZoneGradients64(dx, dA, db);
    }

    /// <summary>L = sum_i g_i.v_i + sum_i beta_i log p(i -> tgt_i), the loss whose gradients <see cref="Backward"/> returns.</summary>
    public static double Loss(ZoneProblem64 p, double[]? velocityGrad, int[]? targets, double[]? targetGrad)
    {
        var forward = Step(p, 0, targets);
        double loss = 0;
        for (int i = 0; i < p.Rows; i++)
        {
            if (velocityGrad is not null)
            {
                for (int k = 0; k < p.Dim; k++)
                    loss += velocityGrad[i * p.Dim + k] * (p.Points[i * p.Dim + k] - forward.Mean[i * p.Dim + k]) / p.Time;
            }
            if (targetGrad is not null)
                loss += targetGrad[i] * forward.TargetLogProb[i];
        }
        return loss;
    }

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

    /// <summary>max |actual - expected| / max |expected|: NaN anywhere in actual gives NaN, which fails every bound.</summary>
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
        return worst / Math.Max(scale, double.Epsilon);
    }
}
