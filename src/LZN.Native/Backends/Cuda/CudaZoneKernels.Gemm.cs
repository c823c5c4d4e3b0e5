namespace LZN.Native.Backends.Cuda;

// The gemm path (LZN_ZONE_KERNELS=gemm, kernels/latent_zone_gemm.cu): fp32 cuBLAS products over chunks of rows with
// per-row kernels between them. It trades the fused tiles' O(rows) memory for [chunkRows, anchorCount] floats of
// scratch (at most GemmScratchFloats per matrix, so at most two such matrices, 64 MiB, whatever the batch) and gets cuBLAS's
// GEMM rate for 2 B N d multiply-adds per forward step and 5 per backward step (the tiles' backward does 7).
// Chunks whose softmax has underflowed to a few nonzero p per row skip the products after the logits (SkipZeros).
// gemm-3xtf32 computes the logits' product on TF32 tensor cores in the 3xTF32 split (LogitProduct).
internal sealed partial class CudaZoneKernels
{
    /// <summary>
    /// The most backward entries (nonzero p, targets, self anchors) a sparse chunk may have per row on average. Each
    /// block of zone_gemm_sparse_anchors walks the chunk's whole entry list, so the list must stay short next to the
    /// GEMMs it replaces: at 1,024 x 8,192 x 256, 16 per row is 128 blocks reading 16,384 entries each.
    /// </summary>
    internal const int MaxSparseEntriesPerRow = 16;

    /// <summary>Whether the gemm path skips the zero products of sparse chunks (all but <see cref="ZoneKernelVersion.GemmDense"/>).</summary>
    internal bool SkipZeros => Version != ZoneKernelVersion.GemmDense;

    /// <summary>Forward chunks of the gemm path so far, and those that took zone_gemm_sparse_mean instead of m = P A
    /// (tests check the path they mean to run; `lzn bench zones` prints the share).</summary>
    internal (long All, long Sparse) ForwardChunks => (_forwardChunks, _sparseForwardChunks);

    /// <summary>Backward chunks of the gemm path so far, and those that took the sparse kernels instead of their four
    /// GEMMs after the logits.</summary>
    internal (long All, long Sparse) BackwardChunks => (_backwardChunks, _sparseBackwardChunks);

    private long _forwardChunks, _sparseForwardChunks, _backwardChunks, _sparseBackwardChunks;

    /// <summary>
    /// Whether a chunk of <paramref name="rows"/> rows with <paramref name="nonzeros"/> nonzero p skips its zeros in the
    /// forward: at 1 in 8 or fewer, CpuZoneSparse.IsSparse's rule. The sum over the nonzero p reads the chunk's
    /// probabilities once, a memory pass far cheaper than the GEMM it replaces.
    /// </summary>
    internal static bool IsSparse(int nonzeros, int rows, int anchorCount) => (long)nonzeros * 8 <= (long)rows * anchorCount;

    /// <summary>Whether a backward chunk skips its zeros: sparse as in the forward, with at most
    /// <see cref="MaxSparseEntriesPerRow"/> entries per row.</summary>
    internal static bool IsSparseBackward(int nonzeros, int entries, int rows, int anchorCount) =>
        IsSparse(nonzeros, rows, anchorCount) && entries <= (long)MaxSparseEntriesPerRow * rows;

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
        using var logits = new LogitProduct(this, args.Anchors, args.AnchorNorms, anchorCount, dim, chunkRows);
        using var dots = _backend.AllocateScratch((long)chunkRows * anchorCount); // [chunkRows, anchorCount]
        using var meanScratch = args.WeightedMean is null ? _backend.AllocateScratch((long)chunkRows * dim) : null; // [chunkRows, dim]
        using var lseScratch = args.LogSumExp is null ? _backend.AllocateScratch(chunkRows) : null; // [chunkRows]
        using var nonzeroStats = _backend.AllocateInt(2); // [2] a chunk's nonzero p (element 0)
        for (int start = 0; start < rows; start += chunkRows)
            GemmStepChunk(args, start, Math.Min(chunkRows, rows - start), scales, sqNorms, logits, dots, meanScratch, lseScratch, nonzeroStats);
    }

    /// <summary>Zeroes the chunk's nonzero counts before a kernel accumulates them.</summary>
    private void ClearNonzeroStats(IntBuffer nonzeroStats) => _backend.Fill(nonzeroStats, 0);

    /// <summary>The counts a kernel just accumulated (nonzero p, backward entries); synchronises to read them.</summary>
    private (int Nonzeros, int Entries) ReadNonzeroStats(IntBuffer nonzeroStats)
    {
        Span<int> stats = stackalloc int[2];
        _backend.Download(nonzeroStats, stats);
        return (stats[0], stats[1]);
    }

    /// <summary>One chunk of rows [start, start + count) of <see cref="GemmStep"/>.</summary>
    private unsafe void GemmStepChunk(in ZoneStepArgs args, int start, int count, Scales scales, FloatBuffer sqNorms,
        LogitProduct logits, FloatBuffer dots, FloatBuffer? meanScratch, FloatBuffer? lseScratch, IntBuffer nonzeroStats)
    {
        int anchorCount = args.AnchorCount, dim = args.Dim;
        var points = Rows(args.Points, start, count, dim);
        var chunkDots = dots.Slice(0, (long)count * anchorCount);
        logits.Dots(points, count, chunkDots);

        var lse = args.LogSumExp is null ? lseScratch!.Slice(0, count) : args.LogSumExp.Slice(start, count);
        ulong dotsPointer = CudaBackend.Pointer(chunkDots), norms = CudaBackend.Pointer(sqNorms), priors = CudaBackend.Pointer(args.LogPriors);
        ulong targets = CudaBackend.Pointer(args.Targets?.Slice(start, count));
        ulong probabilities = CudaBackend.Pointer(args.Probabilities is null ? null : Rows(args.Probabilities, start, count, anchorCount));
        ulong lsePointer = CudaBackend.Pointer(lse), targetLogProb = CudaBackend.Pointer(args.TargetLogProb?.Slice(start, count));
        ulong stats = CudaBackend.Pointer(nonzeroStats);
        float scale = scales.Cross, halfC = scales.HalfC;
        void** rowArguments = stackalloc void*[] { &dotsPointer, &norms, &priors, &targets, &probabilities, &lsePointer, &targetLogProb, &stats, &anchorCount, &scale, &halfC };
        ClearNonzeroStats(nonzeroStats);
        _backend.Launch(_backend.Kernel(SourceGemm, "zone_gemm_forward_rows"), ((uint)count, 1, 1), (RowThreads, 1, 1), 0, rowArguments);

        var mean = args.WeightedMean is null ? meanScratch!.Slice(0, (long)count * dim) : Rows(args.WeightedMean, start, count, dim);
        _forwardChunks++;
        if (SkipZeros && IsSparse(ReadNonzeroStats(nonzeroStats).Nonzeros, count, anchorCount))
        {
            ulong anchorsPointer = CudaBackend.Pointer(args.Anchors), meanOut = CudaBackend.Pointer(mean);
            void** sparseArguments = stackalloc void*[] { &dotsPointer, &anchorsPointer, &meanOut, &anchorCount, &dim };
            _backend.Launch(_backend.Kernel(SourceGemm, "zone_gemm_sparse_mean"), ((uint)count, 1, 1), (RowThreads, 1, 1), 0, sparseArguments);
            _sparseForwardChunks++;
        }
        else
        {
            _backend.Gemm(false, false, count, dim, anchorCount, 1f, chunkDots, anchorCount, args.Anchors, dim, 0f, mean, dim);
        }

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
        using var logits = new LogitProduct(this, args.Anchors, args.AnchorNorms, anchorCount, dim, chunkRows);
        using var dots = _backend.AllocateScratch((long)chunkRows * anchorCount); // [chunkRows, anchorCount] x.a, then ds
        using var gDots = velocity ? _backend.AllocateScratch((long)chunkRows * anchorCount) : null; // [chunkRows, anchorCount] g.a, then p - S
        using var dsTimesAnchors = _backend.AllocateScratch((long)chunkRows * dim); // [chunkRows, dim]
        using var rowDsSum = _backend.AllocateScratch(chunkRows); // [chunkRows]
        using var columnSums = anchorSide ? _backend.AllocateScratch(anchorCount) : null; // [anchorCount]
        using var nonzeroStats = _backend.AllocateInt(2); // [2] a chunk's nonzero p and backward entries
        using var entryCounts = _backend.AllocateInt(chunkRows); // [chunkRows] a sparse chunk's entries per row
        var scratch = new GemmBackwardScratch(sqNorms, logits, dots, gDots, dsTimesAnchors, rowDsSum, columnSums, nonzeroStats, entryCounts);
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
        var (sqNorms, logits, dots, gDots, dsTimesAnchors, rowDsSum, columnSums, _, _) = scratch;
        float time = args.Time, scale = scales.Cross, halfC = scales.HalfC, c = scales.C;
        var points = Rows(args.Points, start, count, dim);
        var velocityGrad = velocity ? Rows(args.VelocityGrad!, start, count, dim) : null;
        var chunkDots = dots.Slice(0, (long)count * anchorCount);
        var chunkGDots = gDots?.Slice(0, (long)count * anchorCount);
        logits.Dots(points, count, chunkDots);
        _backwardChunks++;
        if (SkipZeros && BackwardChunkIsSparse(args, start, count, scales, scratch, out int entries))
        {
            SparseBackwardChunk(args, start, count, scales, scratch, entries);
            return;
        }
        if (velocity)
            _backend.Gemm(false, true, count, anchorCount, dim, 1f, velocityGrad!, dim, args.Anchors, dim, 0f, chunkGDots!, anchorCount);

        ulong dotsPointer = CudaBackend.Pointer(chunkDots), gDotsPointer = CudaBackend.Pointer(chunkGDots);
        ulong norms = CudaBackend.Pointer(sqNorms), priors = CudaBackend.Pointer(args.LogPriors);
        ulong lse = CudaBackend.Pointer(args.LogSumExp.Slice(start, count)), targets = CudaBackend.Pointer(args.Targets?.Slice(start, count));
        ulong targetGrad = CudaBackend.Pointer(args.TargetLogProbGrad?.Slice(start, count)), dsSum = CudaBackend.Pointer(rowDsSum);
        int selfOffset = SelfOffset(args, start);
        void** rowArguments = stackalloc void*[]
        {
            &dotsPointer, &gDotsPointer, &norms, &priors, &lse, &targets, &targetGrad, &dsSum, &anchorCount, &selfOffset, &time, &scale, &halfC,
        };
        _backend.Launch(_backend.Kernel(SourceGemm, "zone_gemm_backward_rows"), ((uint)count, 1, 1), (RowThreads, 1, 1), 0, rowArguments);

        // dx: T = ds A, then the combine (and the self anchors' query path).
        var chunkT = dsTimesAnchors.Slice(0, (long)count * dim);
        _backend.Gemm(false, false, count, dim, anchorCount, 1f, chunkDots, anchorCount, args.Anchors, dim, 0f, chunkT, dim);
        PointsCombine(args, start, count, scales, scratch);

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

    /// <summary>dx_i += g_i / t + s (T_i - (sum_j ds_ij) m_i) from the chunk's T and row sums (and dA of the self anchors).</summary>
    private unsafe void PointsCombine(in ZoneBackwardArgs args, int start, int count, Scales scales, GemmBackwardScratch scratch)
    {
        int dim = args.Dim, selfOffset = SelfOffset(args, start);
        float time = args.Time, scale = scales.Cross, c = scales.C;
        ulong mean = CudaBackend.Pointer(Rows(args.WeightedMean, start, count, dim));
        ulong gradient = CudaBackend.Pointer(args.VelocityGrad is null ? null : Rows(args.VelocityGrad, start, count, dim));
        ulong t = CudaBackend.Pointer(scratch.DsTimesAnchors), dsSum = CudaBackend.Pointer(scratch.RowDsSum);
        ulong pointsGrad = CudaBackend.Pointer(Rows(args.PointsGrad, start, count, dim)), anchorsGrad = CudaBackend.Pointer(args.AnchorsGrad);
        void** combineArguments = stackalloc void*[] { &mean, &gradient, &t, &dsSum, &pointsGrad, &anchorsGrad, &count, &dim, &selfOffset, &time, &scale, &c };
        _backend.LaunchElementwise(SourceGemm, "zone_gemm_points_combine", (long)count * dim, combineArguments);
    }

    private static int SelfOffset(in ZoneBackwardArgs args, int start) => args.SelfAnchorOffset is { } offset ? offset + start : -1;

    /// <summary>Counts the nonzero p and the entries of the chunk whose x.a the dots hold, and whether it skips its zeros.</summary>
    private unsafe bool BackwardChunkIsSparse(in ZoneBackwardArgs args, int start, int count, Scales scales, GemmBackwardScratch scratch, out int entries)
    {
        int anchorCount = args.AnchorCount, selfOffset = SelfOffset(args, start);
        float scale = scales.Cross, halfC = scales.HalfC;
        ulong dots = CudaBackend.Pointer(scratch.Dots), norms = CudaBackend.Pointer(scratch.SqNorms), priors = CudaBackend.Pointer(args.LogPriors);
        ulong lse = CudaBackend.Pointer(args.LogSumExp.Slice(start, count)), targets = CudaBackend.Pointer(args.Targets?.Slice(start, count));
        ulong stats = CudaBackend.Pointer(scratch.NonzeroStats), counts = CudaBackend.Pointer(scratch.EntryCounts);
        void** arguments = stackalloc void*[] { &dots, &norms, &priors, &lse, &targets, &stats, &counts, &anchorCount, &selfOffset, &scale, &halfC };
        ClearNonzeroStats(scratch.NonzeroStats);
        _backend.Launch(_backend.Kernel(SourceGemm, "zone_gemm_count_nonzeros"), ((uint)count, 1, 1), (RowThreads, 1, 1), 0, arguments);
        (int nonzeros, entries) = ReadNonzeroStats(scratch.NonzeroStats);
        return IsSparseBackward(nonzeros, entries, count, anchorCount);
    }

    /// <summary>
    /// The backward of a sparse chunk after its logits: the entry list's row offsets (zone_gemm_entry_offsets); per row
    /// its entries (nonzero p, target, self anchor), ds, T and the row sums (zone_gemm_sparse_backward_rows); the points'
    /// combine as in the dense chunk; then the entries' scatter into dA and the column sums in row order
    /// (zone_gemm_sparse_anchors).
    /// </summary>
    private unsafe void SparseBackwardChunk(in ZoneBackwardArgs args, int start, int count, Scales scales, GemmBackwardScratch scratch, int entries)
    {
        int anchorCount = args.AnchorCount, dim = args.Dim, selfOffset = SelfOffset(args, start);
        float time = args.Time, scale = scales.Cross, halfC = scales.HalfC;
        using var entryOffsets = _backend.AllocateInt(count + 1); // [count + 1]
        using var entryRows = _backend.AllocateInt(entries); // [entries]
        using var entryColumns = _backend.AllocateInt(entries); // [entries]
        using var entryDs = _backend.AllocateScratch(entries); // [entries]
        using var entryWeights = _backend.AllocateScratch(entries); // [entries] p - S
        ulong counts = CudaBackend.Pointer(scratch.EntryCounts), offsets = CudaBackend.Pointer(entryOffsets);
        void** offsetArguments = stackalloc void*[] { &counts, &offsets, &count };
        _backend.Launch(_backend.Kernel(SourceGemm, "zone_gemm_entry_offsets"), (1, 1, 1), (RowThreads, 1, 1), 0, offsetArguments);

        ulong dots = CudaBackend.Pointer(scratch.Dots), anchors = CudaBackend.Pointer(args.Anchors);
        ulong velocityGrad = CudaBackend.Pointer(args.VelocityGrad is null ? null : Rows(args.VelocityGrad, start, count, dim));
        ulong norms = CudaBackend.Pointer(scratch.SqNorms), priors = CudaBackend.Pointer(args.LogPriors);
        ulong lse = CudaBackend.Pointer(args.LogSumExp.Slice(start, count)), targets = CudaBackend.Pointer(args.Targets?.Slice(start, count));
        ulong targetGrad = CudaBackend.Pointer(args.TargetLogProbGrad?.Slice(start, count));
        ulong rowsPointer = CudaBackend.Pointer(entryRows), columns = CudaBackend.Pointer(entryColumns);
        ulong ds = CudaBackend.Pointer(entryDs), weights = CudaBackend.Pointer(entryWeights);
        ulong dsSum = CudaBackend.Pointer(scratch.RowDsSum), t = CudaBackend.Pointer(scratch.DsTimesAnchors);
        void** rowArguments = stackalloc void*[]
        {
            &dots, &anchors, &velocityGrad, &norms, &priors, &lse, &targets, &targetGrad, &offsets, &rowsPointer, &columns, &ds, &weights,
            &dsSum, &t, &anchorCount, &dim, &selfOffset, &time, &scale, &halfC,
        };
        _backend.Launch(_backend.Kernel(SourceGemm, "zone_gemm_sparse_backward_rows"), ((uint)count, 1, 1), (RowThreads, 1, 1), 0, rowArguments);
        PointsCombine(args, start, count, scales, scratch);
        _sparseBackwardChunks++;
        if (scratch.ColumnSums is null)
            return;
        if (start == 0)
            _backend.Fill(scratch.ColumnSums, 0f);
        ulong points = CudaBackend.Pointer(Rows(args.Points, start, count, dim)), anchorsGrad = CudaBackend.Pointer(args.AnchorsGrad);
        ulong sums = CudaBackend.Pointer(scratch.ColumnSums);
        void** anchorArguments = stackalloc void*[]
        {
            &offsets, &rowsPointer, &columns, &ds, &weights, &points, &velocityGrad, &anchorsGrad, &sums, &count, &dim, &time, &scale,
        };
        _backend.Launch(_backend.Kernel(SourceGemm, "zone_gemm_sparse_anchors"), ((uint)CeilDiv(anchorCount, SparseAnchorsPerBlock), 1, 1),
            (RowThreads, 1, 1), 0, anchorArguments);
    }

    /// <summary>Anchors per block of zone_gemm_sparse_anchors (ZONE_GEMM_SPARSE_ANCHORS).</summary>
    private const int SparseAnchorsPerBlock = 64;

    /// <summary>Whether the logits' product runs on TF32 tensor cores in the 3xTF32 split (gemm-3xtf32).</summary>
    internal bool SplitLogits => Version == ZoneKernelVersion.Gemm3xTf32;

    /// <summary>
    /// zone_gemm_split_3xtf32 of [rows, dim] into a new [rows, 3 dim] buffer: the anchor layout [hi | lo | hi] or the
    /// points' [lo | hi | hi] (kernels/latent_zone_gemm.cu).
    /// </summary>
    internal unsafe FloatBuffer LaunchSplit3xTf32(FloatBuffer source, int rows, int dim, bool anchorLayout, FloatBuffer? into = null)
    {
        var split = into ?? _backend.AllocateScratch((long)rows * 3 * dim); // [rows, 3 dim]
        ulong input = CudaBackend.Pointer(source), output = CudaBackend.Pointer(split);
        long count = (long)rows * dim;
        int layout = anchorLayout ? 1 : 0;
        void** arguments = stackalloc void*[] { &input, &output, &count, &dim, &layout };
        _backend.LaunchElementwise(SourceGemm, "zone_gemm_split_3xtf32", count, arguments);
        return split;
    }

    /// <summary>
    /// dots = X A^T for the chunks of one step, by one routine in the forward and the backward, so a recomputed logit is
    /// the forward's bit for bit. fp32 SGEMM, or for gemm-3xtf32 one TF32 GEMM over 3 dim of the split operands: the
    /// anchors split once per flow (kept with their norms; per step when a step is given no norms), each chunk's points
    /// split before its product.
    /// </summary>
    private sealed class LogitProduct : IDisposable
    {
        private readonly CudaZoneKernels _kernels;
        private readonly FloatBuffer _anchors; // [anchorCount, dim]
        private readonly FloatBuffer? _splitAnchors; // [anchorCount, 3 dim], gemm-3xtf32 only
        private readonly FloatBuffer? _ownSplitAnchors; // the same when no norms keep it
        private readonly FloatBuffer? _splitPoints; // [chunkRows, 3 dim], gemm-3xtf32 only
        private readonly int _anchorCount, _dim;

        public LogitProduct(CudaZoneKernels kernels, FloatBuffer anchors, ZoneAnchorNorms? norms, int anchorCount, int dim, int chunkRows)
        {
            (_kernels, _anchors, _anchorCount, _dim) = (kernels, anchors, anchorCount, dim);
            if (!kernels.SplitLogits)
                return;
            _ownSplitAnchors = norms is null ? kernels.LaunchSplit3xTf32(anchors, anchorCount, dim, anchorLayout: true) : null;
            _splitAnchors = _ownSplitAnchors ?? ZoneArgumentChecks.Own<CudaAnchorNorms>(norms!).SplitAnchors(kernels);
            _splitPoints = kernels._backend.AllocateScratch((long)chunkRows * 3 * dim);
        }

        /// <summary>dots [count, anchorCount] = points [count, dim] A^T.</summary>
        public void Dots(FloatBuffer points, int count, FloatBuffer dots)
        {
            var backend = _kernels._backend;
            if (_splitAnchors is null)
            {
                backend.Gemm(false, true, count, _anchorCount, _dim, 1f, points, _dim, _anchors, _dim, 0f, dots, _anchorCount);
                return;
            }
            int width = 3 * _dim;
            var splitPoints = _kernels.LaunchSplit3xTf32(points, count, _dim, anchorLayout: false, _splitPoints!.Slice(0, (long)count * width));
            backend.GemmFastTf32(false, true, count, _anchorCount, width, 1f, splitPoints, width, _splitAnchors, width, 0f, dots, _anchorCount);
        }

        public void Dispose()
        {
            _ownSplitAnchors?.Dispose();
            _splitPoints?.Dispose();
        }
    }

    /// <summary>The backward's buffers: |a_j|^2 [anchorCount]; the step's logits product; dots and gDots [chunkRows,
    /// anchorCount] (gDots null without a velocity gradient); T [chunkRows, dim]; row sums of ds [chunkRows]; column sums of
    /// ds [anchorCount] or null; a chunk's nonzero p and entries [2]; a sparse chunk's entries per row [chunkRows].</summary>
    private readonly record struct GemmBackwardScratch(FloatBuffer SqNorms, LogitProduct Logits, FloatBuffer Dots, FloatBuffer? GDots,
        FloatBuffer DsTimesAnchors, FloatBuffer RowDsSum, FloatBuffer? ColumnSums, IntBuffer NonzeroStats, IntBuffer EntryCounts);

    /// <summary>Columns per block of zone_gemm_column_sums and its threads (ZONE_GEMM_COLUMNS x ZONE_GEMM_ROW_GROUPS).</summary>
    private const int ColumnsPerBlock = 32;

    internal const int ColumnSumThreads = ColumnsPerBlock * 8;

    private static FloatBuffer Rows(FloatBuffer matrix, int start, int count, int width) => matrix.Slice((long)start * width, (long)count * width);
}
