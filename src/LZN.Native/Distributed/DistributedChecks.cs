using LZN.Native.Backends;
using LZN.Native.Zones;

namespace LZN.Native.Distributed;

/// <summary>One check of <see cref="DistributedChecks"/>: its error over all ranks and the bound it must stay under.</summary>
public sealed record DistributedCheckResult(string Name, string Size, double Error, double Bound)
{
    public bool Passed => Error <= Bound;
}

/// <summary>
/// The checks `mpirun -n R lzn selftest` runs on every rank together (docs/distributed.md): each collective against the
/// values it must produce, and the gradient of the gathered anchors against finite differences of the global loss across
/// ranks. Inputs are keyed by the global row, so every number of ranks checks the same problem; every error is
/// summed over the ranks, so all ranks report (and exit with) the same verdict.
/// </summary>
public static class DistributedChecks
{
    private const int Dim = 8;

    /// <summary>Runs every check over <paramref name="collective"/>'s ranks on <paramref name="backend"/>; <paramref name="globalRows"/> rows in all.</summary>
    public static IReadOnlyList<DistributedCheckResult> Run(IBackend backend, ICollective collective, int globalRows = 13)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var shard = BatchShard.Of(collective, globalRows);
        string size = $"B={globalRows} d={Dim} R={collective.WorldSize}";
        return
        [
            new("all-gather", size, Agree(collective, AllGatherError(backend, shard)), 0),
            new("reduce-scatter", size, Agree(collective, ReduceScatterError(backend, shard)), 0),
            new("all-reduce", size, Agree(collective, AllReduceError(backend, collective)), 0),
            new("broadcast", "16 bytes", Agree(collective, BroadcastError(collective)), 0),
            new("gathered anchors grad vs finite differences", size + " K=8", Agree(collective, GatheredGradientError(backend, shard)), 1e-3),
        ];
    }

    /// <summary>f(row, column): a value that names its global row and column.</summary>
    private static float Value(int row, int column) => row * 100 + column;

    private static float[] Rows(int firstRow, int rows, Func<int, int, float> value)
    {
        var values = new float[rows * Dim]; // [rows, Dim]
        for (int i = 0; i < rows; i++)
        {
            for (int c = 0; c < Dim; c++)
                values[i * Dim + c] = value(firstRow + i, c);
        }
        return values;
    }

    private static double MaxDifference(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double error = actual.Length == expected.Length ? 0 : double.PositiveInfinity;
        for (int i = 0; i < Math.Min(actual.Length, expected.Length); i++)
            error = Math.Max(error, Math.Abs((double)actual[i] - expected[i]));
        return error;
    }

    private static double AllGatherError(IBackend backend, BatchShard shard)
    {
        using var local = backend.FromHost(Rows(shard.FirstRow, shard.Rows, Value)); // [Rows, Dim]
        using var gathered = backend.AllocateFloat((long)shard.GlobalRows * Dim); // [GlobalRows, Dim]
        shard.Collective.AllGather(local, gathered, shard.RowCounts, Dim);
        return MaxDifference(gathered.ToArray(), Rows(0, shard.GlobalRows, Value));
    }

    /// <summary>Rank r contributes (r + 1) f(row, column) for every row; each rank must get R (R + 1) / 2 f of its own rows.</summary>
    private static double ReduceScatterError(IBackend backend, BatchShard shard)
    {
        var collective = shard.Collective;
        float weight = collective.Rank + 1, total = collective.WorldSize * (collective.WorldSize + 1) / 2f;
        using var full = backend.FromHost(Rows(0, shard.GlobalRows, (row, column) => weight * Value(row, column))); // [GlobalRows, Dim]
        using var local = backend.AllocateFloat((long)shard.Rows * Dim); // [Rows, Dim]
        collective.ReduceScatter(full, local, shard.RowCounts, Dim);
        return MaxDifference(local.ToArray(), Rows(shard.FirstRow, shard.Rows, (row, column) => total * Value(row, column)));
    }

    private static double AllReduceError(IBackend backend, ICollective collective)
    {
        float weight = collective.Rank + 1, total = collective.WorldSize * (collective.WorldSize + 1) / 2f;
        using var first = backend.FromHost(Rows(0, 3, (row, column) => weight * Value(row, column))); // [3, Dim]
        using var second = backend.FromHost([weight, -weight]); // [2]
        collective.AllReduceSum([first, second]);
        return Math.Max(MaxDifference(first.ToArray(), Rows(0, 3, (row, column) => total * Value(row, column))),
            MaxDifference(second.ToArray(), [total, -total]));
    }

    private static double BroadcastError(ICollective collective)
    {
        var data = new byte[16];
        if (collective.Rank == 0)
        {
            for (int i = 0; i < data.Length; i++)
                data[i] = (byte)(i * 7 + 1);
        }
        collective.Broadcast(data, 0);
        return Enumerable.Range(0, data.Length).Count(i => data[i] != (byte)(i * 7 + 1));
    }

    /// <summary>
    /// The global loss L(A) = sum over ranks of sum(G_r * latents_r), where rank r's latents are its rows encoded through
    /// the flow over the gathered anchors A, against its gradient: the directional derivative along V (every rank's
    /// own rows, from <see cref="GatheredRows.Backward"/>, summed over ranks) against the central difference
    /// D(h) = (L(A + hV) - L(A - hV)) / 2h, Richardson-extrapolated as (4 D(h/2) - D(h)) / 3 so that float32 rounding, not
    /// the step, bounds it. Returns the relative difference.
    /// </summary>
    private static double GatheredGradientError(IBackend backend, BatchShard shard)
    {
        var collective = shard.Collective;
        const ulong seed = 0x5eed;
        const double step = 2e-2;
        var options = new EncodeOptions { Steps = 8, NoiseScale = 0.5f, KeepTrajectory = true };
        var anchors = Normal(backend, shard, seed, 1f); // [Rows, Dim]
        var direction = Normal(backend, shard, seed + 1, 1f); // [Rows, Dim]
        using var noise = Normal(backend, shard, seed + 2, 1f); // [Rows, Dim]
        using var weights = Normal(backend, shard, seed + 3, 1f); // [Rows, Dim]: G_r
        using var gather = new GatheredRows(backend, shard, Dim);
        var hostWeights = weights.ToArray();

        double Loss(float[] localAnchors, bool backward)
        {
            using var local = backend.FromHost(localAnchors); // [Rows, Dim]
            var gathered = gather.Forward(local);
            using var encoded = LatentEncoder.EncodeAnchorRows(new ZoneAnchors(gathered, shard.GlobalRows, Dim), shard.FirstRow, shard.Rows, noise, options);
            var latents = encoded.Latents.ToArray();
            Span<double> loss = [0];
            for (int i = 0; i < latents.Length; i++)
                loss[0] += (double)hostWeights[i] * latents[i];
            if (backward)
                LatentEncoder.Backward(encoded, weights, new EncodeGradients(Anchors: gather.Gradient));
            collective.AllReduceSum(loss);
            return loss[0];
        }

        using (anchors)
        using (direction)
        {
            float[] a = anchors.ToArray(), v = direction.ToArray();
            Loss(a, backward: true);
            var gradient = gather.Backward().ToArray();
            Span<double> analytic = [0];
            for (int i = 0; i < v.Length; i++)
                analytic[0] += (double)gradient[i] * v[i];
            collective.AllReduceSum(analytic);
            double Shifted(double shift) => Loss([.. a.Select((value, i) => (float)(value + shift * v[i]))], backward: false);
            double Central(double h) => (Shifted(h) - Shifted(-h)) / (2 * h);
            double numeric = (4 * Central(step / 2) - Central(step)) / 3;
            // Every rank sums the same error below, so divide by R to report it once.
            return Math.Abs(numeric - analytic[0]) / Math.Max(Math.Abs(analytic[0]), 1e-12) / collective.WorldSize;
        }
    }

    /// <summary>N(0, std^2) rows of this rank, drawn at the counters of their global rows (the same values for any R).</summary>
    private static FloatBuffer Normal(IBackend backend, BatchShard shard, ulong seed, float std)
    {
        var buffer = backend.AllocateFloat((long)shard.Rows * Dim); // [Rows, Dim]
        backend.FillNormal(buffer, seed, (ulong)shard.FirstRow * Dim, 0f, std);
        return buffer;
    }

    /// <summary>The sum over ranks of each rank's error: every rank then holds the same verdict.</summary>
    private static double Agree(ICollective collective, double error)
    {
        Span<double> total = [error];
        collective.AllReduceSum(total);
        return total[0];
    }
}
