namespace LZN.Native.Backends.Cpu;

/// <summary>
/// CPU mirror of kernels/latent_zone.cu. Rows are processed in tiles: per tile the logits come from one
/// GEMM through the backend (OpenBLAS on the fast backend), the row softmax runs with SIMD, and the
/// weighted mean m = P A is a second GEMM, or a sum over the nonzero p where the softmax has underflowed to
/// one-hot or nearly (small t; <see cref="CpuZoneSparse"/>, which also has the backward of such tiles).
/// Scratch is O(rowTile x anchorCount); nothing of size rows x anchorCount x dim exists, and rows x anchorCount only when probabilities are requested.
/// GEMMs run multi-threaded inside OpenBLAS and the row passes run Parallel.For over a tile's rows; tiles
/// run one after another (the GEMMs already reach ~245 GFLOP/s on 2 cores at N = 2048).
/// The backward takes g_i.m_i as sum_j p_ij (g_i.a_j), so it reads WeightedMean only to check its shape.
/// </summary>
/// <param name="backend">The backend whose GEMM and buffers the kernels use.</param>
/// <param name="tileElements">Elements of one logits tile; 1 Mi floats (4 MiB) by default, small in tiling tests.</param>
/// <param name="skipZeros">Whether sparse tiles take <see cref="CpuZoneSparse"/>; off, every tile takes the GEMMs (tests compare the two).</param>
internal sealed class CpuZoneKernels(IBackend backend, int tileElements = 1 << 20, bool skipZeros = true) : IZoneKernels
{
    private readonly IBackend _backend = backend;

    /// <summary>Rows per tile: as many as fit the tile budget, at least 16 so the GEMMs stay efficient.</summary>
    private int RowTile(int rows, int anchorCount) => Math.Min(rows, Math.Clamp(tileElements / anchorCount, 16, 1024));

    public void Step(in ZoneStepArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        ZoneArgumentChecks.Step(args);
        if (args.TargetLogProb is not null)
            CheckTargetRange(args.Targets!, anchorCount);

        var scales = new LogitScales(args.Time);
        var anchors = CpuBackend.Cast(args.Anchors);
        float[] bias = ColumnBias(Norms(args.AnchorNorms, anchors.Span, anchorCount, dim), args.LogPriors is null ? default : CpuBackend.Cast(args.LogPriors).Span, scales);
        int tile = RowTile(rows, anchorCount);

        // Probabilities, when requested, double as the logits scratch: the tile is written in place.
        using var logitsScratch = args.Probabilities is null ? _backend.AllocateFloat((long)tile * anchorCount) : null; // [tile, anchorCount]
        using var meanScratch = args.WeightedMean is null ? _backend.AllocateFloat((long)tile * dim) : null; // [tile, dim]
        using var lseScratch = args.LogSumExp is null ? _backend.AllocateFloat(tile) : null; // [tile]
        var targets = args.TargetLogProb is null ? null : CpuBackend.Cast(args.Targets!); // [rows]
        var nonzeros = new int[tile]; // [tile] nonzero probabilities per row
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
            var rowTargets = targets is null ? null : new RowTargets(targets.Array, targets.Offset + start, CpuBackend.Cast(args.TargetLogProb!.Slice(start, count)));
            CpuZoneRows.SoftmaxRows(CpuBackend.Cast(logits), bias, count, anchorCount, CpuBackend.Cast(lse), rowTargets, nonzeros);
            if (skipZeros && CpuZoneSparse.IsSparse(nonzeros, count, anchorCount))
                CpuZoneSparse.WeightedMean(CpuBackend.Cast(logits), anchors, count, anchorCount, dim, CpuBackend.Cast(mean));
            else
                _backend.Gemm(false, false, count, dim, anchorCount, 1f, logits, anchorCount, args.Anchors, dim, 0f, mean, dim);
            CpuZoneRows.EulerUpdate(CpuBackend.Cast(points), CpuBackend.Cast(mean),
                CpuBackend.Cast(args.NextPoints.Slice((long)start * dim, (long)count * dim)), stepOverTime);
        }
    }

    public void StepBackward(in ZoneBackwardArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        ZoneArgumentChecks.Backward(args);
        if (args.TargetLogProbGrad is not null)
            CheckTargetRange(args.Targets!, anchorCount);
        int? selfOffset = args.SelfAnchorOffset;
        if (args.VelocityGrad is null && args.TargetLogProbGrad is null)
            return;

        float time = args.Time;
        var scales = new LogitScales(time);
        var anchors = CpuBackend.Cast(args.Anchors);
        float[] bias = ColumnBias(Norms(args.AnchorNorms, anchors.Span, anchorCount, dim), args.LogPriors is null ? default : CpuBackend.Cast(args.LogPriors).Span, scales);
        int tile = RowTile(rows, anchorCount);
        using var probabilities = _backend.AllocateFloat((long)tile * anchorCount); // [tile, anchorCount]
        using var logitGrad = _backend.AllocateFloat((long)tile * anchorCount); // [tile, anchorCount] G A^T, then ds
        using var logitPathScratch = selfOffset is null ? null : _backend.AllocateFloat((long)tile * dim); // [tile, dim]
        var columnSums = new double[anchorCount]; // sum_i ds_ij
        var targets = args.TargetLogProbGrad is null ? null : CpuBackend.Cast(args.Targets!); // [rows]
        var nonzeros = new int[tile]; // [tile] nonzero probabilities per row
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
            CpuZoneRows.RecomputeProbabilities(CpuBackend.Cast(p), bias, count, anchorCount, CpuBackend.Cast(args.LogSumExp.Slice(start, count)), nonzeros);
            var rowTargets = targets is null ? null : new RowTargets(targets.Array, targets.Offset + start, CpuBackend.Cast(args.TargetLogProbGrad!.Slice(start, count)));
            // dx += g / t (the direct path of v = (x - m) / t).
            if (velocityGrad is not null)
                _backend.Axpby(inverseTime, velocityGrad, 1f, pointsGrad);
            if (skipZeros && CpuZoneSparse.IsSparse(nonzeros, count, anchorCount))
            {
                CpuZoneSparse.TileBackward(new SparseTileBackward
                {
                    Rows = count, AnchorCount = anchorCount, Dim = dim, InverseTime = inverseTime, Cross = scales.Cross,
                    OneMinusTime = (float)(1.0 - time), Probabilities = CpuBackend.Cast(p), Anchors = anchors, Points = CpuBackend.Cast(points),
                    VelocityGrad = velocityGrad is null ? null : CpuBackend.Cast(velocityGrad), PointsGrad = CpuBackend.Cast(pointsGrad),
                    AnchorsGrad = args.AnchorsGrad is null ? null : CpuBackend.Cast(args.AnchorsGrad), ColumnSums = columnSums,
                    Targets = rowTargets, SelfColumn = selfOffset + start,
                }, nonzeros);
                continue;
            }

            float[]? rowDots = null;
            if (velocityGrad is not null)
            {
                _backend.Gemm(false, true, count, anchorCount, dim, 1f, velocityGrad, dim, args.Anchors, dim, 0f, ds, anchorCount);
                // D_i = g_i.m_i taken as sum_j p_ij (g_i.a_j) from the same products as ds: mathematically equal,
                // but then a one-hot row (small t) gets ds = 0 exactly instead of a rounding difference times 1/t^3.
                rowDots = CpuZoneRows.RowDots(CpuBackend.Cast(p), CpuBackend.Cast(ds), count, anchorCount);
                // dA += -(1/t) P^T G (the path through m).
                if (args.AnchorsGrad is not null)
                {
                    // With self anchors the product uses P - S: one-hot rows then add exactly zero (see SelfAnchorOffset).
                    float[]? saved = selfOffset is int self ? CpuZoneRows.SubtractSelf(CpuBackend.Cast(p), count, anchorCount, self + start) : null;
                    _backend.Gemm(true, false, anchorCount, dim, count, -inverseTime, p, anchorCount, velocityGrad, dim, 1f, args.AnchorsGrad, dim);
                    if (saved is not null)
                        CpuZoneRows.RestoreSelf(CpuBackend.Cast(p), count, anchorCount, selfOffset!.Value + start, saved);
                }
            }

            CpuZoneRows.LogitGradient(CpuBackend.Cast(p), CpuBackend.Cast(ds), rowDots, rowTargets, count, anchorCount, inverseTime);
            CpuZoneRows.AccumulateColumnSums(CpuBackend.Cast(ds), count, anchorCount, columnSums);

            // dx += e = (c/t^2) ds A; with self anchors also dA_{s+i} += (1 - t) e_i (their query path through the logits).
            if (selfOffset is int selfRow)
            {
                var logitPath = logitPathScratch!.Slice(0, rowSpan); // [count, dim]
                _backend.Gemm(false, false, count, dim, anchorCount, scales.Cross, ds, anchorCount, args.Anchors, dim, 0f, logitPath, dim);
                _backend.Axpby(1f, logitPath, 1f, pointsGrad);
                _backend.Axpby((float)(1.0 - time), logitPath, 1f, args.AnchorsGrad!.Slice((long)(selfRow + start) * dim, rowSpan));
            }
            else
            {
                _backend.Gemm(false, false, count, dim, anchorCount, scales.Cross, ds, anchorCount, args.Anchors, dim, 1f, pointsGrad, dim);
            }
            // dA += (c/t^2) ds^T X.
            if (args.AnchorsGrad is not null)
                _backend.Gemm(true, false, anchorCount, dim, count, scales.Cross, ds, anchorCount, points, dim, 1f, args.AnchorsGrad, dim);
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

    public ZoneAnchorNorms SquaredNorms(FloatBuffer anchors, int anchorCount, int dim)
    {
        ZoneArgumentChecks.SquaredNorms(anchors, anchorCount, dim);
        return new CpuAnchorNorms(anchors, anchorCount, dim, SquaredNormsOf(CpuBackend.Cast(anchors).Span, anchorCount, dim));
    }

    /// <summary>|a_j|^2 [anchorCount] in double.</summary>
    private static double[] SquaredNormsOf(ReadOnlySpan<float> anchors, int anchorCount, int dim)
    {
        var squaredNorms = new double[anchorCount];
        for (int j = 0; j < anchorCount; j++)
        {
            double squaredNorm = 0;
            foreach (float value in anchors.Slice(j * dim, dim))
                squaredNorm += (double)value * value;
            squaredNorms[j] = squaredNorm;
        }
        return squaredNorms;
    }

    /// <summary>The flow's norms when it computed them, else this call's own.</summary>
    private static double[] Norms(ZoneAnchorNorms? given, ReadOnlySpan<float> anchors, int anchorCount, int dim) =>
        given is null ? SquaredNormsOf(anchors, anchorCount, dim) : ZoneArgumentChecks.Own<CpuAnchorNorms>(given).Values;

    /// <summary>bias_j = -(c^2/(2t^2))|a_j|^2 + b_j, in double.</summary>
    private static float[] ColumnBias(double[] squaredNorms, ReadOnlySpan<float> logPriors, LogitScales scales)
    {
        var bias = new float[squaredNorms.Length];
        for (int j = 0; j < bias.Length; j++)
            bias[j] = (float)(-scales.SquaredNormDouble * squaredNorms[j] + (logPriors.IsEmpty ? 0.0 : logPriors[j]));
        return bias;
    }

    /// <summary>The CPU's |a_j|^2: float64, as its steps use them.</summary>
    private sealed class CpuAnchorNorms(FloatBuffer anchors, int anchorCount, int dim, double[] values) : ZoneAnchorNorms(anchors, anchorCount, dim)
    {
        public double[] Values { get; } = values; // [anchorCount]
    }

    // The CPU can read targets cheaply, so it also rejects values outside [0, anchorCount).
    private static void CheckTargetRange(IntBuffer targets, int anchorCount)
    {
        foreach (int target in CpuBackend.Cast(targets).Span)
        {
            if ((uint)target >= (uint)anchorCount)
                throw new ArgumentOutOfRangeException(nameof(targets), target, $"Target outside [0, {anchorCount}).");
        }
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
