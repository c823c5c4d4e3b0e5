using LZN.Native.Interop;

namespace LZN.Native.Backends.Cpu;

/// <summary>Who multiplies matrices for a <see cref="CpuBackend"/>.</summary>
public enum CpuGemmProvider
{
    /// <summary>OpenBLAS when it loads; otherwise the managed GEMM, with a one-line notice on stderr.</summary>
    Auto,

    /// <summary>OpenBLAS's cblas_sgemm; construction throws (listing every load attempt) when it is missing.</summary>
    OpenBlas,

    /// <summary>The managed cache-blocked SIMD GEMM (<see cref="ManagedGemm"/>), whatever is installed.</summary>
    Managed,
}

/// <summary>
/// The CPU backend: buffers are managed arrays; GEMM goes to OpenBLAS (or the managed SIMD GEMM),
/// everything else is vectorised span code (System.Numerics.Tensors, Vector512/256) that runs
/// Parallel.For over chunks once a buffer is large. The op families live in the partial files
/// CpuGemm.cs, CpuElementwise.cs, CpuReductions.cs and CpuRandom.cs.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    private static int _fallbackNoticeWritten;

    private readonly CpuArrayCache<float> _floatArrays = new();
    private readonly CpuArrayCache<int> _intArrays = new();
    private long _currentBytes;
    private long _peakBytes;

    public CpuBackend()
        : this(CpuGemmProvider.Auto)
    {
    }

    /// <param name="gemmProvider">Auto picks OpenBLAS when it loads; tests force each provider in turn.</param>
    public CpuBackend(CpuGemmProvider gemmProvider)
    {
        GemmProvider = gemmProvider switch
        {
            CpuGemmProvider.Auto => OpenBlasInfo.IsAvailable ? CpuGemmProvider.OpenBlas : FallBackToManaged(),
            CpuGemmProvider.OpenBlas => RequireOpenBlas(),
            CpuGemmProvider.Managed => CpuGemmProvider.Managed,
            _ => throw new ArgumentOutOfRangeException(nameof(gemmProvider), gemmProvider, null),
        };
        Zones = new CpuZoneKernels(this);
    }

    /// <summary>The provider in use: <see cref="CpuGemmProvider.OpenBlas"/> or <see cref="CpuGemmProvider.Managed"/>, never Auto.</summary>
    public CpuGemmProvider GemmProvider { get; }

    public BackendKind Kind => BackendKind.Cpu;

    public string Description => GemmProvider == CpuGemmProvider.OpenBlas
        ? $"CPU (OpenBLAS {OpenBlasInfo.Version ?? "?"} {OpenBlasInfo.CoreName}, {OpenBlasInfo.Threads} threads)"
        : $"CPU (managed SIMD GEMM, {ManagedGemm.InstructionSet}, {Environment.ProcessorCount} threads)";

    public MemoryStats Memory => new(Interlocked.Read(ref _currentBytes), Interlocked.Read(ref _peakBytes));

    public IZoneKernels Zones { get; }

    public INnKernels Nn { get; } = new CpuNnKernels();

    public IOptimizerKernels Optimizer { get; } = new CpuOptimizerKernels();

    public IFlowMatchingKernels FlowMatching { get; } = new CpuFlowMatchingKernels();

    private static CpuGemmProvider RequireOpenBlas()
    {
        NativeLibraries.Require(NativeLibraries.OpenBlas);
        return CpuGemmProvider.OpenBlas;
    }

    private static CpuGemmProvider FallBackToManaged()
    {
        if (Interlocked.Exchange(ref _fallbackNoticeWritten, 1) == 0)
        {
            Console.Error.WriteLine(
                $"lzn: OpenBLAS not found ({string.Join(", ", NativeLibraries.FileNames(NativeLibraries.OpenBlas))}); "
                + $"CPU GEMM falls back to the managed SIMD GEMM ({ManagedGemm.InstructionSet}).");
        }
        return CpuGemmProvider.Managed;
    }

    public void ResetPeakMemory() => Interlocked.Exchange(ref _peakBytes, Interlocked.Read(ref _currentBytes));

    public FloatBuffer AllocateFloat(long length)
    {
        var array = _floatArrays.Rent(checked((int)length));
        OnAllocate(length * sizeof(float));
        return new CpuFloatBuffer(this, array, 0, length, owns: true);
    }

    public IntBuffer AllocateInt(long length)
    {
        var array = _intArrays.Rent(checked((int)length));
        OnAllocate(length * sizeof(int));
        return new CpuIntBuffer(this, array, 0, length, owns: true);
    }

    // A disposed owner's array is reused by a later allocation of its length (CpuArrayCache); views of it must
    // not outlive it, as on the CUDA backend, whose allocator reuses device blocks the same way.
    internal void OnRelease(float[] array)
    {
        Interlocked.Add(ref _currentBytes, -(long)array.Length * sizeof(float));
        _floatArrays.Return(array);
    }

    internal void OnRelease(int[] array)
    {
        Interlocked.Add(ref _currentBytes, -(long)array.Length * sizeof(int));
        _intArrays.Return(array);
    }

    private void OnAllocate(long bytes)
    {
        long now = Interlocked.Add(ref _currentBytes, bytes);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peakBytes)) && Interlocked.CompareExchange(ref _peakBytes, now, peak) != peak)
        {
        }
    }

    internal static CpuFloatBuffer Cast(FloatBuffer buffer)
    {
        var cpu = buffer as CpuFloatBuffer
            ?? throw new ArgumentException($"Buffer belongs to the {buffer.Backend.Kind} backend, not the CPU backend.", nameof(buffer));
        ObjectDisposedException.ThrowIf(cpu.IsDisposed, cpu);
        return cpu;
    }

    internal static CpuIntBuffer Cast(IntBuffer buffer)
    {
        var cpu = buffer as CpuIntBuffer
            ?? throw new ArgumentException($"Buffer belongs to the {buffer.Backend.Kind} backend, not the CPU backend.", nameof(buffer));
        ObjectDisposedException.ThrowIf(cpu.IsDisposed, cpu);
        return cpu;
    }

    public void Upload(ReadOnlySpan<float> source, FloatBuffer destination)
    {
        ArgumentChecks.Transfer(destination.Length, source.Length, nameof(source));
        source.CopyTo(Cast(destination).Span);
    }

    public void Upload(ReadOnlySpan<int> source, IntBuffer destination)
    {
        ArgumentChecks.Transfer(destination.Length, source.Length, nameof(source));
        source.CopyTo(Cast(destination).Span);
    }

    public void Download(FloatBuffer source, Span<float> destination)
    {
        ArgumentChecks.Transfer(source.Length, destination.Length, nameof(destination));
        Cast(source).Span.CopyTo(destination);
    }

    public void Download(IntBuffer source, Span<int> destination)
    {
        ArgumentChecks.Transfer(source.Length, destination.Length, nameof(destination));
        Cast(source).Span.CopyTo(destination);
    }

    public void Copy(FloatBuffer source, FloatBuffer destination)
    {
        ArgumentChecks.Transfer(source.Length, destination.Length, nameof(destination));
        Cast(source).Span.CopyTo(Cast(destination).Span);
    }

    public void Fill(FloatBuffer destination, float value) => Cast(destination).Span.Fill(value);

    public void Fill(IntBuffer destination, int value) => Cast(destination).Span.Fill(value);

    /// <summary>Every op completes before it returns, so there is nothing to wait for.</summary>
    public void Synchronize()
    {
    }

    public void Dispose()
    {
    }
}
