namespace LZN.Native.Backends.Cuda;

// Launchers for kernels/reduce.cu and kernels/random.cu (the CPU mirror is CpuBackend).
public sealed partial class CudaBackend
{
    /// <summary>Threads per block of the full reductions and of the warp-per-row kernels.</summary>
    private const int ReduceBlock = 256;

    /// <summary>Most first-pass blocks of Sum / SumOfSquares, i.e. partial sums the second pass adds.</summary>
    private const int MaxPartials = 1024;

    /// <summary>Column sums: a 32 x 32 block (kernels/reduce.cu, LZN_COLUMN_TILE).</summary>
    private const int ColumnTile = 32;

    /// <summary>Threads per block a launcher gives each kernel of reduce.cu (none uses dynamic shared memory).</summary>
    internal static int ReductionThreads(string kernel) => kernel switch
    {
        "sum_final" => MaxPartials,
        "column_sums" => ColumnTile * ColumnTile,
        _ => ReduceBlock,
    };

    public void Sum(FloatBuffer x, FloatBuffer result) => SumAll(x, result, squares: false);

    public void SumOfSquares(FloatBuffer x, FloatBuffer result) => SumAll(x, result, squares: true);

    // Two passes in a fixed order (per-block partials, then one block over them): reproducible, no atomics.
    private unsafe void SumAll(FloatBuffer x, FloatBuffer result, bool squares)
    {
        ArgumentChecks.Scalar(result, nameof(result));
        ulong input = Cast(x).Address, output = Cast(result).Address;
        ulong partials = _reductionPartials.Address;
        long count = x.Length;
        int partialCount = (int)Math.Min((count + ReduceBlock - 1) / ReduceBlock, MaxPartials);
        if (partialCount > 0)
        {
            int squareFlag = squares ? 1 : 0;
            void** first = stackalloc void*[] { &input, &count, &squareFlag, &partials };
            Launch(Kernel("reduce.cu", "sum_partials"), ((uint)partialCount, 1, 1), (ReduceBlock, 1, 1), 0, first);
        }
        void** second = stackalloc void*[] { &partials, &partialCount, &output };
        Launch(Kernel("reduce.cu", "sum_final"), (1, 1, 1), (MaxPartials, 1, 1), 0, second);
    }

    public unsafe void ColumnSums(FloatBuffer x, int rows, int cols, FloatBuffer result)
    {
        ArgumentChecks.Matrix(x, rows, cols, nameof(x));
        ArgumentChecks.Length(result, cols, nameof(result));
        if (cols == 0)
            return;
        ulong input = Cast(x).Address, output = Cast(result).Address;
        void** arguments = stackalloc void*[] { &input, &rows, &cols, &output };
        uint blocks = (uint)((cols + ColumnTile - 1) / ColumnTile);
        Launch(Kernel("reduce.cu", "column_sums"), (blocks, 1, 1), (ColumnTile, ColumnTile, 1), 0, arguments);
    }

    public unsafe void RowSums(FloatBuffer x, int rows, int cols, FloatBuffer result)
    {
        ArgumentChecks.Matrix(x, rows, cols, nameof(x));
        ArgumentChecks.Length(result, rows, nameof(result));
        ulong input = Cast(x).Address, output = Cast(result).Address;
        void** arguments = stackalloc void*[] { &input, &rows, &cols, &output };
        LaunchWarpPerRow("row_sums", rows, arguments);
    }

    public unsafe void SoftmaxRows(FloatBuffer x, int rows, int cols, FloatBuffer y)
    {
        ArgumentChecks.Matrix(x, rows, cols, nameof(x));
        ArgumentChecks.Length(y, x.Length, nameof(y));
        if (cols == 0)
            return;
        ulong input = Cast(x).Address, output = Cast(y).Address;
        void** arguments = stackalloc void*[] { &input, &output, &rows, &cols };
        LaunchWarpPerRow("softmax_rows", rows, arguments);
    }

    public unsafe void FillNormal(FloatBuffer destination, ulong seed, ulong offset, float mean, float std)
    {
        ulong output = Cast(destination).Address;
        long count = destination.Length;
        void** arguments = stackalloc void*[] { &output, &count, &seed, &offset, &mean, &std };
        LaunchElementwise("random.cu", "fill_normal", count, arguments);
    }

    public unsafe void FillUniform(FloatBuffer destination, ulong seed, ulong offset, float low, float high)
    {
        ulong output = Cast(destination).Address;
        long count = destination.Length;
        void** arguments = stackalloc void*[] { &output, &count, &seed, &offset, &low, &high };
        LaunchElementwise("random.cu", "fill_uniform", count, arguments);
    }

    public unsafe void FillBernoulli(FloatBuffer destination, ulong seed, ulong offset, float probability, float value)
    {
        ulong output = Cast(destination).Address;
        long count = destination.Length;
        void** arguments = stackalloc void*[] { &output, &count, &seed, &offset, &probability, &value };
        LaunchElementwise("random.cu", "fill_bernoulli", count, arguments);
    }

    private unsafe void LaunchWarpPerRow(string functionName, int rows, void** arguments)
    {
        if (rows == 0)
            return;
        int rowsPerBlock = ReduceBlock / Properties.WarpSize;
        uint blocks = (uint)((rows + rowsPerBlock - 1) / rowsPerBlock);
        Launch(Kernel("reduce.cu", functionName), (blocks, 1, 1), (ReduceBlock, 1, 1), 0, arguments);
    }
}
