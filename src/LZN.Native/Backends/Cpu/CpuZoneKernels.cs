namespace LZN.Native.Backends.Cpu;

/// <summary>
/// CPU mirror of kernels/latent_zone.cu. Rows are processed in tiles: per tile the logits come from one
/// GEMM through the backend (OpenBLAS on the fast backend), the row softmax runs with SIMD, and the
/// weighted mean m = P A is a second GEMM. Scratch is O(rowTile x anchorCount); nothing of size
/// rows x anchorCount x dim exists, and rows x anchorCount only when probabilities are requested.
/// </summary>
/// <param name="backend">The backend whose GEMM and buffers the kernels use.</param>
/// <param name="tileElements">Elements of one logits tile; 1 Mi floats (4 MiB) by default, small in tiling tests.</param>
internal sealed class CpuZoneKernels(IBackend backend, int tileElements = 1 << 20) : IZoneKernels
{
    private readonly IBackend _backend = backend;

    /// <summary>Rows per tile: as many as fit the tile budget, at least 16 so the GEMMs stay efficient.</summary>
    private int RowTile(int rows, int anchorCount) => Math.Min(rows, Math.Clamp(tileElements / anchorCount, 16, 1024));

    public void Step(in ZoneStepArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        CheckShapes(rows, anchorCount, dim, args.Time, args.Points, args.Anchors, args.LogPriors);
        CheckLength(args.NextPoints, (long)rows * dim, nameof(args.NextPoints));
        if (args.WeightedMean is not null) CheckLength(args.WeightedMean, (long)rows * dim, nameof(args.WeightedMean));
        if (args.LogSumExp is not null) CheckLength(args.LogSumExp, rows, nameof(args.LogSumExp));
        if (args.Probabilities is not null) CheckLength(args.Probabilities, (long)rows * anchorCount, nameof(args.Probabilities));
        if (args.TargetLogProb is not null)
        {
            CheckLength(args.TargetLogProb, rows, nameof(args.TargetLogProb));
            CheckTargets(args.Targets, rows, anchorCount);
        }

        var scales = new LogitScales(args.Time);
        var anchors = CpuBackend.Cast(args.Anchors);
        float[] bias = ColumnBias(anchors.Span, args.LogPriors is null ? default : CpuBackend.Cast(args.LogPriors).Span, anchorCount, dim, scales);
        int tile = RowTile(rows, anchorCount);

        // Probabilities, when requested, double as the logits scratch: the tile is written in place.
        using var logitsScratch = args.Probabilities is null ? _backend.AllocateFloat((long)tile * anchorCount) : null; // [tile, anchorCount]
        using var meanScratch = args.WeightedMean is null ? _backend.AllocateFloat((long)tile * dim) : null; // [tile, dim]
        using var lseScratch = args.LogSumExp is null ? _backend.AllocateFloat(tile) : null; // [tile]
        int[]? targets = args.TargetLogProb is null ? null : TargetsArray(args.Targets!, out _);
        int targetOffset = args.TargetLogProb is null ? 0 : CpuBackend.Cast(args.Targets!).Offset;
        float stepOverTime = (float)(args.StepSize / (double)args.Time);

        for (int start = 0; start < rows; start += tile)
        {
            int count = Math.Min(tile, rows - start);
            var points = args.Points.Slice((long)start * dim, (long)count * dim); // [count, dim]
            var logits = args.Probabilities?.Slice((long)start * anchorCount, (long)count * anchorCount)
                ?? logitsScratch!.Slice(0, (long)count * anchorCount); // [count, anchorCount]
            var mean = args.WeightedMean?.Slice((long)start * dim, (long)count * dim) ?? meanScratch!.Slice(0, (long)count * dim); // [count, dim]
            var lse = args.LogSumExp?.Slice(start, count) ?? lseScratch!.Slice(0, count); // [count]

            _backend.Gemm(false, true, count, anchorCount, dim, scales.Cross, points, dim, args.Anchors, dim, 0f, logits, anchorCount);
            var rowTargets = targets is null ? null : new RowTargets(targets, targetOffset + start, CpuBackend.Cast(args.TargetLogProb!.Slice(start, count)));
            CpuZoneRows.SoftmaxRows(CpuBackend.Cast(logits), bias, count, anchorCount, CpuBackend.Cast(lse), rowTargets);
            _backend.Gemm(false, false, count, dim, anchorCount, 1f, logits, anchorCount, args.Anchors, dim, 0f, mean, dim);
            CpuZoneRows.EulerUpdate(CpuBackend.Cast(points), CpuBackend.Cast(mean),
                CpuBackend.Cast(args.NextPoints.Slice((long)start * dim, (long)count * dim)), stepOverTime);
        }
    }

    public void StepBackward(in ZoneBackwardArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        CheckShapes(rows, anchorCount, dim, args.Time, args.Points, args.Anchors, args.LogPriors);
        CheckLength(args.WeightedMean, (long)rows * dim, nameof(args.WeightedMean));
        CheckLength(args.LogSumExp, rows, nameof(args.LogSumExp));
        CheckLength(args.PointsGrad, (long)rows * dim, nameof(args.PointsGrad));
        if (args.VelocityGrad is not null) CheckLength(args.VelocityGrad, (long)rows * dim, nameof(args.VelocityGrad));
        if (args.AnchorsGrad is not null) CheckLength(args.AnchorsGrad, (long)anchorCount * dim, nameof(args.AnchorsGrad));
        if (args.LogPriorsGrad is not null) CheckLength(args.LogPriorsGrad, anchorCount, nameof(args.LogPriorsGrad));
        if (args.TargetLogProbGrad is not null)
        {
            CheckLength(args.TargetLogProbGrad, rows, nameof(args.TargetLogProbGrad));
            CheckTargets(args.Targets, rows, anchorCount);
        }
        int? selfOffset = args.SelfAnchorOffset;
        if (selfOffset is int offset && (args.AnchorsGrad is null || offset < 0 || offset + rows > anchorCount))
            throw new ArgumentException($"SelfAnchorOffset {offset} needs AnchorsGrad and anchor rows [{offset}, {offset + rows}) within {anchorCount}.", nameof(args));
        if (args.VelocityGrad is null && args.TargetLogProbGrad is null)
            return;

        float time = args.Time;
        var scales = new LogitScales(time);
        var anchors = CpuBackend.Cast(args.Anchors);
        float[] bias = ColumnBias(anchors.Span, args.LogPriors is null ? default : CpuBackend.Cast(args.LogPriors).Span, anchorCount, dim, scales);
        int tile = RowTile(rows, anchorCount);
        using var probabilities = _backend.AllocateFloat((long)tile * anchorCount); // [tile, anchorCount]
        using var logitGrad = _backend.AllocateFloat((long)tile * anchorCount); // [tile, anchorCount] G A^T, then ds
        var columnSums = new double[anchorCount]; // sum_i ds_ij
        int[]? targets = args.TargetLogProbGrad is null ? null : TargetsArray(args.Targets!, out _);
        int targetOffset = args.TargetLogProbGrad is null ? 0 : CpuBackend.Cast(args.Targets!).Offset;
        float inverseTime = (float)(1.0 / time);

        for (int start = 0; start < rows; start += tile)
        {
            int count = Math.Min(tile, rows - start);
            long rowSpan = (long)count * dim;
            var points = args.Points.Slice((long)start * dim, rowSpan); // [count, dim]
            var velocityGrad = args.VelocityGrad?.Slice((long)start * dim, rowSpan); // [count, dim]
            var pointsGrad = args.PointsGrad.Slice((long)start * dim, rowSpan); // [count, dim]
            var p = probabilities.Slice(0, (long)count * anchorCount); // [count, anchorCount]
            var ds = logitGrad.Slice(0, (long)count * anchorCount); // [count, anchorCount]

            _backend.Gemm(false, true, count, anchorCount, dim, scales.Cross, points, dim, args.Anchors, dim, 0f, p, anchorCount);
            CpuZoneRows.RecomputeProbabilities(CpuBackend.Cast(p), bias, count, anchorCount, CpuBackend.Cast(args.LogSumExp.Slice(start, count)));

            float[]? rowDots = null;
            if (velocityGrad is not null)
            {
                _backend.Gemm(false, true, count, anchorCount, dim, 1f, velocityGrad, dim, args.Anchors, dim, 0f, ds, anchorCount);
                // D_i = g_i.m_i taken as sum_j p_ij (g_i.a_j) from the same products as ds: mathematically equal,
                // but then a one-hot row (small t) gets ds = 0 exactly instead of a rounding difference times 1/t^3.
                rowDots = CpuZoneRows.RowDots(CpuBackend.Cast(p), CpuBackend.Cast(ds), count, anchorCount);
                // dx += g / t (the direct path of v = (x - m) / t); dA += -(1/t) P^T G (the path through m).
                _backend.Axpby(inverseTime, velocityGrad, 1f, pointsGrad);
                if (args.AnchorsGrad is not null)
                {
                    // With self anchors the product uses P - S: one-hot rows then add exactly zero (see SelfAnchorOffset).
                    float[]? saved = selfOffset is int self ? CpuZoneRows.SubtractSelf(CpuBackend.Cast(p), count, anchorCount, self + start) : null;
                    _backend.Gemm(true, false, anchorCount, dim, count, -inverseTime, p, anchorCount, velocityGrad, dim, 1f, args.AnchorsGrad, dim);
                    if (saved is not null)
                        CpuZoneRows.RestoreSelf(CpuBackend.Cast(p), count, anchorCount, selfOffset!.Value + start, saved);
                }
            }

            var rowTargets = targets is null ? null : new RowTargets(targets, targetOffset + start, CpuBackend.Cast(args.TargetLogProbGrad!.Slice(start, count)));
            CpuZoneRows.LogitGradient(CpuBackend.Cast(p), CpuBackend.Cast(ds), rowDots, rowTargets, count, anchorCount, inverseTime);
            CpuZoneRows.AccumulateColumnSums(CpuBackend.Cast(ds), count, anchorCount, columnSums);

            // dx += (c/t^2) ds A; dA += (c/t^2) ds^T X.
            _backend.Gemm(false, false, count, dim, anchorCount, scales.Cross, ds, anchorCount, args.Anchors, dim, 1f, pointsGrad, dim);
            if (args.AnchorsGrad is not null)
                _backend.Gemm(true, false, anchorCount, dim, count, scales.Cross, ds, anchorCount, points, dim, 1f, args.AnchorsGrad, dim);
            // The self anchors' query path through the logits: dA_{s+i} += (1 - t)(c/t^2) ds A.
            if (selfOffset is int selfRow)
            {
                _backend.Gemm(false, false, count, dim, anchorCount, (float)((1.0 - time) * scales.Cross), ds, anchorCount, args.Anchors, dim,
                    1f, args.AnchorsGrad!.Slice((long)(selfRow + start) * dim, rowSpan), dim);
            }
        }

        // The bias -(c^2/(2t^2))|a_j|^2 + b_j: dA_j += -(c^2/t^2) a_j sum_i ds_ij, db_j += sum_i ds_ij.
        if (args.AnchorsGrad is not null)
            CpuZoneRows.AddScaledRows(anchors, columnSums, -2 * scales.SquaredNormDouble, CpuBackend.Cast(args.AnchorsGrad), anchorCount, dim);
        if (args.LogPriorsGrad is not null)
        {
            var priorsGrad = CpuBackend.Cast(args.LogPriorsGrad).Span;
            for (int j = 0; j < anchorCount; j++)
                priorsGrad[j] += (float)columnSums[j];
        }
    }

    /// <summary>bias_j = -(c^2/(2t^2))|a_j|^2 + b_j, with the squared norm in double.</summary>
    private static float[] ColumnBias(ReadOnlySpan<float> anchors, ReadOnlySpan<float> logPriors, int anchorCount, int dim, LogitScales scales)
    {
        var bias = new float[anchorCount];
        for (int j = 0; j < anchorCount; j++)
        {
            double squaredNorm = 0;
            foreach (float value in anchors.Slice(j * dim, dim))
                squaredNorm += (double)value * value;
            bias[j] = (float)(-scales.SquaredNormDouble * squaredNorm + (logPriors.IsEmpty ? 0.0 : logPriors[j]));
        }
        return bias;
    }

    private static int[] TargetsArray(IntBuffer targets, out int offset)
    {
        var cpu = CpuBackend.Cast(targets);
        offset = cpu.Offset;
        return cpu.Array;
    }

    private static void CheckShapes(int rows, int anchorCount, int dim, float time, FloatBuffer points, FloatBuffer anchors, FloatBuffer? logPriors)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(anchorCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (!(time > 0f && time <= 1f))
            throw new ArgumentOutOfRangeException(nameof(time), time, "Flow time must lie in (0, 1].");
        CheckLength(points, (long)rows * dim, nameof(points));
        CheckLength(anchors, (long)anchorCount * dim, nameof(anchors));
        if (logPriors is not null) CheckLength(logPriors, anchorCount, nameof(logPriors));
    }

    private static void CheckTargets(IntBuffer? targets, int rows, int anchorCount)
    {
        if (targets is null)
            throw new ArgumentException("Target log-probabilities need Targets.", nameof(targets));
        CheckLength(targets, rows, nameof(targets));
        foreach (int target in CpuBackend.Cast(targets).Span)
        {
            if ((uint)target >= (uint)anchorCount)
                throw new ArgumentOutOfRangeException(nameof(targets), target, $"Target outside [0, {anchorCount}).");
        }
    }

    private static void CheckLength<T>(DeviceBuffer<T> buffer, long expected, string name) where T : unmanaged
    {
        if (buffer.Length != expected)
            throw new ArgumentException($"{name} has {buffer.Length} elements; expected {expected}.", name);
    }
}

/// <summary>The logit coefficients at time t: Cross = c/t^2 on x.a, SquaredNorm = c^2/(2t^2) on |a|^2.</summary>
internal readonly struct LogitScales
{
    public LogitScales(float time)
    {
        double t = time, c = 1.0 - t;
        Cross = (float)(c / (t * t));
        SquaredNormDouble = c * c / (2 * t * t);
    }

    public float Cross { get; }

    public double SquaredNormDouble { get; }
}

/// <summary>Targets of a row tile: the whole target array, the tile's first index in it, and a per-row output.</summary>
internal sealed record RowTargets(int[] Targets, int Offset, CpuFloatBuffer PerRow);
