namespace LZN.Native.Backends.Cuda;

/// <summary>
/// Launchers for kernels/latent_zone.cu and latent_zone_v2.cu; the gemm path's (latent_zone_gemm.cu) are in
/// CudaZoneKernels.Gemm.cs (CPU mirror of all three: Backends/Cpu/CpuZoneKernels.cs). A step is: |a_j|^2 per
/// anchor, the forward tiles (row tiles x anchor splits x dim groups, each writing an online-softmax partial),
/// and one combine per row; probabilities, when asked for, are the tiles' raw logits exponentiated in place.
/// The backward adds D_i = g_i . m_i, the points tiles (row tiles x anchor splits) with their combine, and the
/// anchors tiles (anchor tiles x row splits) with theirs. Splits are sized from the device's occupancy so that
/// a small batch still fills every multiprocessor; their partials live in scratch buffers of the caching allocator,
/// which the tiles overwrite entirely (no zeroing pass; NaN under LZN_CUDA_POISON_SCRATCH=1, as the tests run).
/// </summary>
internal sealed partial class CudaZoneKernels(CudaBackend backend, ZoneKernelVersion version) : IZoneKernels
{
    private const string Source = "latent_zone.cu";
    private const string SourceV2 = "latent_zone_v2.cu";
    private const string SourceGemm = "latent_zone_gemm.cu";

    // Mirrors of the tile constants in latent_zone.cu.
    private const int TileThreads = 256;                // ZONE_THREADS
    private const int Tile = 64;                        // ZONE_TILE
    private const int DimChunk = 64;                    // ZONE_DCHUNK
    private const int ChunkFloats = Tile * (32 + 4);    // ZONE_CHUNK_FLOATS
    private const int WideFloats = Tile * (DimChunk + 4); // ZONE_WIDE_FLOATS

    // Dynamic shared memory of the tile kernels (ZONE_*_SHARED_FLOATS; a kernel given less traps).
    private const int ForwardSharedBytes = (2 * 2 * ChunkFloats + WideFloats) * sizeof(float);
    private const int PointsSharedBytes = (2 * 3 * ChunkFloats + WideFloats) * sizeof(float);
    private const int AnchorsSharedBytes = (2 * 2 * WideFloats + 2 * WideFloats) * sizeof(float);
    // ZONE_ANCHORS_W1_SHARED_FLOATS: the anchors tiles with one dim-tile slot (the _w1 kernels), for 99 KB devices.
    private const int AnchorsOneSlotSharedBytes = (2 * 3 * ChunkFloats + 2 * WideFloats) * sizeof(float);

    /// <summary>Threads of the per-row kernels (row dots, combines, probabilities).</summary>
    private const int RowThreads = 128;

    // Mirrors of latent_zone_v2.cu: 128 threads own 64 rows; the points and STAGES anchor tiles are [64, stride]
    // with stride = dim rounded up to 32, plus 4; then the transposed weights [64, 68] and 64 row factors.
    private const int V2Threads = 128;
    private const int V2Rows = 64;

    private static int V2SharedBytes(int dim, int stages) =>
        ((1 + stages) * V2Rows * ((dim + 31) / 32 * 32 + 4) + Tile * (V2Rows + 4) + V2Rows) * sizeof(float);

    /// <summary>Threads per block and dynamic shared memory a launcher gives each kernel of latent_zone.cu.</summary>
    /// <remarks>v2's shared memory grows with dim: the report shows it at d = 64 (64-dim groups) and d = 256.</remarks>
    internal static (int Threads, int DynamicSharedBytes) LaunchShape(string kernel) => kernel switch
    {
        _ when kernel.StartsWith("zone_forward_v2_64_s", StringComparison.Ordinal) => (V2Threads, V2SharedBytes(64, kernel[^1] - '0')),
        _ when kernel.StartsWith("zone_forward_v2_128_s", StringComparison.Ordinal) => (V2Threads, V2SharedBytes(256, kernel[^1] - '0')),
        _ when kernel.StartsWith("zone_forward_tiles_", StringComparison.Ordinal) => (TileThreads, ForwardSharedBytes),
        _ when kernel.StartsWith("zone_backward_anchors_", StringComparison.Ordinal)
            && kernel.EndsWith("_w1", StringComparison.Ordinal) => (TileThreads, AnchorsOneSlotSharedBytes),
        _ when kernel.StartsWith("zone_backward_points_tiles_", StringComparison.Ordinal)
            || kernel.StartsWith("zone_backward_points_v2_", StringComparison.Ordinal) => (TileThreads, PointsSharedBytes),
        _ when kernel.StartsWith("zone_backward_anchors_tiles_", StringComparison.Ordinal)
            || kernel.StartsWith("zone_backward_anchors_v2_", StringComparison.Ordinal) => (TileThreads, AnchorsSharedBytes),
        "zone_gemm_column_sums" => (ColumnSumThreads, 0),
        "zone_gemm_forward_update" or "zone_gemm_points_combine" or "zone_gemm_anchors_finalize" => (CudaBackend.GridStrideThreads, 0),
        _ => (RowThreads, 0),
    };

    private readonly CudaBackend _backend = backend;
    private readonly Dictionary<(CudaKernel Kernel, int Threads, int SharedBytes), int> _residentBlocks = [];

    /// <summary>
    /// The zone kernels this instance launches: the gemm path on devices below compute capability 8.0, where the tiles'
    /// cp.async and mma do not exist; else the version asked for (v2's forward takes v1's tiles where it has no
    /// configuration for the dim or the device; Auto takes v1 or gemm per step by its shape).
    /// </summary>
    public ZoneKernelVersion Version { get; } = backend.Properties.Architecture < 80 && !ZoneKernelVersions.IsGemm(version) ? ZoneKernelVersion.Gemm : version;

    public unsafe void Step(in ZoneStepArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        ZoneArgumentChecks.Step(args);
        if (ZoneKernelVersions.UsesGemm(Version, rows, anchorCount, dim))
        {
            GemmStep(args);
            return;
        }

        var scales = new Scales(args.Time);
        var plan = ForwardPlan(dim);
        var tiles = Kernel(plan.Source, plan.Name, plan.Threads, plan.SharedBytes);
        int rowTiles = CeilDiv(rows, plan.RowsPerBlock);
        var (splits, tilesPerSplit) = Split(tiles, plan.Threads, plan.SharedBytes, rowTiles * plan.Layout.Groups, CeilDiv(anchorCount, Tile));
        var layout = plan.Layout;

        using var ownNorms = args.AnchorNorms is null ? LaunchSquaredNorms(args.Anchors, anchorCount, dim) : null; // [anchorCount]
        var sqNorms = ownNorms ?? ZoneArgumentChecks.Own<CudaAnchorNorms>(args.AnchorNorms!).Values; // [anchorCount]
        using var partialAcc = _backend.AllocateScratch((long)splits * rows * layout.PaddedDim); // [splits, rows, paddedDim]
        using var partialMax = _backend.AllocateScratch((long)splits * rows); // [splits, rows]
        using var partialSum = _backend.AllocateScratch((long)splits * rows); // [splits, rows]
        using var lseScratch = args.LogSumExp is null ? _backend.AllocateScratch(rows) : null; // [rows]
        // v2's tiles hand the combine each target's logit from the fragments lse comes from (latent_zone_v2.cu).
        bool tileTargetLogits = plan.Source == SourceV2 && args.TargetLogProb is not null;
        using var targetLogitScratch = tileTargetLogits ? _backend.AllocateScratch(rows) : null; // [rows]

        ulong points = CudaBackend.Pointer(args.Points), anchors = CudaBackend.Pointer(args.Anchors);
        ulong norms = CudaBackend.Pointer(sqNorms), priors = CudaBackend.Pointer(args.LogPriors);
        ulong probabilities = CudaBackend.Pointer(args.Probabilities);
        ulong acc = CudaBackend.Pointer(partialAcc), max = CudaBackend.Pointer(partialMax), sum = CudaBackend.Pointer(partialSum);
        ulong targets = CudaBackend.Pointer(args.Targets), targetLogits = CudaBackend.Pointer(targetLogitScratch);
        int paddedDim = layout.PaddedDim;
        float scale = scales.Cross, halfC = scales.HalfC, time = args.Time, stepSize = args.StepSize;
        void** v1Arguments = stackalloc void*[]
        {
            &points, &anchors, &norms, &priors, &probabilities, &acc, &max, &sum,
            &rows, &anchorCount, &dim, &paddedDim, &tilesPerSplit, &scale, &halfC,
        };
        void** v2Arguments = stackalloc void*[]
        {
            &points, &anchors, &norms, &priors, &probabilities, &targets, &targetLogits, &acc, &max, &sum,
            &rows, &anchorCount, &dim, &paddedDim, &tilesPerSplit, &scale, &halfC,
        };
        void** tileArguments = plan.Source == SourceV2 ? v2Arguments : v1Arguments;
        _backend.Launch(tiles, ((uint)rowTiles, (uint)splits, (uint)layout.Groups), ((uint)plan.Threads, 1, 1), (uint)plan.SharedBytes, tileArguments);

        ulong next = CudaBackend.Pointer(args.NextPoints);
        ulong mean = CudaBackend.Pointer(args.WeightedMean), lse = CudaBackend.Pointer(args.LogSumExp ?? lseScratch);
        ulong targetLogProb = CudaBackend.Pointer(args.TargetLogProb);
        void** combineArguments = stackalloc void*[]
        {
            &points, &anchors, &norms, &priors, &acc, &max, &sum, &targets, &targetLogits, &next, &mean, &lse, &targetLogProb,
            &rows, &anchorCount, &dim, &paddedDim, &splits, &time, &stepSize, &scale, &halfC,
        };
        _backend.Launch(_backend.Kernel(Source, "zone_forward_combine"), ((uint)rows, 1, 1), (RowThreads, 1, 1), 0, combineArguments);

        if (args.Probabilities is not null)
        {
            long count = (long)rows * anchorCount;
            void** probabilityArguments = stackalloc void*[] { &probabilities, &lse, &rows, &anchorCount };
            _backend.Launch(_backend.Kernel(Source, "zone_forward_probabilities"), (CheckedGrid(CeilDiv(count, RowThreads)), 1, 1),
                (RowThreads, 1, 1), 0, probabilityArguments);
        }
    }

    public unsafe void StepBackward(in ZoneBackwardArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        ZoneArgumentChecks.Backward(args);
        if (args.VelocityGrad is null && args.TargetLogProbGrad is null)
            return;
        if (ZoneKernelVersions.UsesGemm(Version, rows, anchorCount, dim))
        {
            GemmStepBackward(args);
            return;
        }

        var scales = new Scales(args.Time);
        var layout = new DimLayout(dim, DimChunk, 4 * DimChunk);
        // The backward recomputes the logits exactly as the forward that saved lse computed them.
        bool tensorLogits = ForwardPlan(dim).Source == SourceV2;
        string backwardSource = tensorLogits ? SourceV2 : Source;
        string pointsTiles = tensorLogits ? "zone_backward_points_v2_" : "zone_backward_points_tiles_";
        string anchorsTiles = tensorLogits ? "zone_backward_anchors_v2_" : "zone_backward_anchors_tiles_";
        using var ownNorms = args.AnchorNorms is null ? LaunchSquaredNorms(args.Anchors, anchorCount, dim) : null; // [anchorCount]
        var sqNorms = ownNorms ?? ZoneArgumentChecks.Own<CudaAnchorNorms>(args.AnchorNorms!).Values; // [anchorCount]
        using var rowDotsBuffer = args.VelocityGrad is null ? null : RowDots(args.VelocityGrad, args.WeightedMean, rows, dim); // [rows] D_i

        ulong points = CudaBackend.Pointer(args.Points), anchors = CudaBackend.Pointer(args.Anchors);
        ulong norms = CudaBackend.Pointer(sqNorms), priors = CudaBackend.Pointer(args.LogPriors);
        ulong lse = CudaBackend.Pointer(args.LogSumExp), rowDots = CudaBackend.Pointer(rowDotsBuffer);
        ulong velocityGrad = CudaBackend.Pointer(args.VelocityGrad), targets = CudaBackend.Pointer(args.Targets);
        ulong targetGrad = CudaBackend.Pointer(args.TargetLogProbGrad);
        ulong mean = CudaBackend.Pointer(args.WeightedMean);
        int paddedDim = layout.PaddedDim, selfOffset = args.SelfAnchorOffset ?? -1;
        float time = args.Time, scale = scales.Cross, halfC = scales.HalfC, c = scales.C;
        ulong anchorsGrad = CudaBackend.Pointer(args.AnchorsGrad), priorsGrad = CudaBackend.Pointer(args.LogPriorsGrad);

        // dx (and the self anchors' query path): row tiles own their accumulators and stream anchor tiles.
        {
            var tiles = Kernel(backwardSource, $"{pointsTiles}{layout.BlockDims}", TileThreads, PointsSharedBytes);
            int rowTiles = CeilDiv(rows, Tile);
            var (splits, tilesPerSplit) = Split(tiles, TileThreads, PointsSharedBytes, rowTiles * layout.Groups, CeilDiv(anchorCount, Tile));
            using var partialGrad = _backend.AllocateScratch((long)splits * rows * paddedDim); // [splits, rows, paddedDim]
            using var partialDsSum = _backend.AllocateScratch((long)splits * rows); // [splits, rows]
            ulong grad = CudaBackend.Pointer(partialGrad), dsSum = CudaBackend.Pointer(partialDsSum);
            void** tileArguments = stackalloc void*[]
            {
                &points, &anchors, &norms, &priors, &lse, &rowDots, &velocityGrad, &targets, &targetGrad, &grad, &dsSum,
                &rows, &anchorCount, &dim, &paddedDim, &tilesPerSplit, &selfOffset, &time, &scale, &halfC,
            };
            _backend.Launch(tiles, ((uint)rowTiles, (uint)splits, (uint)layout.Groups), (TileThreads, 1, 1), PointsSharedBytes, tileArguments);

            ulong pointsGrad = CudaBackend.Pointer(args.PointsGrad);
            void** combineArguments = stackalloc void*[]
            {
                &mean, &velocityGrad, &grad, &dsSum, &pointsGrad, &anchorsGrad, &rows, &dim, &paddedDim, &splits, &selfOffset, &time, &scale, &c,
            };
            _backend.Launch(_backend.Kernel(Source, "zone_backward_points_combine"), ((uint)rows, 1, 1), (RowThreads, 1, 1), 0, combineArguments);
        }

        // dA and db: anchor tiles own their accumulators and stream row tiles.
        if (args.AnchorsGrad is not null || args.LogPriorsGrad is not null)
        {
            // Two dim-tile slots where the device's opt-in shared memory holds them, else one (sm_86/sm_89: 99 KB).
            bool oneSlot = AnchorsSharedBytes > _backend.Properties.MaxSharedMemoryPerBlockOptin;
            int sharedBytes = oneSlot ? AnchorsOneSlotSharedBytes : AnchorsSharedBytes;
            var tiles = Kernel(backwardSource, $"{anchorsTiles}{layout.BlockDims}{(oneSlot ? "_w1" : "")}", TileThreads, sharedBytes);
            int anchorTiles = CeilDiv(anchorCount, Tile);
            var (splits, tilesPerSplit) = Split(tiles, TileThreads, sharedBytes, anchorTiles * layout.Groups, CeilDiv(rows, Tile));
            using var partialGrad = _backend.AllocateScratch((long)splits * anchorCount * paddedDim); // [splits, anchorCount, paddedDim]
            using var partialDsSum = _backend.AllocateScratch((long)splits * anchorCount); // [splits, anchorCount]
            ulong grad = CudaBackend.Pointer(partialGrad), dsSum = CudaBackend.Pointer(partialDsSum);
            void** tileArguments = stackalloc void*[]
            {
                &points, &anchors, &norms, &priors, &lse, &rowDots, &velocityGrad, &targets, &targetGrad, &grad, &dsSum,
                &rows, &anchorCount, &dim, &paddedDim, &tilesPerSplit, &selfOffset, &time, &scale, &halfC,
            };
            _backend.Launch(tiles, ((uint)anchorTiles, (uint)splits, (uint)layout.Groups), (TileThreads, 1, 1), (uint)sharedBytes, tileArguments);

            void** combineArguments = stackalloc void*[] { &anchors, &grad, &dsSum, &anchorsGrad, &priorsGrad, &anchorCount, &dim, &paddedDim, &splits, &scale, &c };
            _backend.Launch(_backend.Kernel(Source, "zone_backward_anchors_combine"), ((uint)anchorCount, 1, 1), (RowThreads, 1, 1), 0, combineArguments);
        }
    }

    public ZoneAnchorNorms SquaredNorms(FloatBuffer anchors, int anchorCount, int dim)
    {
        ZoneArgumentChecks.SquaredNorms(anchors, anchorCount, dim);
        return new CudaAnchorNorms(anchors, anchorCount, dim, LaunchSquaredNorms(anchors, anchorCount, dim));
    }

    /// <summary>
    /// |a_j|^2 [anchorCount], one warp per anchor: the same kernel source in both modules, taken from
    /// latent_zone_gemm.cu when this instance is all gemm (it builds for sm_75 too), else from latent_zone.cu.
    /// </summary>
    private unsafe FloatBuffer LaunchSquaredNorms(FloatBuffer anchors, int anchorCount, int dim)
    {
        var result = _backend.AllocateScratch(anchorCount); // [anchorCount]
        ulong input = CudaBackend.Pointer(anchors), output = CudaBackend.Pointer(result);
        void** arguments = stackalloc void*[] { &input, &output, &anchorCount, &dim };
        const int warpsPerBlock = RowThreads / 32;
        _backend.Launch(_backend.Kernel(ZoneKernelVersions.IsGemm(Version) ? SourceGemm : Source, "zone_squared_norms"), ((uint)CeilDiv(anchorCount, warpsPerBlock), 1, 1), (RowThreads, 1, 1), 0, arguments);
        return result;
    }

    /// <summary>out_i = u_i . v_i [rows] for [rows, dim] matrices, summed in dim order like the tiles' dot products.</summary>
    private unsafe FloatBuffer RowDots(FloatBuffer u, FloatBuffer v, int rows, int dim)
    {
        var result = _backend.AllocateScratch(rows); // [rows]
        ulong left = CudaBackend.Pointer(u), right = CudaBackend.Pointer(v), output = CudaBackend.Pointer(result);
        void** arguments = stackalloc void*[] { &left, &right, &output, &rows, &dim };
        _backend.Launch(_backend.Kernel(Source, "zone_row_dots"), ((uint)CeilDiv(rows, RowThreads), 1, 1), (RowThreads, 1, 1), 0, arguments);
        return result;
    }

    /// <summary>
    /// The forward tiles for a dim: v2 (3xTF32 tensor-core logits, sm_80+) with two anchor stages where they fit the
    /// device's opt-in shared memory, else one; v1 where neither fits (large dims) or for v1.
    /// </summary>
    private ForwardTiles ForwardPlan(int dim)
    {
        var v1 = new DimLayout(dim, DimChunk, 4 * DimChunk);
        var fallback = new ForwardTiles(Source, $"zone_forward_tiles_{v1.BlockDims}", TileThreads, ForwardSharedBytes, Tile, v1);
        if (Version != ZoneKernelVersion.V2)
            return fallback;
        var layout = new DimLayout(dim, DimChunk, 2 * DimChunk);
        int optin = _backend.Properties.MaxSharedMemoryPerBlockOptin;
        int stages = V2SharedBytes(dim, 2) <= optin ? 2 : V2SharedBytes(dim, 1) <= optin ? 1 : 0;
        return stages == 0 ? fallback
            : new ForwardTiles(SourceV2, $"zone_forward_v2_{layout.BlockDims}_s{stages}", V2Threads, V2SharedBytes(dim, stages), V2Rows, layout);
    }

    /// <summary>A tile kernel, opted in to its dynamic shared memory when that exceeds the 48 KiB default.</summary>
    private CudaKernel Kernel(string source, string name, int threads, int sharedBytes)
    {
        var kernel = _backend.Kernel(source, name);
        lock (_residentBlocks)
        {
            if (!_residentBlocks.ContainsKey((kernel, threads, sharedBytes)))
            {
                if (sharedBytes > _backend.Properties.MaxSharedMemoryPerBlockOptin)
                    throw new NotSupportedException($"{name} needs {sharedBytes} B of shared memory per block; {_backend.Properties.Name} allows {_backend.Properties.MaxSharedMemoryPerBlockOptin} B.");
                // One kernel may run with several sizes (v2's grow with dim): the opt-in only ever grows.
                if (sharedBytes > 48 * 1024 && sharedBytes > kernel.OptedInDynamicSharedMemory)
                    kernel.SetMaxDynamicSharedMemory(sharedBytes);
                _residentBlocks[(kernel, threads, sharedBytes)] = Math.Max(1, kernel.ActiveBlocksPerMultiprocessor(threads, sharedBytes));
            }
        }
        return kernel;
    }

    /// <summary>
    /// Splits the streamed tiles so that ownerBlocks x splits blocks fit in one wave of resident blocks (no tail
    /// wave; fewer partials to write and merge); with more owner blocks than that, nothing is split. Every split
    /// gets tilesPerSplit tiles except possibly the last, and none is empty.
    /// </summary>
    private (int Splits, int TilesPerSplit) Split(CudaKernel kernel, int threads, int sharedBytes, int ownerBlocks, int streamedTiles)
    {
        int resident;
        lock (_residentBlocks)
            resident = _residentBlocks[(kernel, threads, sharedBytes)] * _backend.Properties.MultiprocessorCount;
        int wanted = Math.Clamp(resident / ownerBlocks, 1, streamedTiles);
        int tilesPerSplit = CeilDiv(streamedTiles, wanted);
        return (CeilDiv(streamedTiles, tilesPerSplit), tilesPerSplit);
    }

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;

    private static uint CheckedGrid(long blocks) =>
        blocks <= int.MaxValue ? (uint)blocks : throw new ArgumentOutOfRangeException(nameof(blocks), blocks, "Grid too large for one launch.");

    // Target values stay on the device (ZoneArgumentChecks checks only their count): the forward writes NaN
    // for a target outside [0, anchorCount), and the backward gives such a row no delta term.

    /// <summary>Logit coefficients at time t: Cross = s = c/t^2, HalfC = c/2 (logit = s (x.a - (c/2)|a|^2) + b).</summary>
    private readonly struct Scales(float time)
    {
        public float C { get; } = (float)(1.0 - time);

        public float Cross { get; } = (float)((1.0 - time) / ((double)time * time));

        public float HalfC { get; } = (float)((1.0 - time) / 2);
    }

    /// <summary>
    /// How dims map onto tile kernels: BlockDims accumulator dims per block (64 up to the largest width a kernel has),
    /// Groups blocks along gridDim.z to cover dim, and PaddedDim = Groups x BlockDims, the row stride of the partials.
    /// </summary>
    private readonly struct DimLayout
    {
        public DimLayout(int dim, int smallest, int largest)
        {
            int width = smallest;
            while (width < dim && width < largest)
                width *= 2;
            BlockDims = width;
            Groups = CeilDiv(dim, BlockDims);
            PaddedDim = Groups * BlockDims;
        }

        public int BlockDims { get; }

        public int Groups { get; }

        public int PaddedDim { get; }
    }

    /// <summary>The forward tile kernel of a step: its file and name, block size, dynamic shared memory, rows per block, dim layout.</summary>
    private readonly record struct ForwardTiles(string Source, string Name, int Threads, int SharedBytes, int RowsPerBlock, DimLayout Layout);

    /// <summary>
    /// The kernels' |a_j|^2: float32 on the device, from the same kernel a step launches when given none. Also the
    /// anchors' 3xTF32 split for gemm-3xtf32, made at its first step, so once per flow like the norms.
    /// </summary>
    private sealed class CudaAnchorNorms(FloatBuffer anchors, int anchorCount, int dim, FloatBuffer values) : ZoneAnchorNorms(anchors, anchorCount, dim)
    {
        private FloatBuffer? _splitAnchors; // [anchorCount, 3 dim]

        public FloatBuffer Values { get; } = values; // [anchorCount]

        public FloatBuffer SplitAnchors(CudaZoneKernels kernels) =>
            _splitAnchors ??= kernels.LaunchSplit3xTf32(Anchors, AnchorCount, Dim, anchorLayout: true);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Values.Dispose();
                _splitAnchors?.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
