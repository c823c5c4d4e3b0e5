using static LZN.Native.Backends.ArgumentChecks;
using static LZN.Native.Backends.NnArgumentChecks;

namespace LZN.Native.Backends.Cuda;

/// <summary>
/// Launchers for kernels/nn.cu (the CPU mirror is CpuNnKernels). Elementwise kernels get a ceil-div
/// grid capped at one resident wave (they loop grid-stride); the normalisation and bias reductions get
/// one block per (sample, group) or per channel. Layer normalisation runs the group-norm kernels with
/// batch = rows, channels = dim, spatial = 1, groups = 1, which is the same computation.
/// </summary>
internal sealed class CudaNnKernels(CudaBackend backend) : INnKernels
{
    private const string Source = "nn.cu";

    /// <summary>Threads per block of every nn.cu kernel (the reductions need a multiple of 32).</summary>
    private const int Block = CudaBackend.GridStrideThreads;

    private readonly CudaBackend _backend = backend;

    public void Im2Col(FloatBuffer input, int batchSize, in ConvGeometry geometry, FloatBuffer columns)
    {
        Convolution(columns, input, batchSize, geometry);
        ConvolutionLaunch("im2col", CudaBackend.Pointer(input), CudaBackend.Pointer(columns), batchSize, geometry, columns.Length);
    }

    public void Col2Im(FloatBuffer columns, int batchSize, in ConvGeometry geometry, FloatBuffer input)
    {
        Convolution(columns, input, batchSize, geometry);
        ConvolutionLaunch("col2im", CudaBackend.Pointer(columns), CudaBackend.Pointer(input), batchSize, geometry, input.Length);
    }

    public unsafe void TransposeLeadingAxes(FloatBuffer x, int outer, int middle, int inner, FloatBuffer y)
    {
        Transpose(x, outer, middle, inner, y);
        ulong source = CudaBackend.Pointer(x), target = CudaBackend.Pointer(y);
        long outerCount = outer, middleCount = middle, innerCount = inner;
        void** arguments = stackalloc void*[] { &source, &target, &outerCount, &middleCount, &innerCount };
        LaunchElementwise("transpose_leading", y.Length, arguments);
    }

    public void LayerNormForward(FloatBuffer x, FloatBuffer gamma, FloatBuffer beta, int rows, int dim, float epsilon,
        FloatBuffer y, FloatBuffer mean, FloatBuffer rstd)
    {
        LayerNorm(x, gamma, mean, rstd, y, rows, dim);
        Length(beta, dim, nameof(beta));
        LaunchGroupNormForward(x, gamma, beta, rows, dim, 1, 1, epsilon, y, mean, rstd);
    }

    public void LayerNormBackward(FloatBuffer x, FloatBuffer gamma, FloatBuffer mean, FloatBuffer rstd, FloatBuffer dy,
        int rows, int dim, FloatBuffer dx, FloatBuffer dgamma, FloatBuffer dbeta)
    {
        LayerNorm(x, gamma, mean, rstd, dy, rows, dim);
        LayerNorm(x, gamma, mean, rstd, dx, rows, dim);
        Length(dgamma, dim, nameof(dgamma));
        Length(dbeta, dim, nameof(dbeta));
        LaunchGroupNormBackward(x, gamma, mean, rstd, dy, rows, dim, 1, 1, dx, dgamma, dbeta);
    }

    public void GroupNormForward(FloatBuffer x, FloatBuffer gamma, FloatBuffer beta, int batchSize, int channels, int spatial,
        int groups, float epsilon, FloatBuffer y, FloatBuffer mean, FloatBuffer rstd)
    {
        GroupNorm(x, gamma, mean, rstd, y, batchSize, channels, spatial, groups);
        Length(beta, channels, nameof(beta));
        LaunchGroupNormForward(x, gamma, beta, batchSize, channels, spatial, groups, epsilon, y, mean, rstd);
    }

    public void GroupNormBackward(FloatBuffer x, FloatBuffer gamma, FloatBuffer mean, FloatBuffer rstd, FloatBuffer dy,
        int batchSize, int channels, int spatial, int groups, FloatBuffer dx, FloatBuffer dgamma, FloatBuffer dbeta)
    {
        GroupNorm(x, gamma, mean, rstd, dy, batchSize, channels, spatial, groups);
        GroupNorm(x, gamma, mean, rstd, dx, batchSize, channels, spatial, groups);
        Length(dgamma, channels, nameof(dgamma));
        Length(dbeta, channels, nameof(dbeta));
        LaunchGroupNormBackward(x, gamma, mean, rstd, dy, batchSize, channels, spatial, groups, dx, dgamma, dbeta);
    }

    public unsafe void Upsample2x(FloatBuffer x, int planes, int height, int width, FloatBuffer y)
    {
        Upsample(x, planes, height, width, y);
        ulong source = CudaBackend.Pointer(x), target = CudaBackend.Pointer(y);
        long planeCount = planes;
        void** arguments = stackalloc void*[] { &source, &target, &planeCount, &height, &width };
        LaunchElementwise("upsample2x_forward", y.Length, arguments);
    }

    public unsafe void Upsample2xBackward(FloatBuffer dy, int planes, int height, int width, FloatBuffer dx)
    {
        Upsample(dx, planes, height, width, dy);
        ulong source = CudaBackend.Pointer(dy), target = CudaBackend.Pointer(dx);
        long planeCount = planes;
        void** arguments = stackalloc void*[] { &source, &target, &planeCount, &height, &width };
        LaunchElementwise("upsample2x_backward", dx.Length, arguments);
    }

    public unsafe void AddChannelBias(FloatBuffer x, FloatBuffer bias, int batchSize, int channels, int spatial)
    {
        ChannelBias(x, bias, batchSize, channels, spatial);
        ulong values = CudaBackend.Pointer(x), vector = CudaBackend.Pointer(bias);
        void** arguments = stackalloc void*[] { &values, &vector, &batchSize, &channels, &spatial };
        LaunchElementwise("add_channel_bias", x.Length, arguments);
    }

    public unsafe void ChannelBiasBackward(FloatBuffer dy, int batchSize, int channels, int spatial, FloatBuffer dbias)
    {
        ChannelBias(dy, dbias, batchSize, channels, spatial);
        ulong gradient = CudaBackend.Pointer(dy), result = CudaBackend.Pointer(dbias);
        void** arguments = stackalloc void*[] { &gradient, &result, &batchSize, &channels, &spatial };
        _backend.Launch(_backend.Kernel(Source, "channel_bias_backward"), ((uint)channels, 1, 1), (Block, 1, 1), 0, arguments);
    }

    public unsafe void SinusoidalEmbedding(FloatBuffer times, int rows, int dim, float timeScale, float maxPeriod, FloatBuffer output)
    {
        Embedding(times, rows, dim, output);
        ulong t = CudaBackend.Pointer(times), result = CudaBackend.Pointer(output);
        float logMaxPeriod = MathF.Log(maxPeriod);
        void** arguments = stackalloc void*[] { &t, &result, &rows, &dim, &timeScale, &logMaxPeriod };
        LaunchElementwise("sinusoidal_embedding", (long)rows * (dim / 2), arguments);
    }

    public unsafe void CopyColumns(FloatBuffer source, int rows, int sourceColumns, int sourceOffset,
        FloatBuffer destination, int destinationColumns, int destinationOffset, int count)
    {
        NnArgumentChecks.CopyColumns(source, rows, sourceColumns, sourceOffset, destination, destinationColumns, destinationOffset, count);
        ulong from = CudaBackend.Pointer(source), to = CudaBackend.Pointer(destination);
        void** arguments = stackalloc void*[] { &from, &to, &rows, &sourceColumns, &sourceOffset, &destinationColumns, &destinationOffset, &count };
        LaunchElementwise("copy_columns", (long)rows * count, arguments);
    }

    public unsafe void GatherRows(FloatBuffer source, int sourceRows, IntBuffer indices, int rows, int columns, FloatBuffer destination)
    {
        Gather(source, sourceRows, indices, rows, columns, destination);
        ulong from = CudaBackend.Pointer(source), index = CudaBackend.Pointer(indices), to = CudaBackend.Pointer(destination);
        void** arguments = stackalloc void*[] { &from, &index, &to, &rows, &columns, &sourceRows };
        LaunchElementwise("gather_rows", destination.Length, arguments);
    }

    public unsafe void OneHot(IntBuffer labels, int rows, int classes, FloatBuffer destination)
    {
        NnArgumentChecks.OneHot(labels, rows, classes, destination);
        ulong label = CudaBackend.Pointer(labels), to = CudaBackend.Pointer(destination);
        void** arguments = stackalloc void*[] { &label, &to, &rows, &classes };
        LaunchElementwise("one_hot", destination.Length, arguments);
    }

    // ---- launch helpers ------------------------------------------------------------------------

    private unsafe void ConvolutionLaunch(string function, ulong source, ulong target, int batchSize, in ConvGeometry geometry, long count)
    {
        int channels = geometry.Channels, height = geometry.Height, width = geometry.Width, k = geometry.KernelSize;
        int stride = geometry.Stride, padding = geometry.Padding, outH = geometry.OutputHeight, outW = geometry.OutputWidth;
        void** arguments = stackalloc void*[] { &source, &target, &batchSize, &channels, &height, &width, &k, &stride, &padding, &outH, &outW };
        LaunchElementwise(function, count, arguments);
    }

    private unsafe void LaunchGroupNormForward(FloatBuffer x, FloatBuffer gamma, FloatBuffer beta, int batchSize, int channels,
        int spatial, int groups, float epsilon, FloatBuffer y, FloatBuffer mean, FloatBuffer rstd)
    {
        ulong input = CudaBackend.Pointer(x), scale = CudaBackend.Pointer(gamma), shift = CudaBackend.Pointer(beta);
        ulong output = CudaBackend.Pointer(y), means = CudaBackend.Pointer(mean), rstds = CudaBackend.Pointer(rstd);
        void** arguments = stackalloc void*[] { &input, &scale, &shift, &output, &means, &rstds, &channels, &spatial, &groups, &epsilon };
        _backend.Launch(_backend.Kernel(Source, "group_norm_forward"), ((uint)(batchSize * groups), 1, 1), (Block, 1, 1), 0, arguments);
    }

    private unsafe void LaunchGroupNormBackward(FloatBuffer x, FloatBuffer gamma, FloatBuffer mean, FloatBuffer rstd, FloatBuffer dy,
        int batchSize, int channels, int spatial, int groups, FloatBuffer dx, FloatBuffer dgamma, FloatBuffer dbeta)
    {
        ulong input = CudaBackend.Pointer(x), scale = CudaBackend.Pointer(gamma), means = CudaBackend.Pointer(mean);
        ulong rstds = CudaBackend.Pointer(rstd), outputGrad = CudaBackend.Pointer(dy), inputGrad = CudaBackend.Pointer(dx);
        ulong scaleGrad = CudaBackend.Pointer(dgamma), shiftGrad = CudaBackend.Pointer(dbeta);
        void** inputArguments = stackalloc void*[] { &input, &scale, &means, &rstds, &outputGrad, &inputGrad, &channels, &spatial, &groups };
        _backend.Launch(_backend.Kernel(Source, "group_norm_backward_input"), ((uint)(batchSize * groups), 1, 1), (Block, 1, 1), 0, inputArguments);
        void** parameterArguments = stackalloc void*[] { &input, &means, &rstds, &outputGrad, &scaleGrad, &shiftGrad, &batchSize, &channels, &spatial, &groups };
        _backend.Launch(_backend.Kernel(Source, "group_norm_backward_params"), ((uint)channels, 1, 1), (Block, 1, 1), 0, parameterArguments);
    }

    /// <summary>A 1-D grid-stride launch over <paramref name="count"/> elements: ceil-div blocks, capped at one resident wave.</summary>
    private unsafe void LaunchElementwise(string function, long count, void** arguments)
    {
        if (count == 0)
            return;
        var kernel = _backend.Kernel(Source, function);
        long blocks = Math.Min((count + Block - 1) / Block, kernel.ResidentGrid(Block, _backend.Properties.MultiprocessorCount));
        _backend.Launch(kernel, ((uint)blocks, 1, 1), (Block, 1, 1), 0, arguments);
    }
}
