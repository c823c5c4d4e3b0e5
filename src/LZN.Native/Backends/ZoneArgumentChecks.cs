namespace LZN.Native.Backends;

/// <summary>
/// Shape checks shared by the CPU and CUDA <see cref="IZoneKernels"/>, so both reject the same calls.
/// Target values are not read here: a device backend would need a host copy for that.
/// </summary>
internal static class ZoneArgumentChecks
{
    public static void Step(in ZoneStepArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        Shapes(rows, anchorCount, dim, args.Time, args.Points, args.Anchors, args.LogPriors, args.AnchorNorms);
        ArgumentChecks.Length(args.NextPoints, (long)rows * dim, nameof(args.NextPoints));
        if (args.WeightedMean is not null) ArgumentChecks.Length(args.WeightedMean, (long)rows * dim, nameof(args.WeightedMean));
        if (args.LogSumExp is not null) ArgumentChecks.Length(args.LogSumExp, rows, nameof(args.LogSumExp));
        if (args.Probabilities is not null) ArgumentChecks.Length(args.Probabilities, (long)rows * anchorCount, nameof(args.Probabilities));
        if (args.TargetLogProb is not null)
        {
            ArgumentChecks.Length(args.TargetLogProb, rows, nameof(args.TargetLogProb));
            Targets(args.Targets, rows);
        }
    }

    public static void Backward(in ZoneBackwardArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        Shapes(rows, anchorCount, dim, args.Time, args.Points, args.Anchors, args.LogPriors, args.AnchorNorms);
        ArgumentChecks.Length(args.WeightedMean, (long)rows * dim, nameof(args.WeightedMean));
        ArgumentChecks.Length(args.LogSumExp, rows, nameof(args.LogSumExp));
        ArgumentChecks.Length(args.PointsGrad, (long)rows * dim, nameof(args.PointsGrad));
        if (args.VelocityGrad is not null) ArgumentChecks.Length(args.VelocityGrad, (long)rows * dim, nameof(args.VelocityGrad));
        if (args.AnchorsGrad is not null) ArgumentChecks.Length(args.AnchorsGrad, (long)anchorCount * dim, nameof(args.AnchorsGrad));
        if (args.LogPriorsGrad is not null) ArgumentChecks.Length(args.LogPriorsGrad, anchorCount, nameof(args.LogPriorsGrad));
        if (args.TargetLogProbGrad is not null)
        {
            ArgumentChecks.Length(args.TargetLogProbGrad, rows, nameof(args.TargetLogProbGrad));
            Targets(args.Targets, rows);
        }
        if (args.SelfAnchorOffset is int offset && (args.AnchorsGrad is null || offset < 0 || offset + rows > anchorCount))
            throw new ArgumentException($"SelfAnchorOffset {offset} needs AnchorsGrad and anchor rows [{offset}, {offset + rows}) within {anchorCount}.", nameof(args));
    }

    private static void Shapes(int rows, int anchorCount, int dim, float time, FloatBuffer points, FloatBuffer anchors, FloatBuffer? logPriors,
        ZoneAnchorNorms? anchorNorms)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(anchorCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (!(time > 0f && time <= 1f))
            throw new ArgumentOutOfRangeException(nameof(time), time, "Flow time must lie in (0, 1].");
        ArgumentChecks.Length(points, (long)rows * dim, nameof(points));
        ArgumentChecks.Length(anchors, (long)anchorCount * dim, nameof(anchors));
        if (logPriors is not null) ArgumentChecks.Length(logPriors, anchorCount, nameof(logPriors));
        if (anchorNorms is not null && (!ReferenceEquals(anchorNorms.Anchors, anchors) || anchorNorms.AnchorCount != anchorCount || anchorNorms.Dim != dim))
            throw new ArgumentException($"AnchorNorms were computed from another anchor buffer or shape ({anchorNorms.AnchorCount} x {anchorNorms.Dim}) than these anchors ({anchorCount} x {dim}).", nameof(anchorNorms));
    }

    /// <summary>The anchor norms of the backend that computed them, or the reason they cannot be used here.</summary>
    public static T Own<T>(ZoneAnchorNorms anchorNorms) where T : ZoneAnchorNorms =>
        anchorNorms as T ?? throw new ArgumentException($"AnchorNorms come from another backend's SquaredNorms ({anchorNorms.GetType().Name}, expected {typeof(T).Name}).", nameof(anchorNorms));

    public static void SquaredNorms(FloatBuffer anchors, int anchorCount, int dim)
    {
        ArgumentNullException.ThrowIfNull(anchors);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(anchorCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentChecks.Length(anchors, (long)anchorCount * dim, nameof(anchors));
    }

    private static void Targets(IntBuffer? targets, int rows)
    {
        if (targets is null)
            throw new ArgumentException("Target log-probabilities need Targets.", nameof(targets));
        ArgumentChecks.Length(targets, rows, nameof(targets));
    }
}
