namespace LZN.Native.Backends;

/// <summary>
/// Argument checks of the <see cref="IBackend"/> primitives (transfers, GEMM, elementwise ops, reductions), the
/// optimiser and the flow-matching kernels, shared by the CPU and CUDA backends so both reject the same calls
/// with the same exception and message. The rule is exact lengths: a buffer holds exactly the elements its
/// shape names (pass a slice of a larger buffer); GEMM operands, which have row strides, need only reach their
/// last element. The NN and zone kernels have theirs in <see cref="NnArgumentChecks"/> and <see cref="ZoneArgumentChecks"/>.
/// </summary>
internal static class ArgumentChecks
{
    public static void Length<T>(DeviceBuffer<T> buffer, long expected, string name) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(buffer, name);
        ObjectDisposedException.ThrowIf(buffer.IsDisposed, buffer);
        if (buffer.Length != expected)
            throw new ArgumentException($"{name} has {buffer.Length} elements; expected {expected}.", name);
    }

    public static void Positive(int value, string name) => ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, name);

    /// <summary>A host span and a device buffer of the same length (upload, download; copies pass two buffers' lengths).</summary>
    public static void Transfer(long expected, long actual, string name)
    {
        if (actual != expected)
            throw new ArgumentException($"{name} has {actual} elements; expected {expected}.", name);
    }

    /// <summary>x [rows, cols] with rows, cols >= 0.</summary>
    public static void Matrix(FloatBuffer x, int rows, int cols, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        Length(x, (long)rows * cols, name);
    }

    /// <summary>A one-element result of a full reduction.</summary>
    public static void Scalar(FloatBuffer result, string name) => Length(result, 1, name);

    public static void Activation(ActivationKind kind, FloatBuffer x, FloatBuffer other, string otherName)
    {
        if (!Enum.IsDefined(kind))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown activation.");
        Length(other, x.Length, otherName);
    }

    public static void AddRowVector(FloatBuffer x, FloatBuffer v, int rows, int cols)
    {
        Matrix(x, rows, cols, nameof(x));
        Length(v, cols, nameof(v));
    }

    // ---- GEMM ---------------------------------------------------------------------------------

    /// <summary>
    /// Sizes, leading dimensions and strides of a (batched) GEMM, and that every batch's matrices lie inside their
    /// buffers: out of bounds, a device GEMM corrupts memory silently.
    /// </summary>
    public static void Gemm(bool transposeA, bool transposeB, int m, int n, int k,
        FloatBuffer a, int lda, long strideA, FloatBuffer b, int ldb, long strideB,
        FloatBuffer c, int ldc, long strideC, int batchCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfNegative(batchCount);
        // Stored shapes: op(A) is [m, k], so A is [k, m] when transposed; likewise B.
        GemmOperand(a, transposeA ? k : m, transposeA ? m : k, lda, strideA, batchCount, nameof(a));
        GemmOperand(b, transposeB ? n : k, transposeB ? k : n, ldb, strideB, batchCount, nameof(b));
        GemmOperand(c, m, n, ldc, strideC, batchCount, nameof(c));
    }

    private static void GemmOperand(FloatBuffer buffer, int rows, int cols, int ld, long stride, int batchCount, string name)
    {
        ArgumentNullException.ThrowIfNull(buffer, name);
        ObjectDisposedException.ThrowIf(buffer.IsDisposed, buffer);
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(name, $"Leading dimension {ld} of {name} is below its {cols} columns.");
        ArgumentOutOfRangeException.ThrowIfNegative(stride, name);
        if (rows == 0 || cols == 0 || batchCount == 0)
            return;
        long extent = (batchCount - 1) * stride + (long)(rows - 1) * ld + cols;
        if (extent > buffer.Length)
            throw new ArgumentException($"{name} needs {extent} elements ({batchCount} x [{rows}, {cols}], ld {ld}, stride {stride}); the buffer has {buffer.Length}.", name);
    }

    // ---- optimiser and flow matching ------------------------------------------------------------

    public static void Ema(FloatBuffer shadow, FloatBuffer value, double decay)
    {
        Length(value, shadow.Length, nameof(value));
        if (!(decay is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(decay), decay, "EMA decay must lie in [0, 1].");
    }

    public static void TrainingPair(int rows, int rowLength, FloatBuffer data, FloatBuffer noise, FloatBuffer times,
        FloatBuffer noisy, FloatBuffer target)
    {
        Matrix(data, rows, rowLength, nameof(data));
        long elements = (long)rows * rowLength;
        Length(noise, elements, nameof(noise));
        Length(noisy, elements, nameof(noisy));
        Length(target, elements, nameof(target));
        Length(times, rows, nameof(times));
    }

    public static void MeanSquaredError(FloatBuffer prediction, FloatBuffer target, FloatBuffer loss, FloatBuffer? predictionGrad)
    {
        Length(target, prediction.Length, nameof(target));
        if (predictionGrad is not null)
            Length(predictionGrad, prediction.Length, nameof(predictionGrad));
        Scalar(loss, nameof(loss));
    }

    public static void ScaledErrorSum(FloatBuffer error, FloatBuffer y0, FloatBuffer y1, FloatBuffer result)
    {
        Length(y0, error.Length, nameof(y0));
        Length(y1, error.Length, nameof(y1));
        Scalar(result, nameof(result));
    }
}
