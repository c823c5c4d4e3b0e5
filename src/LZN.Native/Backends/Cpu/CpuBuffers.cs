namespace LZN.Native.Backends.Cpu;

/// <summary>float32 storage on the CPU: a managed array and an element offset (views share the array).</summary>
public sealed class CpuFloatBuffer : FloatBuffer
{
    private readonly CpuBackend? _owner;

    internal CpuFloatBuffer(CpuBackend backend, float[] array, int offset, long length, bool owns)
        : base(backend, length)
    {
        Array = array;
        Offset = offset;
        _owner = owns ? backend : null;
    }

    /// <summary>The backing array; elements [Offset, Offset + Length) belong to this buffer.</summary>
    public float[] Array { get; }

    public int Offset { get; }

    public Span<float> Span => Array.AsSpan(Offset, (int)Length);

    public override FloatBuffer Slice(long offset, long length)
    {
        CheckSlice(offset, length);
        return new CpuFloatBuffer((CpuBackend)Backend, Array, Offset + (int)offset, length, owns: false);
    }

    protected override void Release() => _owner?.OnRelease(Array);
}

/// <summary>int32 storage on the CPU: a managed array and an element offset (views share the array).</summary>
public sealed class CpuIntBuffer : IntBuffer
{
    private readonly CpuBackend? _owner;

    internal CpuIntBuffer(CpuBackend backend, int[] array, int offset, long length, bool owns)
        : base(backend, length)
    {
        Array = array;
        Offset = offset;
        _owner = owns ? backend : null;
    }

    public int[] Array { get; }

    public int Offset { get; }

    public Span<int> Span => Array.AsSpan(Offset, (int)Length);

    public override IntBuffer Slice(long offset, long length)
    {
        CheckSlice(offset, length);
        return new CpuIntBuffer((CpuBackend)Backend, Array, Offset + (int)offset, length, owns: false);
    }

    protected override void Release() => _owner?.OnRelease(Array);
}
