namespace LZN.Native.Backends.Cpu;

/// <summary>The reference backend: managed arrays, straightforward loops.</summary>
public sealed class CpuBackend : IBackend
{
    private long _currentBytes;
    private long _peakBytes;

    public CpuBackend()
    {
        Zones = new CpuZoneKernels(this);
    }

    public BackendKind Kind => BackendKind.Cpu;

    public string Description => "CPU";

    public MemoryStats Memory => new(Interlocked.Read(ref _currentBytes), Interlocked.Read(ref _peakBytes));

    public IZoneKernels Zones { get; }

    public void ResetPeakMemory() => Interlocked.Exchange(ref _peakBytes, Interlocked.Read(ref _currentBytes));

    public FloatBuffer AllocateFloat(long length)
    {
        OnAllocate(length * sizeof(float));
        return new CpuFloatBuffer(this, new float[checked((int)length)], 0, length, owns: true);
    }

    public IntBuffer AllocateInt(long length)
    {
        OnAllocate(length * sizeof(int));
        return new CpuIntBuffer(this, new int[checked((int)length)], 0, length, owns: true);
    }

    internal void OnRelease(long bytes) => Interlocked.Add(ref _currentBytes, -bytes);

    private void OnAllocate(long bytes)
    {
        long now = Interlocked.Add(ref _currentBytes, bytes);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peakBytes)) && Interlocked.CompareExchange(ref _peakBytes, now, peak) != peak)
        {
        }
    }

    internal static CpuFloatBuffer Cast(FloatBuffer buffer) => buffer as CpuFloatBuffer
        ?? throw new ArgumentException($"Buffer belongs to the {buffer.Backend.Kind} backend, not the CPU backend.", nameof(buffer));

    internal static CpuIntBuffer Cast(IntBuffer buffer) => buffer as CpuIntBuffer
        ?? throw new ArgumentException($"Buffer belongs to the {buffer.Backend.Kind} backend, not the CPU backend.", nameof(buffer));

    private static void CheckLength(long expected, long actual, string name)
    {
        if (expected != actual)
            throw new ArgumentException($"{name} has {actual} elements; expected {expected}.", name);
    }

    public void Upload(ReadOnlySpan<float> source, FloatBuffer destination)
    {
        CheckLength(destination.Length, source.Length, nameof(source));
        source.CopyTo(Cast(destination).Span);
    }

    public void Upload(ReadOnlySpan<int> source, IntBuffer destination)
    {
        CheckLength(destination.Length, source.Length, nameof(source));
        source.CopyTo(Cast(destination).Span);
    }

    public void Download(FloatBuffer source, Span<float> destination)
    {
        CheckLength(source.Length, destination.Length, nameof(destination));
        Cast(source).Span.CopyTo(destination);
    }

    public void Download(IntBuffer source, Span<int> destination)
    {
        CheckLength(source.Length, destination.Length, nameof(destination));
        Cast(source).Span.CopyTo(destination);
    }

    public void Copy(FloatBuffer source, FloatBuffer destination)
    {
        CheckLength(source.Length, destination.Length, nameof(destination));
        Cast(source).Span.CopyTo(Cast(destination).Span);
    }

    public void Fill(FloatBuffer destination, float value) => Cast(destination).Span.Fill(value);

    public void Fill(IntBuffer destination, int value) => Cast(destination).Span.Fill(value);

    public void Synchronize()
    {
    }

    public void Gemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, FloatBuffer a, int lda,
        FloatBuffer b, int ldb, float beta, FloatBuffer c, int ldc)
    {
        var sa = Cast(a).Span;
        var sb = Cast(b).Span;
        var sc = Cast(c).Span;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transposeA ? sa[p * lda + i] : sa[i * lda + p];
                    float bv = transposeB ? sb[j * ldb + p] : sb[p * ldb + j];
                    sum += av * bv;
                }
                sc[i * ldc + j] = (float)(alpha * sum + (beta == 0 ? 0 : beta * sc[i * ldc + j]));
            }
        }
    }

    public void GemmStridedBatched(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
        FloatBuffer a, int lda, long strideA, FloatBuffer b, int ldb, long strideB,
        float beta, FloatBuffer c, int ldc, long strideC, int batchCount)
    {
        for (int batch = 0; batch < batchCount; batch++)
        {
            Gemm(transposeA, transposeB, m, n, k, alpha,
                a.Slice(batch * strideA, a.Length - batch * strideA), lda,
                b.Slice(batch * strideB, b.Length - batch * strideB), ldb, beta,
                c.Slice(batch * strideC, c.Length - batch * strideC), ldc);
        }
    }

    public void Axpby(float alpha, FloatBuffer x, float beta, FloatBuffer y)
    {
        CheckLength(x.Length, y.Length, nameof(y));
        var sx = Cast(x).Span;
        var sy = Cast(y).Span;
        for (int i = 0; i < sx.Length; i++)
            sy[i] = alpha * sx[i] + beta * sy[i];
    }

    public void Multiply(FloatBuffer x, FloatBuffer y, FloatBuffer z)
    {
        var sx = Cast(x).Span;
        var sy = Cast(y).Span;
        var sz = Cast(z).Span;
        for (int i = 0; i < sz.Length; i++)
            sz[i] = sx[i] * sy[i];
    }

    public void ScaleShift(FloatBuffer x, float alpha, float shift)
    {
        var sx = Cast(x).Span;
        for (int i = 0; i < sx.Length; i++)
            sx[i] = alpha * sx[i] + shift;
    }

    public void Activation(ActivationKind kind, FloatBuffer x, FloatBuffer y)
    {
        var sx = Cast(x).Span;
        var sy = Cast(y).Span;
        for (int i = 0; i < sx.Length; i++)
            sy[i] = Activations.Forward(kind, sx[i]);
    }

    public void ActivationBackward(ActivationKind kind, FloatBuffer x, FloatBuffer dy, FloatBuffer dx)
    {
        var sx = Cast(x).Span;
        var sdy = Cast(dy).Span;
        var sdx = Cast(dx).Span;
        for (int i = 0; i < sx.Length; i++)
            sdx[i] = sdy[i] * Activations.Derivative(kind, sx[i]);
    }

    public void AddRowVector(FloatBuffer x, FloatBuffer v, int rows, int cols, float alpha)
    {
        var sx = Cast(x).Span;
        var sv = Cast(v).Span;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
                sx[r * cols + c] += alpha * sv[c];
        }
    }

    public void Sum(FloatBuffer x, FloatBuffer result)
    {
        double sum = 0;
        foreach (float value in Cast(x).Span)
            sum += value;
        Cast(result).Span[0] = (float)sum;
    }

    public void SumOfSquares(FloatBuffer x, FloatBuffer result)
    {
        double sum = 0;
        foreach (float value in Cast(x).Span)
            sum += (double)value * value;
        Cast(result).Span[0] = (float)sum;
    }

    public void ColumnSums(FloatBuffer x, int rows, int cols, FloatBuffer result)
    {
        var sx = Cast(x).Span;
        var sr = Cast(result).Span;
        for (int c = 0; c < cols; c++)
        {
            double sum = 0;
            for (int r = 0; r < rows; r++)
                sum += sx[r * cols + c];
            sr[c] = (float)sum;
        }
    }

    public void RowSums(FloatBuffer x, int rows, int cols, FloatBuffer result)
    {
        var sx = Cast(x).Span;
        var sr = Cast(result).Span;
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int c = 0; c < cols; c++)
                sum += sx[r * cols + c];
            sr[r] = (float)sum;
        }
    }

    public void SoftmaxRows(FloatBuffer x, int rows, int cols, FloatBuffer y)
    {
        var sx = Cast(x).Span;
        var sy = Cast(y).Span;
        for (int r = 0; r < rows; r++)
        {
            var row = sx.Slice(r * cols, cols);
            var outRow = sy.Slice(r * cols, cols);
            float max = float.NegativeInfinity;
            foreach (float value in row)
                max = MathF.Max(max, value);
            double sum = 0;
            for (int c = 0; c < cols; c++)
            {
                outRow[c] = MathF.Exp(row[c] - max);
                sum += outRow[c];
            }
            for (int c = 0; c < cols; c++)
                outRow[c] = (float)(outRow[c] / sum);
        }
    }

    public void FillNormal(FloatBuffer destination, ulong seed, ulong offset, float mean, float std)
    {
        var span = Cast(destination).Span;
        for (int i = 0; i < span.Length; i++)
            span[i] = mean + std * Philox.Normal(seed, offset + (ulong)i);
    }

    public void FillUniform(FloatBuffer destination, ulong seed, ulong offset, float low, float high)
    {
        var span = Cast(destination).Span;
        for (int i = 0; i < span.Length; i++)
            span[i] = low + (high - low) * Philox.Uniform(seed, offset + (ulong)i);
    }

    public void Dispose()
    {
    }
}
