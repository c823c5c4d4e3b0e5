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
            new("gathered anchors grad vs finite differences", size + " K=8", Agree(collective, GatheredGradientError(backend, shard, EulerFlow)), 1e-3),
            new("gathered anchors grad, DPM-Solver++, vs finite differences", size + " K=8", Agree(collective, GatheredGradientError(backend, shard, DpmFlow)), 1e-3),
            new("representation zone loss grad vs finite differences", size + " K=8", Agree(collective, RepresentationGradientError(backend, shard)), 1e-3),
        ];
    }

    /// <summary>The encode flow of the joint task's check; the generation task's Euler flow is this one at noise scale 1.</summary>
    private static readonly EncodeOptions EulerFlow = new() { Steps = 8, NoiseScale = 0.5f, KeepTrajectory = true };

    /// <summary>The generation task's `--solver dpm` flow: DPM-Solver++ order 3 from full-scale prior noise.</summary>
    private static readonly EncodeOptions DpmFlow = new() { Steps = 8, Solver = FlowSolver.DpmSolverPlusPlus, KeepTrajectory = true };

    /// <summary>Finite-difference step of the flow checks (Richardson-extrapolated, so rounding rather than the step bounds the error).</summary>
    private const double FlowStep = 2e-2;

    /// <summary>
    /// The representation check's step: its loss takes a max over steps, and along the check's direction the argmax
    /// changes within 1e-2 (measured at R = 2: central differences 0.357, 0.278, 0.2566 and 0.25673 at h = 2e-2, 1e-2,
    /// 5e-3 and 2.5e-3, against 0.25672 analytic).
    /// </summary>
    private const double RepresentationStep = 2.5e-3;

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
    /// the flow over the gathered anchors A (the joint and generation tasks' pattern), against its gradient from
    /// <see cref="GatheredRows.Backward"/> (every rank's own rows, summed over ranks), as <see cref="DirectionalError"/>.
    /// </summary>
    private static double GatheredGradientError(IBackend backend, BatchShard shard, EncodeOptions options)
    {
        var collective = shard.Collective;
        const ulong seed = 0x5eed;
        using var anchors = Normal(backend, shard, seed, 1f); // [Rows, Dim]
        using var direction = Normal(backend, shard, seed + 1, 1f); // [Rows, Dim]
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

        float[] a = anchors.ToArray();
        Loss(a, backward: true);
        return DirectionalError(collective, a, direction.ToArray(), gather.Backward().ToArray(), shifted => Loss(shifted, backward: false), FlowStep);
    }

    /// <summary>
    /// The representation task's zone loss across ranks (RepresentationModel.Backward without its networks): rank r's
    /// rows are encoded through the gathered view-1 anchors A1 (prior noise 0.45), assigned through the gathered view-2
    /// anchors A2 with their global indices as targets, and L(A1, A2) = -mean over the global batch of
    /// log max_{k >= u} P_k(i -> i), each rank's mean weighted by its share of the batch. Both gradients come back through
    /// their <see cref="GatheredRows"/>; they are checked together along one direction (V1, V2), as <see cref="DirectionalError"/>.
    /// </summary>
    private static double RepresentationGradientError(IBackend backend, BatchShard shard)
    {
        var collective = shard.Collective;
        const ulong seed = 0x7e9;
        const int steps = 8;
        var encodeOptions = new EncodeOptions { Steps = steps, NoiseScale = 0.45f, KeepTrajectory = true };
        var assignOptions = new AssignOptions { Steps = steps, KeepTrajectory = true };
        int elements = shard.Rows * Dim;
        using var anchors = Normal(backend, shard, seed, 1f, width: 2 * Dim); // [Rows, 2 Dim]: A1 rows, then A2 rows
        using var direction = Normal(backend, shard, seed + 1, 1f, width: 2 * Dim); // [Rows, 2 Dim]
        using var noise = Normal(backend, shard, seed + 2, 1f); // [Rows, Dim]
        using var targets = backend.FromHost(Enumerable.Range(shard.FirstRow, shard.Rows).ToArray()); // [Rows]
        using var beta = backend.AllocateFloat((long)steps * shard.Rows); // [steps, Rows]
        using var latentsGrad = backend.AllocateFloat(elements); // [Rows, Dim]
        using var first = new GatheredRows(backend, shard, Dim);
        using var second = new GatheredRows(backend, shard, Dim);

        double Loss(float[] localAnchors, bool backward)
        {
            using var local1 = backend.FromHost(localAnchors.AsSpan(0, elements)); // [Rows, Dim]
            using var local2 = backend.FromHost(localAnchors.AsSpan(elements, elements)); // [Rows, Dim]
            var firstAnchors = new ZoneAnchors(first.Forward(local1), shard.GlobalRows, Dim);
            var secondAnchors = new ZoneAnchors(second.Forward(local2), shard.GlobalRows, Dim);
            using var encoded = LatentEncoder.EncodeAnchorRows(firstAnchors, shard.FirstRow, shard.Rows, noise, encodeOptions);
            using var assigned = ZoneAssigner.Assign(secondAnchors, encoded.Latents, shard.Rows, targets, assignOptions);
            Span<double> loss = [AssignmentLoss.Evaluate(assigned, AssignmentLossKind.CrossEntropy, beta) * shard.Share];
            if (backward)
            {
                backend.ScaleShift(beta, (float)shard.Share, 0f);
                backend.Fill(latentsGrad, 0f);
                ZoneAssigner.Backward(assigned, null, beta, new AssignGradients(Latents: latentsGrad, Anchors: second.Gradient));
                LatentEncoder.Backward(encoded, latentsGrad, new EncodeGradients(Anchors: first.Gradient));
            }
            collective.AllReduceSum(loss);
            return loss[0];
        }

        // A rank's gathered anchors hold its rows of A1, then of A2, as the direction does: [Rows, Dim] twice.
        float[] a = Split(anchors.ToArray(), shard.Rows), v = Split(direction.ToArray(), shard.Rows);
        Loss(a, backward: true);
        float[] gradient = [.. first.Backward().ToArray(), .. second.Backward().ToArray()];
        return DirectionalError(collective, a, v, gradient, shifted => Loss(shifted, backward: false), RepresentationStep);
    }

    /// <summary>[rows, 2 Dim] interleaved draws as [rows, Dim] of the first halves followed by [rows, Dim] of the second.</summary>
    private static float[] Split(float[] interleaved, int rows)
    {
        var split = new float[interleaved.Length];
        for (int i = 0; i < rows; i++)
        {
            interleaved.AsSpan(i * 2 * Dim, Dim).CopyTo(split.AsSpan(i * Dim));
            interleaved.AsSpan(i * 2 * Dim + Dim, Dim).CopyTo(split.AsSpan((rows + i) * Dim));
        }
        return split;
    }

    /// <summary>
    /// The directional derivative along V of the global loss (each rank's gradient . V, summed over ranks) against the
    /// central difference D(h) = (L(A + hV) - L(A - hV)) / 2h at h = step and step/2, Richardson-extrapolated as (4 D(h/2) - D(h)) / 3 so that
    /// float32 rounding, not the step, bounds it. Returns the relative difference.
    /// </summary>
    private static double DirectionalError(ICollective collective, float[] point, float[] direction, float[] gradient, Func<float[], double> loss, double step)
    {
        Span<double> analytic = [0];
        for (int i = 0; i < direction.Length; i++)
            analytic[0] += (double)gradient[i] * direction[i];
        collective.AllReduceSum(analytic);
        double Shifted(double shift) => loss([.. point.Select((value, i) => (float)(value + shift * direction[i]))]);
        double Central(double h) => (Shifted(h) - Shifted(-h)) / (2 * h);
        double numeric = (4 * Central(step / 2) - Central(step)) / 3;
        // Every rank sums the same error after this, so divide by R to report it once.
        return Math.Abs(numeric - analytic[0]) / Math.Max(Math.Abs(analytic[0]), 1e-12) / collective.WorldSize;
    }

    /// <summary>N(0, std^2) rows of this rank, drawn at the counters of their global rows (the same values for any R).</summary>
    private static FloatBuffer Normal(IBackend backend, BatchShard shard, ulong seed, float std, int width = Dim)
    {
        var buffer = backend.AllocateFloat((long)shard.Rows * width); // [Rows, width]
        backend.FillNormal(buffer, seed, (ulong)shard.FirstRow * (ulong)width, 0f, std);
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
