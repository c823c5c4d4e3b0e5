namespace LZN.Native.Backends;

/// <summary>
/// The neural-network kernels the layers in <c>LZN.Native.Nn</c> build on (docs/nn.md). Images are NCHW,
/// batch-major; matrices are row-major. Every op overwrites its outputs except the parameter-gradient
/// outputs (dgamma, dbeta, dbias), which accumulate (+=) like every parameter gradient in the layers.
/// Buffer lengths must match the stated shapes exactly (pass slices for larger buffers).
/// </summary>
public interface INnKernels
{
    /// <summary>
    /// Unfolds image patches: columns[(c * k + ki) * k + kj, n * P + oy * outW + ox] =
    /// input[n, c, oy * stride + ki - padding, ox * stride + kj - padding] (0 outside the image), P = outH * outW.
    /// Shapes: input [batchSize, C, H, W], columns [C * k * k, batchSize * P]; so a convolution is one GEMM
    /// weight [outC, C * k * k] x columns, giving [outC, batchSize, P].
    /// </summary>
    void Im2Col(FloatBuffer input, int batchSize, in ConvGeometry geometry, FloatBuffer columns);

    /// <summary>The adjoint of <see cref="Im2Col"/>: input[n, c, y, x] = sum of every column entry that read it (overwrites).</summary>
    void Col2Im(FloatBuffer columns, int batchSize, in ConvGeometry geometry, FloatBuffer input);

    /// <summary>Swaps the two leading axes: x [outer, middle, inner] -> y [middle, outer, inner] (no aliasing).</summary>
    void TransposeLeadingAxes(FloatBuffer x, int outer, int middle, int inner, FloatBuffer y);

    /// <summary>
    /// y = (x - mean) * rstd * gamma + beta per row of x [rows, dim]; saves mean [rows] and rstd [rows]
    /// (rstd = 1 / sqrt(biased variance + epsilon)). gamma, beta: [dim].
    /// </summary>
    void LayerNormForward(FloatBuffer x, FloatBuffer gamma, FloatBuffer beta, int rows, int dim, float epsilon,
        FloatBuffer y, FloatBuffer mean, FloatBuffer rstd);

    /// <summary>Backward of <see cref="LayerNormForward"/>: writes dx [rows, dim]; dgamma [dim] += sum dy * xhat, dbeta [dim] += sum dy.</summary>
    void LayerNormBackward(FloatBuffer x, FloatBuffer gamma, FloatBuffer mean, FloatBuffer rstd, FloatBuffer dy,
        int rows, int dim, FloatBuffer dx, FloatBuffer dgamma, FloatBuffer dbeta);

    /// <summary>
    /// Group normalisation of x [batchSize, channels, spatial]: the channels split into <paramref name="groups"/>
    /// contiguous groups, each (sample, group) normalised over its (channels / groups) * spatial values, then
    /// y = xhat * gamma[c] + beta[c]. Saves mean and rstd [batchSize, groups].
    /// </summary>
    void GroupNormForward(FloatBuffer x, FloatBuffer gamma, FloatBuffer beta, int batchSize, int channels, int spatial,
        int groups, float epsilon, FloatBuffer y, FloatBuffer mean, FloatBuffer rstd);

    /// <summary>Backward of <see cref="GroupNormForward"/>: writes dx; dgamma [channels] and dbeta [channels] accumulate.</summary>
    void GroupNormBackward(FloatBuffer x, FloatBuffer gamma, FloatBuffer mean, FloatBuffer rstd, FloatBuffer dy,
        int batchSize, int channels, int spatial, int groups, FloatBuffer dx, FloatBuffer dgamma, FloatBuffer dbeta);

    /// <summary>Nearest-neighbour 2x upsampling: x [planes, height, width] -> y [planes, 2 height, 2 width] (planes = N * C).</summary>
    void Upsample2x(FloatBuffer x, int planes, int height, int width, FloatBuffer y);

    /// <summary>Backward of <see cref="Upsample2x"/>: dx [planes, height, width] = sum of each 2x2 block of dy (overwrites).</summary>
    void Upsample2xBackward(FloatBuffer dy, int planes, int height, int width, FloatBuffer dx);

    /// <summary>
    /// x [batchSize, channels, spatial] += bias [channels] broadcast over batch and space. A per-sample bias
    /// [batchSize, channels] is the same call with batchSize 1 and channels = batchSize * channels.
    /// </summary>
    void AddChannelBias(FloatBuffer x, FloatBuffer bias, int batchSize, int channels, int spatial);

    /// <summary>Backward of <see cref="AddChannelBias"/>: dbias [channels] += sum over batch and space of dy [batchSize, channels, spatial].</summary>
    void ChannelBiasBackward(FloatBuffer dy, int batchSize, int channels, int spatial, FloatBuffer dbias);

    /// <summary>
    /// Sinusoidal embedding of times [rows] into output [rows, dim] (dim even, half = dim / 2):
    /// output[r, i] = cos(s t_r f_i), output[r, half + i] = sin(s t_r f_i), f_i = maxPeriod^(-i / half), s = timeScale.
    /// </summary>
    void SinusoidalEmbedding(FloatBuffer times, int rows, int dim, float timeScale, float maxPeriod, FloatBuffer output);

    /// <summary>
    /// Column-block copy for concatenation and splitting: destination[r, destinationOffset + j] =
    /// source[r, sourceOffset + j] for j in [0, count), with source [rows, sourceColumns] and
    /// destination [rows, destinationColumns]; other destination columns are left as they are.
    /// </summary>
    void CopyColumns(FloatBuffer source, int rows, int sourceColumns, int sourceOffset,
        FloatBuffer destination, int destinationColumns, int destinationOffset, int count);

    /// <summary>destination[r, :] = source[indices[r], :], source [sourceRows, columns], indices [rows], destination [rows, columns].</summary>
    void GatherRows(FloatBuffer source, int sourceRows, IntBuffer indices, int rows, int columns, FloatBuffer destination);

    /// <summary>destination [rows, classes] = one-hot of labels [rows] (every label must lie in [0, classes)).</summary>
    void OneHot(IntBuffer labels, int rows, int classes, FloatBuffer destination);
}

/// <summary>A square-kernel 2-D convolution's input geometry: channels x height x width, kernel size, stride, zero padding.</summary>
public readonly record struct ConvGeometry(int Channels, int Height, int Width, int KernelSize, int Stride, int Padding)
{
    public int OutputHeight => (Height + 2 * Padding - KernelSize) / Stride + 1;

    public int OutputWidth => (Width + 2 * Padding - KernelSize) / Stride + 1;

    /// <summary>Output pixels per image, P = outH * outW.</summary>
    public int OutputPixels => OutputHeight * OutputWidth;

    /// <summary>Rows of the im2col matrix: C * k * k.</summary>
    public int ColumnRows => Channels * KernelSize * KernelSize;

    public int InputSize => Channels * Height * Width;

    /// <summary>Throws unless every size is positive and the kernel fits the padded image.</summary>
    public void Validate()
    {
        if (Channels <= 0 || Height <= 0 || Width <= 0 || KernelSize <= 0 || Stride <= 0 || Padding < 0
            || Height + 2 * Padding < KernelSize || Width + 2 * Padding < KernelSize)
            throw new ArgumentException($"Invalid convolution geometry {this}.");
    }
}
