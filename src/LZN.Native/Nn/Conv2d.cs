using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>
/// 2-D convolution by im2col + GEMM over NCHW input [batchSize, C, H, W] -> [batchSize, outC, outH, outW],
/// weight [outC, C, k, k] (PyTorch's layout), bias [outC]. The batch runs in chunks whose im2col matrix
/// [C k k, chunk * P] stays within <see cref="ColumnBudget"/> floats (by default 8 MiB on the CPU, 64 MiB on a
/// device); one GEMM per chunk gives [outC, chunk, P], transposed to batch-major. Backward recomputes the
/// im2col of each chunk (unless the whole batch was one chunk in a column buffer of its own, whose columns
/// are still there), and reuses the column buffer for dcolumns. Convolutions of one model may share one
/// column workspace: it is scratch between the calls, so sharing only costs the recomputation.
/// </summary>
public sealed class Conv2d : Layer
{
    /// <summary>
    /// Default column budget on the CPU (8 MiB): a chunk's columns stay in the last-level cache between im2col
    /// and the GEMM that reads them: the large decoder convolutions run 1.4-1.7x faster than with whole-batch chunks.
    /// </summary>
    public const long CpuColumnBudget = 1L << 21;

    /// <summary>Default column budget on a device (64 MiB): few, large GEMMs and launches.</summary>
    public const long DeviceColumnBudget = 1L << 24;

    private readonly Workspace _output;
    private readonly Workspace _inputGrad;
    private readonly Workspace _columns;
    private readonly bool _ownsColumns;
    private readonly Workspace _transposed;
    private FloatBuffer? _input;
    private int _batchSize;
    private bool _columnsHoldInput;

    /// <param name="columnBudget">Most floats of im2col matrix per chunk (at least one image's worth is always used); null for the
    /// backend's default, <see cref="CpuColumnBudget"/> or <see cref="DeviceColumnBudget"/>.</param>
    /// <param name="sharedColumns">A column workspace shared with other convolutions (not disposed here); null for a private one.</param>
    public Conv2d(IBackend backend, string name, ConvGeometry geometry, int outputChannels, ulong seed, WeightInit init = WeightInit.Kaiming,
        long? columnBudget = null, Workspace? sharedColumns = null)
        : base(backend, name)
    {
        geometry.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputChannels);
        ColumnBudget = columnBudget ?? (backend.Kind == BackendKind.Cpu ? CpuColumnBudget : DeviceColumnBudget);
        Geometry = geometry;
        OutputChannels = outputChannels;
        int k = geometry.KernelSize;
        Weight = new Parameter(backend, ChildName(name, "weight"), [outputChannels, geometry.Channels, k, k], Parameter.WeightGroup);
        Bias = new Parameter(backend, ChildName(name, "bias"), [outputChannels], Parameter.NoDecayGroup);
        Initialization.Fill(Weight, init, geometry.ColumnRows, outputChannels * k * k, seed);
        _output = new Workspace(backend);
        _inputGrad = new Workspace(backend);
        _ownsColumns = sharedColumns is null;
        _columns = sharedColumns ?? new Workspace(backend);
        _transposed = new Workspace(backend);
    }

    public ConvGeometry Geometry { get; }

    /// <summary>Most floats of the im2col matrix held at once.</summary>
    public long ColumnBudget { get; }

    public int OutputChannels { get; }

    /// <summary>[outC, C, k, k]</summary>
    public Parameter Weight { get; }

    /// <summary>[outC]</summary>
    public Parameter Bias { get; }

    public override int InputSize => Geometry.InputSize;

    public override int OutputSize => OutputChannels * Geometry.OutputPixels;

    public override IEnumerable<Parameter> Parameters => [Weight, Bias];

    public override FloatBuffer Forward(FloatBuffer input, int batchSize)
    {
        CheckInput(input, batchSize);
        _input = input;
        _batchSize = batchSize;
        int chunk = ImagesPerChunk(batchSize), pixels = Geometry.OutputPixels, columnRows = Geometry.ColumnRows;
        var output = _output.Get((long)batchSize * OutputSize); // [batchSize, outC, P]
        var columns = _columns.Get((long)columnRows * chunk * pixels); // [C k k, chunk * P]
        var transposed = _transposed.Get((long)OutputChannels * chunk * pixels); // [outC, chunk, P]
        for (int start = 0; start < batchSize; start += chunk)
        {
            int count = Math.Min(chunk, batchSize - start), width = count * pixels;
            var chunkColumns = columns.Slice(0, (long)columnRows * width);
            var chunkOutput = transposed.Slice(0, (long)OutputChannels * width);
            Backend.Nn.Im2Col(input.Slice((long)start * InputSize, (long)count * InputSize), count, Geometry, chunkColumns);
            Backend.Gemm(false, false, OutputChannels, width, columnRows, 1f, Weight.Value, columnRows, chunkColumns, width, 0f, chunkOutput, width);
            Backend.Nn.TransposeLeadingAxes(chunkOutput, OutputChannels, count, pixels, output.Slice((long)start * OutputSize, (long)count * OutputSize));
        }
        Backend.Nn.AddChannelBias(output, Bias.Value, batchSize, OutputChannels, pixels);
        _columnsHoldInput = _ownsColumns && chunk == batchSize;
        return output;
    }

    public override FloatBuffer Backward(FloatBuffer gradOutput)
    {
        CheckGradient(gradOutput, _batchSize, OutputSize, Name);
        int batchSize = _batchSize, chunk = ImagesPerChunk(batchSize), pixels = Geometry.OutputPixels, columnRows = Geometry.ColumnRows;
        var inputGrad = _inputGrad.Get((long)batchSize * InputSize); // [batchSize, C, H, W]
        var columns = _columns.Get((long)columnRows * chunk * pixels); // [C k k, chunk * P]
        var transposed = _transposed.Get((long)OutputChannels * chunk * pixels); // [outC, chunk, P]
        Backend.Nn.ChannelBiasBackward(gradOutput, batchSize, OutputChannels, pixels, Bias.Grad);
        for (int start = 0; start < batchSize; start += chunk)
        {
            int count = Math.Min(chunk, batchSize - start), width = count * pixels;
            var chunkColumns = columns.Slice(0, (long)columnRows * width);
            var chunkGrad = transposed.Slice(0, (long)OutputChannels * width);
            Backend.Nn.TransposeLeadingAxes(gradOutput.Slice((long)start * OutputSize, (long)count * OutputSize), count, OutputChannels, pixels, chunkGrad);
            if (!_columnsHoldInput)
                Backend.Nn.Im2Col(_input!.Slice((long)start * InputSize, (long)count * InputSize), count, Geometry, chunkColumns);
            // dW [outC, C k k] += dY [outC, width] columns^T; then dcolumns = W^T dY overwrites the columns.
            Backend.Gemm(false, true, OutputChannels, columnRows, width, 1f, chunkGrad, width, chunkColumns, width, 1f, Weight.Grad, columnRows);
            Backend.Gemm(true, false, columnRows, width, OutputChannels, 1f, Weight.Value, columnRows, chunkGrad, width, 0f, chunkColumns, width);
            Backend.Nn.Col2Im(chunkColumns, count, Geometry, inputGrad.Slice((long)start * InputSize, (long)count * InputSize));
        }
        _columnsHoldInput = false;
        return inputGrad;
    }

    private int ImagesPerChunk(int batchSize) =>
        (int)Math.Clamp(ColumnBudget / ((long)Geometry.ColumnRows * Geometry.OutputPixels), 1, batchSize);

    protected override void Dispose(bool disposing)
    {
        Weight.Dispose();
        Bias.Dispose();
        _output.Dispose();
        _inputGrad.Dispose();
        if (_ownsColumns)
            _columns.Dispose();
        _transposed.Dispose();
    }
}
