using LZN.Native.Backends;

namespace LZN.Native.Zones;

/// <summary>
/// What a flow keeps for its backward to recompute from: at each of its evaluations k the point x_k and the mean m_k
/// [Steps, Rows, Dim] and the row log-sum-exps lse_k [Steps, Rows] (docs/math.md section 7: O(K B d), no B x N tensor),
/// and the anchors' squared norms, computed once for the forward steps and every backward.
/// </summary>
internal sealed class FlowTrajectory : IDisposable
{
    private readonly ZoneAnchors _anchors;
    private readonly int _rows;
    private readonly long _rowElements;

    public FlowTrajectory(ZoneAnchors anchors, int steps, int rows)
    {
        _anchors = anchors;
        _rows = rows;
        _rowElements = (long)rows * anchors.Dim;
        var backend = anchors.Backend;
        Points = backend.AllocateFloat(steps * _rowElements); // [steps, rows, dim]
        Means = backend.AllocateFloat(steps * _rowElements); // [steps, rows, dim]
        LogSumExp = backend.AllocateFloat((long)steps * rows); // [steps, rows]
        Norms = backend.Zones.SquaredNorms(anchors.Anchors, anchors.Count, anchors.Dim); // [anchorCount]
    }

    /// <summary>|a_j|^2 [anchorCount] of the flow's anchors.</summary>
    public ZoneAnchorNorms Norms { get; }

    private FloatBuffer Points { get; }

    private FloatBuffer Means { get; }

    private FloatBuffer LogSumExp { get; }

    /// <summary>x_k [rows, dim].</summary>
    public FloatBuffer Point(int k) => Points.Slice(k * _rowElements, _rowElements);

    /// <summary>m_k [rows, dim].</summary>
    public FloatBuffer Mean(int k) => Means.Slice(k * _rowElements, _rowElements);

    /// <summary>lse_k [rows].</summary>
    public FloatBuffer RowLogSumExp(int k) => LogSumExp.Slice((long)k * _rows, _rows);

    /// <summary>
    /// The velocity backward of evaluation k at <paramref name="time"/> from g = <paramref name="velocityGrad"/> and/or a
    /// target loss, accumulating into <paramref name="pointsGrad"/> and the anchors' gradients (see <see cref="ZoneBackwardArgs"/>).
    /// </summary>
    public void StepBackward(int k, float time, FloatBuffer? velocityGrad, FloatBuffer pointsGrad, FloatBuffer? anchorsGrad,
        FloatBuffer? logPriorsGrad, int? selfAnchorOffset, IntBuffer? targets = null, FloatBuffer? targetLogProbGrad = null) =>
        _anchors.Backend.Zones.StepBackward(new ZoneBackwardArgs
        {
            Rows = _rows,
            AnchorCount = _anchors.Count,
            Dim = _anchors.Dim,
            Time = time,
            Points = Point(k),
            Anchors = _anchors.Anchors,
            LogPriors = _anchors.LogPriors,
            AnchorNorms = Norms,
            WeightedMean = Mean(k),
            LogSumExp = RowLogSumExp(k),
            VelocityGrad = velocityGrad,
            Targets = targets,
            TargetLogProbGrad = targetLogProbGrad,
            PointsGrad = pointsGrad,
            AnchorsGrad = anchorsGrad,
            LogPriorsGrad = logPriorsGrad,
            SelfAnchorOffset = selfAnchorOffset,
        });

    public void Dispose()
    {
        Points.Dispose();
        Means.Dispose();
        LogSumExp.Dispose();
        Norms.Dispose();
    }
}
