using LZN.Native.Backends;

namespace LZN.Native.Zones;

/// <summary>Gradients of an assign, each accumulated (+=) when given.</summary>
public readonly record struct AssignGradients(
    FloatBuffer? Latents = null, // [rows, dim]
    FloatBuffer? Anchors = null, // [anchorCount, dim]
    FloatBuffer? LogPriors = null); // [anchorCount]

/// <summary>What an assign recorded; owns its buffers.</summary>
public sealed class AssignResult : IDisposable
{
    private readonly EulerFlow _flow;

    internal AssignResult(EulerFlow flow, int steps, FloatBuffer finalPoints, IntBuffer? targets, FloatBuffer? targetLogProbs, FloatBuffer? probabilities)
    {
        _flow = flow;
        Steps = steps;
        FinalPoints = finalPoints;
        Targets = targets;
        TargetLogProbs = targetLogProbs;
        Probabilities = probabilities;
    }

    /// <summary>x_K [Rows, Dim], the end of the reverse flow near t = 0 (x_E when only E steps were evaluated).</summary>
    public FloatBuffer FinalPoints { get; }

    /// <summary>The targets passed to the assign [Rows] (not owned), or null.</summary>
    public IntBuffer? Targets { get; }

    /// <summary>log P_k(i -> target_i) [Steps, Rows], or null without targets.</summary>
    public FloatBuffer? TargetLogProbs { get; }

    /// <summary>P_k(i -> j) [Steps, Rows, AnchorCount], or null unless requested.</summary>
    public FloatBuffer? Probabilities { get; }

    /// <summary>K, the steps of the schedule (h = 1/K).</summary>
    public int Steps { get; }

    /// <summary>E &lt;= K, the steps evaluated (<see cref="AssignOptions.EvaluatedSteps"/>).</summary>
    public int EvaluatedSteps => _flow.Steps;

    public int Rows => _flow.Rows;

    public bool HasTrajectory => _flow.HasTrajectory;

    internal EulerFlow Flow => _flow;

    public void Dispose()
    {
        _flow.Dispose();
        FinalPoints.Dispose();
        TargetLogProbs?.Dispose();
        Probabilities?.Dispose();
    }
}

/// <summary>
/// The reverse latent flow, latent -> zone (docs/math.md section 5): Euler from t = 1 with
/// h = 1/K, x_{k+1} = x_k - h v(x_k, t_k); step k records P_k at (x_k, t_k), the last one at t = h.
/// </summary>
public static class ZoneAssigner
{
    /// <summary>
    /// Runs the reverse flow of <paramref name="latents"/> [rows, dim] over <paramref name="anchors"/>,
    /// recording log P_k(i -> targets_i) when <paramref name="targets"/> [rows] is given.
    /// </summary>
    public static AssignResult Assign(ZoneAnchors anchors, FloatBuffer latents, int rows, IntBuffer? targets = null, AssignOptions? options = null)
    {
        options ??= new AssignOptions();
        anchors.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Steps);
        ZoneChecks.Length(latents, (long)rows * anchors.Dim, nameof(latents));
        ZoneChecks.Length(targets, rows, nameof(targets));

        var backend = anchors.Backend;
        int steps = options.Steps;
        int evaluated = options.EvaluatedSteps ?? steps;
        if (evaluated < 1 || evaluated > steps)
            throw new ArgumentOutOfRangeException(nameof(options), evaluated, $"EvaluatedSteps must lie in [1, Steps = {steps}].");
        var finalPoints = backend.AllocateFloat((long)rows * anchors.Dim); // [rows, dim]
        var targetLogProbs = targets is null ? null : backend.AllocateFloat((long)steps * rows); // [steps, rows]
        var probabilities = options.RecordProbabilities ? backend.AllocateFloat((long)steps * rows * anchors.Count) : null; // [steps, rows, anchorCount]
        if (evaluated < steps)
        {
            // Steps the flow does not reach must not read as probabilities.
            if (targetLogProbs is not null)
                backend.Fill(targetLogProbs, float.NaN);
            if (probabilities is not null)
                backend.Fill(probabilities, float.NaN);
        }
        var flow = EulerFlow.Run(anchors, latents, finalPoints, rows, evaluated, 1.0, -1.0 / steps, options.KeepTrajectory,
            targets, targetLogProbs, probabilities);
        return new AssignResult(flow, steps, finalPoints, targets, targetLogProbs, probabilities);
    }

    /// <summary>
    /// Backward of <see cref="Assign"/> from dL/dFinalPoints [rows, dim] and/or
    /// dL/dTargetLogProbs [steps, rows] (e.g. from <see cref="AssignmentLoss"/>).
    /// </summary>
    public static void Backward(AssignResult forward, FloatBuffer? finalPointsGrad, FloatBuffer? targetLogProbsGrad, AssignGradients gradients)
    {
        var flow = forward.Flow;
        var anchors = flow.Anchors;
        long rowElements = (long)forward.Rows * anchors.Dim;
        ZoneChecks.Length(finalPointsGrad, rowElements, nameof(finalPointsGrad));
        ZoneChecks.Length(targetLogProbsGrad, (long)forward.Steps * forward.Rows, nameof(targetLogProbsGrad));
        ZoneChecks.Length(gradients.Latents, rowElements, nameof(gradients.Latents));
        ZoneChecks.Length(gradients.Anchors, (long)anchors.Count * anchors.Dim, nameof(gradients.Anchors));
        ZoneChecks.Length(gradients.LogPriors, anchors.Count, nameof(gradients.LogPriors));
        if (targetLogProbsGrad is not null && forward.Targets is null)
            throw new ArgumentException("A target log-probability gradient needs an assign with targets.", nameof(targetLogProbsGrad));

        var backend = anchors.Backend;
        using var adjoint = backend.AllocateFloat(rowElements); // [rows, dim]
        if (finalPointsGrad is not null)
            backend.Copy(finalPointsGrad, adjoint);
        flow.Backward(adjoint, forward.Targets, targetLogProbsGrad, gradients.Anchors, gradients.LogPriors);
        if (gradients.Latents is not null)
            backend.Axpby(1f, adjoint, 1f, gradients.Latents);
    }

    /// <summary>
    /// The zone of each point [rows, dim]: argmin_j |x_i - a_j|^2 = argmin_j (|a_j|^2 - 2 x_i.a_j),
    /// from row tiles of one GEMM each; returns the anchor index per row on the host.
    /// </summary>
    public static int[] NearestAnchors(ZoneAnchors anchors, FloatBuffer points, int rows)
    {
        anchors.Validate();
        int count = anchors.Count, dim = anchors.Dim;
        ZoneChecks.Length(points, (long)rows * dim, nameof(points));
        var backend = anchors.Backend;
        var hostAnchors = anchors.Anchors.ToArray(); // [anchorCount, dim]
        var squaredNorms = new double[count];
        for (int j = 0; j < count; j++)
        {
            double sum = 0;
            for (int k = 0; k < dim; k++)
                sum += (double)hostAnchors[j * dim + k] * hostAnchors[j * dim + k];
            squaredNorms[j] = sum;
        }

        int tile = Math.Max(1, Math.Min(rows, (1 << 20) / count));
        using var dots = backend.AllocateFloat((long)tile * count); // [tile, anchorCount]
        var hostDots = new float[tile * count];
        var zones = new int[rows];
        for (int start = 0; start < rows; start += tile)
        {
            int tileRows = Math.Min(tile, rows - start);
            var tileDots = dots.Slice(0, (long)tileRows * count);
            backend.Gemm(false, true, tileRows, count, dim, 1f, points.Slice((long)start * dim, (long)tileRows * dim), dim,
                anchors.Anchors, dim, 0f, tileDots, count);
            backend.Download(tileDots, hostDots.AsSpan(0, tileRows * count));
            for (int r = 0; r < tileRows; r++)
            {
                int best = 0;
                double bestDistance = double.PositiveInfinity;
                for (int j = 0; j < count; j++)
                {
                    double distance = squaredNorms[j] - 2.0 * hostDots[r * count + j];
                    if (distance < bestDistance)
                    {
                        bestDistance = distance;
                        best = j;
                    }
                }
                zones[start + r] = best;
            }
        }
        return zones;
    }
}
