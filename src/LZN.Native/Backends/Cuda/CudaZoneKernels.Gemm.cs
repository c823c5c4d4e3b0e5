namespace LZN.Native.Backends.Cuda;

// The gemm path (LZN_ZONE_KERNELS=gemm, kernels/latent_zone_gemm.cu): fp32 cuBLAS products over chunks of rows with
// per-row kernels between them. It trades the fused tiles' O(rows) memory for [chunkRows, anchorCount] floats of
// scratch (at most GemmScratchFloats per matrix, so at most two such matrices, 64 MiB, whatever the batch) and gets cuBLAS's
// GEMM rate for 2 B N d multiply-adds per forward step and 5 per backward step (the tiles' backward does 7).
internal sealed partial class CudaZoneKernels
{
    /// <summary>
    /// Floats of one [chunkRows, anchorCount] scratch matrix of the gemm path by default (128 MiB): 1,024 rows at
    /// N = 32,768, where 256-row chunks ran cuBLAS at 22 TFLOP/s on an H200 against 32 with 1,024 rows at N = 8,192.
    /// </summary>
    internal const long DefaultGemmScratchFloats = 32L << 20;

    /// <summary>Floats of one [chunkRows, anchorCount] scratch matrix (tests make it small to split their batches).</summary>
    internal long GemmScratchFloats { get; init; } = DefaultGemmScratchFloats;

    /// <summary>
    /// Rows per chunk for anchorCount anchors: as many as GemmScratchFloats allows, a multiple of 64 when the batch is split.
    /// A function of the shape alone, so that the backward's GEMMs have the forward's shapes (and cuBLAS its algorithms):
    /// the recomputed logits are then the forward's bit for bit.
    /// </summary>
    internal int GemmChunkRows(int rows, int anchorCount)
    {
        long fit = Math.Max(1, GemmScratchFloats / anchorCount);
        if (fit >= rows)
            return rows;
        return fit >= 64 ? (int)(fit - fit % 64) : (int)fit;
    }

    private unsafe void GemmStep(in ZoneStepArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        var scales = new Scales(args.Time);
        int chunkRows = GemmChunkRows(rows, anchorCount);
        using var ownNorms = args.AnchorNorms is null ? LaunchSquaredNorms(args.Anchors, anchorCount, dim) : null; // [anchorCount]
        var sqNorms = ownNorms ?? ZoneArgumentChecks.Own<CudaAnchorNorms>(args.AnchorNorms!).Values; // [anchorCount]
        using var dots = _backend.AllocateScratch((long)chunkRows * anchorCount); // [chunkRows, anchorCount]
        using var meanScratch = args.WeightedMean is null ? _backend.AllocateScratch((long)chunkRows * dim) : null; // [chunkRows, dim]
        using var lseScratch = args.LogSumExp is null ? _backend.AllocateScratch(chunkRows) : null; // [chunkRows]
        for (int start = 0; start < rows; start += chunkRows)
            GemmStepChunk(args, start, Math.Min(chunkRows, rows - start), scales, sqNorms, dots, meanScratch, lseScratch);
    }

    /// <summary>One chunk of rows [start, start + count) of <see cref="GemmStep"/>.</summary>
    private unsafe void GemmStepChunk(in ZoneStepArgs args, int start, int count, Scales scales, FloatBuffer sqNorms,
        FloatBuffer dots, FloatBuffer? meanScratch, FloatBuffer? lseScratch)
    {
        int anchorCount = args.AnchorCount, dim = args.Dim;
        var points = Rows(args.Points, start, count, dim);
        var chunkDots = dots.Slice(0, (long)count * anchorCount);
        _backend.Gemm(false, true, count, anchorCount, dim, 1f, points, dim, args.Anchors, dim, 0f, chunkDots, anchorCount);

        var lse = args.LogSumExp is null ? lseScratch!.Slice(0, count) : args.LogSumExp.Slice(start, count);
        ulong dotsPointer = CudaBackend.Pointer(chunkDots), norms = CudaBackend.Pointer(sqNorms), priors = CudaBackend.Pointer(args.LogPriors);
        ulong targets = CudaBackend.Pointer(args.Targets?.Slice(start, count));
        ulong probabilities = CudaBackend.Pointer(args.Probabilities is null ? null : Rows(args.Probabilities, start, count, anchorCount));
        ulong lsePointer = CudaBackend.Pointer(lse), targetLogProb = CudaBackend.Pointer(args.TargetLogProb?.Slice(start, count));
        float scale = scales.Cross, halfC = scales.HalfC;
        void** rowArguments = stackalloc void*[] { &dotsPointer, &norms, &priors, &targets, &probabilities, &lsePointer, &targetLogProb, &anchorCount, &scale, &halfC };
        _backend.Launch(_backend.Kernel(SourceGemm, "zone_gemm_forward_rows"), ((uint)count, 1, 1), (RowThreads, 1, 1), 0, rowArguments);

        var mean = args.WeightedMean is null ? meanScratch!.Slice(0, (long)count * dim) : Rows(args.WeightedMean, start, count, dim);
        _backend.Gemm(false, false, count, dim, anchorCount, 1f, chunkDots, anchorCount, args.Anchors, dim, 0f, mean, dim);

        ulong pointsPointer = CudaBackend.Pointer(points), meanPointer = CudaBackend.Pointer(mean);
        ulong next = CudaBackend.Pointer(Rows(args.NextPoints, start, count, dim));
        long elements = (long)count * dim;
        float time = args.Time, stepSize = args.StepSize;
        void** updateArguments = stackalloc void*[] { &pointsPointer, &meanPointer, &next, &elements, &time, &stepSize };
        _backend.LaunchElementwise(SourceGemm, "zone_gemm_forward_update", elements, updateArguments);
    }

    private unsafe void GemmStepBackward(in ZoneBackwardArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        var scales = new Scales(args.Time);
        int chunkRows = GemmChunkRows(rows, anchorCount);
        bool velocity = args.VelocityGrad is not null;
        bool anchorSide = args.AnchorsGrad is not null || args.LogPriorsGrad is not null;
        using var ownNorms = args.AnchorNorms is null ? LaunchSquaredNorms(args.Anchors, anchorCount, dim) : null; // [anchorCount]
        var sqNorms = ownNorms ?? ZoneArgumentChecks.Own<CudaAnchorNorms>(args.AnchorNorms!).Values; // [anchorCount]
        using var dots = _backend.AllocateScratch((long)chunkRows * anchorCount); // [chunkRows, anchorCount] x.a, then ds
        using var gDots = velocity ? _backend.AllocateScratch((long)chunkRows * anchorCount) : null; // [chunkRows, anchorCount] g.a, then p - S
        using var dsTimesAnchors = _backend.AllocateScratch((long)chunkRows * dim); // [chunkRows, dim]
        using var rowDsSum = _backend.AllocateScratch(chunkRows); // [chunkRows]
        using var columnSums = anchorSide ? _backend.AllocateScratch(anchorCount) : null; // [anchorCount]
        var scratch = new GemmBackwardScratch(sqNorms, dots, gDots, dsTimesAnchors, rowDsSum, columnSums);
        for (int start = 0; start < rows; start += chunkRows)
            GemmStepBackwardChunk(args, start, Math.Min(chunkRows, rows - start), scales, scratch);

        if (anchorSide)
        {
            float scale = scales.Cross, c = scales.C;
            ulong anchors = CudaBackend.Pointer(args.Anchors), sums = CudaBackend.Pointer(columnSums);
            ulong anchorsGrad = CudaBackend.Pointer(args.AnchorsGrad), priorsGrad = CudaBackend.Pointer(args.LogPriorsGrad);
            void** finalizeArguments = stackalloc void*[] { &anchors, &sums, &anchorsGrad, &priorsGrad, &anchorCount, &dim, &scale, &c };
            _backend.LaunchElementwise(SourceGemm, "zone_gemm_anchors_finalize", (long)anchorCount * dim, finalizeArguments);
        }
    }

    /// <summary>One chunk of rows [start, start + count) of <see cref="GemmStepBackward"/>.</summary>
    private unsafe void GemmStepBackwardChunk(in ZoneBackwardArgs args, int start, int count, Scales scales, GemmBackwardScratch scratch)
    {
        int anchorCount = args.AnchorCount, dim = args.Dim;
        bool velocity = args.VelocityGrad is not null;
        var (sqNorms, dots, gDots, dsTimesAnchors, rowDsSum, columnSums) = scratch;
        float time = args.Time, scale = scales.Cross, halfC = scales.HalfC, c = scales.C;
        var points = Rows(args.Points, start, count, dim);
        var velocityGrad = velocity ? Rows(args.VelocityGrad!, start, count, dim) : null;
        var chunkDots = dots.Slice(0, (long)count * anchorCount);
        var chunkGDots = gDots?.Slice(0, (long)count * anchorCount);
        _backend.Gemm(false, true, count, anchorCount, dim, 1f, points, dim, args.Anchors, dim, 0f, chunkDots, anchorCount);
        if (velocity)
            _backend.Gemm(false, true, count, anchorCount, dim, 1f, velocityGrad!, dim, args.Anchors, dim, 0f, chunkGDots!, anchorCount);

        ulong dotsPointer = CudaBackend.Pointer(chunkDots), gDotsPointer = CudaBackend.Pointer(chunkGDots);
        ulong norms = CudaBackend.Pointer(sqNorms), priors = CudaBackend.Pointer(args.LogPriors);
        ulong lse = CudaBackend.Pointer(args.LogSumExp.Slice(start, count)), targets = CudaBackend.Pointer(args.Targets?.Slice(start, count));
        ulong targetGrad = CudaBackend.Pointer(args.TargetLogProbGrad?.Slice(start, count)), dsSum = CudaBackend.Pointer(rowDsSum);
        int selfOffset = args.SelfAnchorOffset is { } offset ? offset + start : -1;
        void** rowArguments = stackalloc void*[]
        {
            &dotsPointer, &gDotsPointer, &norms, &priors, &lse, &targets, &targetGrad, &dsSum, &anchorCount, &selfOffset, &time, &scale, &halfC,
        };
        _backend.Launch(_backend.Kernel(SourceGemm, "zone_gemm_backward_rows"), ((uint)count, 1, 1), (RowThreads, 1, 1), 0, rowArguments);

        // dx: T = ds A, then the combine (and the self anchors' query path).
        var chunkT = dsTimesAnchors.Slice(0, (long)count * dim);
        _backend.Gemm(false, false, count, dim, anchorCount, 1f, chunkDots, anchorCount, args.Anchors, dim, 0f, chunkT, dim);
        ulong mean = CudaBackend.Pointer(Rows(args.WeightedMean, start, count, dim)), gradient = CudaBackend.Pointer(velocityGrad);
        ulong t = CudaBackend.Pointer(chunkT), pointsGrad = CudaBackend.Pointer(Rows(args.PointsGrad, start, count, dim));
        ulong anchorsGrad = CudaBackend.Pointer(args.AnchorsGrad);
        long elements = (long)count * dim;
        void** combineArguments = stackalloc void*[] { &mean, &gradient, &t, &dsSum, &pointsGrad, &anchorsGrad, &count, &dim, &selfOffset, &time, &scale, &c };
        _backend.LaunchElementwise(SourceGemm, "zone_gemm_points_combine", elements, combineArguments);

        if (columnSums is null)
            return;
        ulong sums = CudaBackend.Pointer(columnSums);
        int accumulate = start == 0 ? 0 : 1;
        void** columnArguments = stackalloc void*[] { &dotsPointer, &sums, &count, &anchorCount, &accumulate };
        _backend.Launch(_backend.Kernel(SourceGemm, "zone_gemm_column_sums"), ((uint)CeilDiv(anchorCount, ColumnsPerBlock), 1, 1), (ColumnSumThreads, 1, 1), 0, columnArguments);
        if (args.AnchorsGrad is not null)
        {
            _backend.Gemm(true, false, anchorCount, dim, count, scale, chunkDots, anchorCount, points, dim, 1f, args.AnchorsGrad, dim);
            if (velocity)
                _backend.Gemm(true, false, anchorCount, dim, count, -1f / time, chunkGDots!, anchorCount, velocityGrad!, dim, 1f, args.AnchorsGrad, dim);
        }
    }

    /// <summary>The backward's buffers: |a_j|^2 [anchorCount]; dots and gDots [chunkRows, anchorCount] (gDots null without a
    /// velocity gradient); T [chunkRows, dim]; row sums of ds [chunkRows]; column sums of ds [anchorCount] or null.</summary>
    private readonly record struct GemmBackwardScratch(FloatBuffer SqNorms, FloatBuffer Dots, FloatBuffer? GDots,
        FloatBuffer DsTimesAnchors, FloatBuffer RowDsSum, FloatBuffer? ColumnSums);

    /// <summary>Columns per block of zone_gemm_column_sums and its threads (ZONE_GEMM_COLUMNS x ZONE_GEMM_ROW_GROUPS).</summary>
    private const int ColumnsPerBlock = 32;

    internal const int ColumnSumThreads = ColumnsPerBlock * 8;

    private static FloatBuffer Rows(FloatBuffer matrix, int start, int count, int width) => matrix.Slice((long)start * width, (long)count * width);
}
