using LZN.Native.Diagnostics;

namespace LZN.Tests.Zones;

/// <summary>Seeded test inputs and the relative-error measure the zone tests use.</summary>
internal static class ZoneTestData
{
    /// <summary>Anchors N(0, 1) [anchorCount, dim] and, with priors, the logs of normalised class frequencies in [0.2, 1].</summary>
    public static OracleProblem Problem(int anchorCount, int dim, bool priors, int seed)
    {
        var anchors = Round(Normal(anchorCount * dim, seed));
        double[]? logPriors = null;
        if (priors)
        {
            var weights = Array.ConvertAll(Normal(anchorCount, seed + 1000), w => 0.6 + 0.4 * Math.Tanh(w));
            double total = weights.Sum();
            logPriors = Round(Array.ConvertAll(weights, w => Math.Log(w / total)));
        }
        return new OracleProblem(anchors, anchorCount, dim, logPriors);
    }

    /// <summary>Rounds to float32 so the oracle sees exactly the inputs the backend sees.</summary>
    public static double[] Round(double[] values) => Array.ConvertAll(values, v => (double)(float)v);

    /// <summary>N(0, scale^2) draws from a seeded System.Random (Box-Muller).</summary>
    public static double[] Normal(int count, int seed, double scale = 1.0)
    {
        var random = new Random(seed);
        var values = new double[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = scale * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        }
        return values;
    }

    public static int[] Integers(int count, int exclusiveMax, int seed)
    {
        var random = new Random(seed);
        var values = new int[count];
        for (int i = 0; i < count; i++)
            values[i] = random.Next(exclusiveMax);
        return values;
    }

    /// <summary>Points near anchor rows: (1 - t) a_{j(i)} + t z, what the flow sees at time t.</summary>
    public static double[] PointsNearAnchors(double[] anchors, int anchorCount, int dim, int rows, double time, int seed)
    {
        var noise = Normal(rows * dim, seed);
        var points = new double[rows * dim];
        for (int i = 0; i < rows; i++)
        {
            int j = i % anchorCount;
            for (int k = 0; k < dim; k++)
                points[i * dim + k] = (1 - time) * anchors[j * dim + k] + time * noise[i * dim + k];
        }
        return points;
    }

    /// <summary>||actual - expected|| / ||expected|| (NaN anywhere gives NaN, which fails every bound).</summary>
    public static double RelativeError(double[] actual, double[] expected)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        double difference = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            difference += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        return Math.Sqrt(difference) / Math.Sqrt(norm);
    }

    public static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += a[i] * b[i];
        return sum;
    }
}
