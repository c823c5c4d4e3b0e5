using LZN.Native.Backends;

namespace LZN.Native.Zones;

/// <summary>
/// K explicit Euler steps x_{k+1} = x_k + s v(x_k, t_k), t_k = t_0 + k s (s = +h forward, -h reverse),
/// and their adjoint by recomputation from the stored points, means and row log-sum-exps
/// (docs/math.md section 7: the paper's O(n q r) custom checkpointing).
/// </summary>
internal sealed class EulerFlow : ILatentFlow
{
    private EulerFlow(ZoneAnchors anchors, int rows, int steps, double startTime, double signedStep, bool keep)
    {
        Anchors = anchors;
        Rows = rows;
        Steps = steps;
        StartTime = startTime;
        SignedStep = signedStep;
        if (keep)
            Trajectory = new FlowTrajectory(anchors, steps, rows);
    }

    public ZoneAnchors Anchors { get; }

    public int Rows { get; }

    public int Steps { get; }

    public double StartTime { get; }

    public double SignedStep { get; }

    /// <summary>The points where the velocities were evaluated, their means and lse (kept trajectories only).</summary>
    public FlowTrajectory? Trajectory { get; }

    public bool HasTrajectory => Trajectory is not null;

    /// <summary>The time of the k-th velocity evaluation, accumulated in double.</summary>
    public float Time(int step) => (float)(StartTime + step * SignedStep);

    /// <summary>
    /// Integrates from <paramref name="start"/> [rows, dim] into <paramref name="final"/> [rows, dim];
    /// optionally records log p(i -> targets_i) [steps, rows] and the probabilities [steps, rows, anchorCount].
    /// An encode passes <paramref name="firstStep"/> so the first update avoids the fp32 cancellation in x_0 - m_0.
    /// </summary>
    public static EulerFlow Run(ZoneAnchors anchors, FloatBuffer start, FloatBuffer final, int rows, int steps,
        double startTime, double signedStep, bool keepTrajectory,
        IntBuffer? targets = null, FloatBuffer? targetLogProbs = null, FloatBuffer? probabilities = null, EncodeStart? firstStep = null)
    {
        var backend = anchors.Backend;
        int dim = anchors.Dim;
        long rowElements = (long)rows * dim;
        var flow = new EulerFlow(anchors, rows, steps, startTime, signedStep, keepTrajectory);
        using var pingPong = keepTrajectory ? null : backend.AllocateFloat(2 * rowElements); // [2, rows, dim]
        using var firstMean = firstStep is not null && !keepTrajectory ? backend.AllocateFloat(rowElements) : null; // [rows, dim] m_0
        using var ownNorms = keepTrajectory ? null : backend.Zones.SquaredNorms(anchors.Anchors, anchors.Count, dim); // [anchorCount]
        var norms = flow.Trajectory?.Norms ?? ownNorms!;
        var current = start;
        for (int k = 0; k < steps; k++)
        {
            var here = keepTrajectory ? flow.Trajectory!.Point(k) : current;
            if (keepTrajectory && k == 0)
                backend.Copy(start, here);
            var next = k == steps - 1 ? final
                : keepTrajectory ? flow.Trajectory!.Point(k + 1)
                : pingPong!.Slice((k % 2) * rowElements, rowElements);
            backend.Zones.Step(new ZoneStepArgs
            {
                Rows = rows,
                AnchorCount = anchors.Count,
                Dim = dim,
                Time = flow.Time(k),
                StepSize = (float)signedStep,
                Points = here,
                Anchors = anchors.Anchors,
                LogPriors = anchors.LogPriors,
                AnchorNorms = norms,
                NextPoints = next,
                WeightedMean = flow.Trajectory?.Mean(k) ?? (k == 0 ? firstMean : null),
                LogSumExp = flow.Trajectory?.RowLogSumExp(k),
                Targets = targets,
                TargetLogProb = targetLogProbs?.Slice((long)k * rows, rows),
                Probabilities = probabilities?.Slice((long)k * rows * anchors.Count, (long)rows * anchors.Count),
            });
            if (k == 0 && firstStep is not null)
            {
                // x_1 = x_0 + (s/t_0)(x_0 - m_0) with the deviation taken from q and z (see EncodeStart).
                using var deviation = backend.AllocateFloat(rowElements); // [rows, dim]
                firstStep.Deviation(flow.Trajectory?.Mean(0) ?? firstMean!, 1.0, deviation);
                backend.Copy(here, next);
                backend.Axpby((float)(signedStep / startTime), deviation, 1f, next);
            }
            current = next;
        }
        return flow;
    }

    /// <summary>
    /// The Euler adjoint: <paramref name="adjoint"/> [rows, dim] holds dL/dx_K on entry and dL/dx_0 on return.
    /// With lambda_{k+1} = dL/dx_{k+1}, the velocity backward at (x_k, t_k) gets g = s lambda_{k+1} and
    /// lambda_k = lambda_{k+1} + dx. Target losses enter as beta [steps, rows]; anchor and prior
    /// gradients accumulate (+=). With <paramref name="selfAnchorOffset"/> the kernels also add the query
    /// path of anchor-row queries (see ZoneBackwardArgs.SelfAnchorOffset).
    /// </summary>
    public void Backward(FloatBuffer adjoint, IntBuffer? targets, FloatBuffer? targetLogProbGrad,
        FloatBuffer? anchorsGrad, FloatBuffer? logPriorsGrad, int? selfAnchorOffset = null)
    {
        if (!HasTrajectory)
            throw new InvalidOperationException("The forward pass did not keep its trajectory; set KeepTrajectory to take gradients.");
        var backend = Anchors.Backend;
        long rowElements = (long)Rows * Anchors.Dim;
        using var velocityGrad = backend.AllocateFloat(rowElements); // [rows, dim]
        for (int k = Steps - 1; k >= 0; k--)
        {
            backend.Axpby((float)SignedStep, adjoint, 0f, velocityGrad);
            Trajectory!.StepBackward(k, Time(k), velocityGrad, adjoint, anchorsGrad, logPriorsGrad, selfAnchorOffset,
                targetLogProbGrad is null ? null : targets, targetLogProbGrad?.Slice((long)k * Rows, Rows));
        }
    }

    void ILatentFlow.Backward(FloatBuffer adjoint, FloatBuffer? anchorsGrad, FloatBuffer? logPriorsGrad, int? selfAnchorOffset) =>
        Backward(adjoint, null, null, anchorsGrad, logPriorsGrad, selfAnchorOffset);

    public void Dispose() => Trajectory?.Dispose();
}
