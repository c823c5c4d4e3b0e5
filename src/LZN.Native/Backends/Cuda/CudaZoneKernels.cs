namespace LZN.Native.Backends.Cuda;

/// <summary>
/// Launchers for kernels/latent_zone.cu (CPU mirror: Backends/Cpu/CpuZoneKernels.cs). A step is: |a_j|^2 per
/// anchor, the forward tiles (row tiles x anchor splits x dim groups, each writing an online-softmax partial),
/// and one combine per row; probabilities, when asked for, are the tiles' raw logits exponentiated in place.
/// The backward adds D_i = g_i . m_i, the points tiles (row tiles x anchor splits) with their combine, and the
/// anchors tiles (anchor tiles x row splits) with theirs. Splits are sized from the device's occupancy so that
/// a small batch still fills every multiprocessor; their partials live in scratch buffers of the caching allocator.
/// </summary>
internal sealed class CudaZoneKernels(CudaBackend backend) : IZoneKernels
{
    private const string Source = "latent_zone.cu";

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

    /// <summary>Threads of the per-row kernels (row dots, combines, probabilities).</summary>
    private const int RowThreads = 128;

    /// <summary>Threads per block and dynamic shared memory a launcher gives each kernel of latent_zone.cu.</summary>
    internal static (int Threads, int DynamicSharedBytes) LaunchShape(string kernel) => kernel switch
    {
        _ when kernel.StartsWith("zone_forward_tiles_", StringComparison.Ordinal) => (TileThreads, ForwardSharedBytes),
        _ when kernel.StartsWith("zone_backward_points_tiles_", StringComparison.Ordinal) => (TileThreads, PointsSharedBytes),
        _ when kernel.StartsWith("zone_backward_anchors_tiles_", StringComparison.Ordinal) => (TileThreads, AnchorsSharedBytes),
        _ => (RowThreads, 0),
    };

    private readonly CudaBackend _backend = backend;
    private readonly Dictionary<CudaKernel, int> _residentBlocks = [];

    public unsafe void Step(in ZoneStepArgs args)
    {
        int rows = args.Rows, anchorCount = args.AnchorCount, dim = args.Dim;
        ZoneArgumentChecks.Step(args);

        var scales = new Scales(args.Time);
        var layout = new DimLayout(dim);
        var tiles = Kernel($"zone_forward_tiles_{layout.BlockDims}", ForwardSharedBytes);
        int rowTiles = CeilDiv(rows, Tile);
        var (splits, tilesPerSplit) = Split(tiles, rowTiles * layout.Groups, CeilDiv(anchorCount, Tile));

        using var sqNorms = SquaredNorms(args.Anchors, anchorCount, dim); // [anchorCount]
        using var partialAcc = _backend.AllocateFloat((long)splits * rows * layout.PaddedDim); // [splits, rows, paddedDim]
        using var partialMax = _backend.AllocateFloat((long)splits * rows); // [splits, rows]
        using var partialSum = _backend.AllocateFloat((long)splits * rows); // [splits, rows]
        using var lseScratch = args.LogSumExp is null ? _backend.AllocateFloat(rows) : null; // [rows]

        ulong points = CudaBackend.Pointer(args.Points), anchors = CudaBackend.Pointer(args.Anchors);
        ulong norms = CudaBackend.Pointer(sqNorms), priors = CudaBackend.Pointer(args.LogPriors);
        ulong probabilities = CudaBackend.Pointer(args.Probabilities);
        ulong acc = CudaBackend.Pointer(partialAcc), max = CudaBackend.Pointer(partialMax), sum = CudaBackend.Pointer(partialSum);
        int paddedDim = layout.PaddedDim;
        float scale = scales.Cross, halfC = scales.HalfC, time = args.Time, stepSize = args.StepSize;
        void** tileArguments = stackalloc void*[]
        {
            &points, &anchors, &norms, &priors, &probabilities, &acc, &max, &sum,
            &rows, &anchorCount, &dim, &paddedDim, &tilesPerSplit, &scale, &halfC,
        };
        _backend.Launch(tiles, ((uint)rowTiles, (uint)splits, (uint)layout.Groups), (TileThreads, 1, 1), ForwardSharedBytes, tileArguments);

        ulong targets = CudaBackend.Pointer(args.Targets), next = CudaBackend.Pointer(args.NextPoints);
        ulong mean = CudaBackend.Pointer(args.WeightedMean), lse = CudaBackend.Pointer(args.LogSumExp ?? lseScratch);
        ulong targetLogProb = CudaBackend.Pointer(args.TargetLogProb);
        void** combineArguments = stackalloc void*[]
        {
            &points, &anchors, &norms, &priors, &acc, &max, &sum, &targets, &next, &mean, &lse, &targetLogProb,
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

        var scales = new Scales(args.Time);
        var layout = new DimLayout(dim);
        using var sqNorms = SquaredNorms(args.Anchors, anchorCount, dim); // [anchorCount]
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
            var tiles = Kernel($"zone_backward_points_tiles_{layout.BlockDims}", PointsSharedBytes);
            int rowTiles = CeilDiv(rows, Tile);
            var (splits, tilesPerSplit) = Split(tiles, rowTiles * layout.Groups, CeilDiv(anchorCount, Tile));
            using var partialGrad = _backend.AllocateFloat((long)splits * rows * paddedDim); // [splits, rows, paddedDim]
            using var partialDsSum = _backend.AllocateFloat((long)splits * rows); // [splits, rows]
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
            var tiles = Kernel($"zone_backward_anchors_tiles_{layout.BlockDims}", AnchorsSharedBytes);
            int anchorTiles = CeilDiv(anchorCount, Tile);
            var (splits, tilesPerSplit) = Split(tiles, anchorTiles * layout.Groups, CeilDiv(rows, Tile));
            using var partialGrad = _backend.AllocateFloat((long)splits * anchorCount * paddedDim); // [splits, anchorCount, paddedDim]
            using var partialDsSum = _backend.AllocateFloat((long)splits * anchorCount); // [splits, anchorCount]
            ulong grad = CudaBackend.Pointer(partialGrad), dsSum = CudaBackend.Pointer(partialDsSum);
            void** tileArguments = stackalloc void*[]
            {
                &points, &anchors, &norms, &priors, &lse, &rowDots, &velocityGrad, &targets, &targetGrad, &grad, &dsSum,
                &rows, &anchorCount, &dim, &paddedDim, &tilesPerSplit, &selfOffset, &time, &scale, &halfC,
            };
            _backend.Launch(tiles, ((uint)anchorTiles, (uint)splits, (uint)layout.Groups), (TileThreads, 1, 1), AnchorsSharedBytes, tileArguments);

            void** combineArguments = stackalloc void*[] { &anchors, &grad, &dsSum, &anchorsGrad, &priorsGrad, &anchorCount, &dim, &paddedDim, &splits, &scale, &c };
            _backend.Launch(_backend.Kernel(Source, "zone_backward_anchors_combine"), ((uint)anchorCount, 1, 1), (RowThreads, 1, 1), 0, combineArguments);
        }
    }

    /// <summary>|a_j|^2 [anchorCount], one warp per anchor.</summary>
    private unsafe FloatBuffer SquaredNorms(FloatBuffer anchors, int anchorCount, int dim)
    {
        var result = _backend.AllocateFloat(anchorCount); // [anchorCount]
        ulong input = CudaBackend.Pointer(anchors), output = CudaBackend.Pointer(result);
        void** arguments = stackalloc void*[] { &input, &output, &anchorCount, &dim };
        const int warpsPerBlock = RowThreads / 32;
        _backend.Launch(_backend.Kernel(Source, "zone_squared_norms"), ((uint)CeilDiv(anchorCount, warpsPerBlock), 1, 1), (RowThreads, 1, 1), 0, arguments);
        return result;
    }

    /// <summary>out_i = u_i . v_i [rows] for [rows, dim] matrices, summed in dim order like the tiles' dot products.</summary>
    private unsafe FloatBuffer RowDots(FloatBuffer u, FloatBuffer v, int rows, int dim)
    {
        var result = _backend.AllocateFloat(rows); // [rows]
        ulong left = CudaBackend.Pointer(u), right = CudaBackend.Pointer(v), output = CudaBackend.Pointer(result);
        void** arguments = stackalloc void*[] { &left, &right, &output, &rows, &dim };
        _backend.Launch(_backend.Kernel(Source, "zone_row_dots"), ((uint)CeilDiv(rows, RowThreads), 1, 1), (RowThreads, 1, 1), 0, arguments);
        return result;
    }

    /// <summary>A tile kernel, opted in to its dynamic shared memory when that exceeds the 48 KiB default.</summary>
    private CudaKernel Kernel(string name, int sharedBytes)
    {
        var kernel = _backend.Kernel(Source, name);
        lock (_residentBlocks)
        {
            if (!_residentBlocks.ContainsKey(kernel))
            {
                if (sharedBytes > _backend.Properties.MaxSharedMemoryPerBlockOptin)
                    throw new NotSupportedException($"{name} needs {sharedBytes} B of shared memory per block; {_backend.Properties.Name} allows {_backend.Properties.MaxSharedMemoryPerBlockOptin} B.");
                if (sharedBytes > 48 * 1024)
                    kernel.SetMaxDynamicSharedMemory(sharedBytes);
                _residentBlocks[kernel] = Math.Max(1, kernel.ActiveBlocksPerMultiprocessor(TileThreads, sharedBytes));
            }
        }
        return kernel;
    }

    /// <summary>
    /// Splits the streamed tiles so that ownerBlocks x splits blocks fit in one wave of resident blocks (no tail
    /// wave; fewer partials to write and merge); with more owner blocks than that, nothing is split. Every split
    /// gets tilesPerSplit tiles except possibly the last, and none is empty.
    /// </summary>
    private (int Splits, int TilesPerSplit) Split(CudaKernel kernel, int ownerBlocks, int streamedTiles)
    {
        int resident;
        lock (_residentBlocks)
            resident = _residentBlocks[kernel] * _backend.Properties.MultiprocessorCount;
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
    /// How dims map onto tile kernels: BlockDims (64, 128 or 256) accumulator dims per block, Groups blocks along
    /// gridDim.z to cover dim, and PaddedDim = Groups x BlockDims, the row stride of the partial buffers.
    /// </summary>
    private readonly struct DimLayout
    {
        public DimLayout(int dim)
        {
            BlockDims = dim <= DimChunk ? DimChunk : dim <= 2 * DimChunk ? 2 * DimChunk : 4 * DimChunk;
            Groups = CeilDiv(dim, BlockDims);
            PaddedDim = Groups * BlockDims;
        }

        public int BlockDims { get; }

        public int Groups { get; }

        public int PaddedDim { get; }
    }
}
