namespace LZN.Native.Backends;

/// <summary>Which implementation stands behind an <see cref="IBackend"/>.</summary>
public enum BackendKind
{
    Cpu,
    Cuda,
}

/// <summary>
/// The one contract every compute backend implements: buffers, copies, row-major GEMM,
/// elementwise and reduction primitives, counter-based RNG and the latent-zone kernels.
/// The CPU backend is the reference; the CUDA backend is tested against it op by op.
/// All matrices are row-major. Operations are ordered on the backend's single stream;
/// host reads (<see cref="Download(FloatBuffer, Span{float})"/>) synchronise.
/// </summary>
public interface IBackend : IDisposable
{
    BackendKind Kind { get; }

    /// <summary>One line naming the device and its math library, e.g. "CPU (OpenBLAS, 2 threads)".</summary>
    string Description { get; }

    /// <summary>Bytes currently held in buffers, and the high-water mark since the last reset.</summary>
    MemoryStats Memory { get; }

    void ResetPeakMemory();

    /// <summary>A zero-initialised float32 buffer of <paramref name="length"/> elements.</summary>
    FloatBuffer AllocateFloat(long length);

    /// <summary>A zero-initialised int32 buffer of <paramref name="length"/> elements.</summary>
    IntBuffer AllocateInt(long length);

    void Upload(ReadOnlySpan<float> source, FloatBuffer destination);
    void Upload(ReadOnlySpan<int> source, IntBuffer destination);
    void Download(FloatBuffer source, Span<float> destination);
    void Download(IntBuffer source, Span<int> destination);
    void Copy(FloatBuffer source, FloatBuffer destination);
    void Fill(FloatBuffer destination, float value);
    void Fill(IntBuffer destination, int value);

    /// <summary>Waits until all queued work is done and surfaces any asynchronous error.</summary>
    void Synchronize();

    // ---- GEMM -------------------------------------------------------------------------------

    /// <summary>
    /// Row-major C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, where op transposes when asked.
    /// Leading dimensions are row strides in elements (lda >= columns of A as stored).
    /// </summary>
    void Gemm(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, FloatBuffer a, int lda, FloatBuffer b, int ldb,
        float beta, FloatBuffer c, int ldc);

    /// <summary><see cref="Gemm"/> over <paramref name="batchCount"/> matrices spaced by element strides.</summary>
    void GemmStridedBatched(bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, FloatBuffer a, int lda, long strideA, FloatBuffer b, int ldb, long strideB,
        float beta, FloatBuffer c, int ldc, long strideC, int batchCount);

    // ---- elementwise ------------------------------------------------------------------------

    /// <summary>y = alpha * x + beta * y.</summary>
    void Axpby(float alpha, FloatBuffer x, float beta, FloatBuffer y);

    /// <summary>z = x * y elementwise (z may alias x or y).</summary>
    void Multiply(FloatBuffer x, FloatBuffer y, FloatBuffer z);

    /// <summary>x = alpha * x + shift.</summary>
    void ScaleShift(FloatBuffer x, float alpha, float shift);

    /// <summary>y = f(x) for an activation (y may alias x).</summary>
    void Activation(ActivationKind kind, FloatBuffer x, FloatBuffer y);

    /// <summary>dx = dy * f'(x) for an activation; dx may alias dy.</summary>
    void ActivationBackward(ActivationKind kind, FloatBuffer x, FloatBuffer dy, FloatBuffer dx);

    /// <summary>x[rows, cols] += alpha * v[cols] broadcast over rows (bias add).</summary>
    void AddRowVector(FloatBuffer x, FloatBuffer v, int rows, int cols, float alpha);

    // ---- reductions (results stay on the device) --------------------------------------------

    /// <summary>result[0] = sum_i x_i (accumulated in double on the CPU, pairwise in fp32 on CUDA).</summary>
    void Sum(FloatBuffer x, FloatBuffer result);

    /// <summary>result[0] = sum_i x_i^2.</summary>
    void SumOfSquares(FloatBuffer x, FloatBuffer result);

    /// <summary>result[c] = sum over rows of x[rows, cols] (bias gradients).</summary>
    void ColumnSums(FloatBuffer x, int rows, int cols, FloatBuffer result);

    /// <summary>result[r] = sum over columns of x[rows, cols] (row norms, row dots after a multiply).</summary>
    void RowSums(FloatBuffer x, int rows, int cols, FloatBuffer result);

    /// <summary>Row-wise softmax of x[rows, cols] into y (y may alias x).</summary>
    void SoftmaxRows(FloatBuffer x, int rows, int cols, FloatBuffer y);

    // ---- latent zones ---------------------------------------------------------------------

    /// <summary>The fused latent-flow kernels of this backend.</summary>
    IZoneKernels Zones { get; }

    /// <summary>The neural-network kernels (im2col, normalisations, embeddings, copies) of this backend.</summary>
    INnKernels Nn { get; }

    /// <summary>Fused Adam/AdamW and EMA updates.</summary>
    IOptimizerKernels Optimizer { get; }

    /// <summary>Rectified-flow training pair, L2 loss with gradient, and the adaptive sampler's error norm.</summary>
    IFlowMatchingKernels FlowMatching { get; }

    // ---- random numbers ---------------------------------------------------------------------

    /// <summary>
    /// Fills with N(mean, std^2) draws from the Philox4x32-10 stream (key = seed) at counters
    /// offset, offset+1, ...; element i depends only on (seed, offset + i), so both backends
    /// produce the same numbers up to rounding of log/cos.
    /// </summary>
    void FillNormal(FloatBuffer destination, ulong seed, ulong offset, float mean, float std);

    /// <summary>Fills with U[low, high) draws from the same counter-based stream.</summary>
    void FillUniform(FloatBuffer destination, ulong seed, ulong offset, float low, float high);

    /// <summary>
    /// Element i = <paramref name="value"/> where the same stream's U[0, 1) draw at counter offset + i is below
    /// <paramref name="probability"/>, else 0: a dropout mask (value = 1 / keep probability) in one pass.
    /// </summary>
    void FillBernoulli(FloatBuffer destination, ulong seed, ulong offset, float probability, float value);
}

/// <summary>Activation functions with fused forward and backward kernels.</summary>
public enum ActivationKind
{
    Identity,
    Relu,
    Silu,
    Tanh,
    Sigmoid,
    Gelu,
}

/// <summary>Bytes held in buffers now, and the most held since the last reset.</summary>
public readonly record struct MemoryStats(long CurrentBytes, long PeakBytes);
