namespace LZN.Native.Backends;

/// <summary>
/// A typed run of elements living on a backend. An owning buffer frees its storage on
/// dispose; a slice (<see cref="FloatBuffer.Slice(long, long)"/>) is a view that shares the owner's storage and frees nothing.
/// </summary>
public abstract class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    protected DeviceBuffer(IBackend backend, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Backend = backend;
        Length = length;
    }

    public IBackend Backend { get; }

    /// <summary>Elements in this buffer or view.</summary>
    public long Length { get; }

    public long SizeInBytes => Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();

    public bool IsDisposed { get; private set; }

    public void Dispose()
    {
        if (IsDisposed)
            return;
        IsDisposed = true;
        Release();
        GC.SuppressFinalize(this);
    }

    /// <summary>Returns owned storage to the backend; views do nothing.</summary>
    protected abstract void Release();

    protected void CheckSlice(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (offset < 0 || length < 0 || offset + length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Slice [{offset}, {offset + length}) is outside a buffer of {Length} elements.");
    }
}

/// <summary>float32 elements on a backend.</summary>
public abstract class FloatBuffer(IBackend backend, long length) : DeviceBuffer<float>(backend, length)
{
    /// <summary>A non-owning view of elements [offset, offset + length).</summary>
    public abstract FloatBuffer Slice(long offset, long length);
}

/// <summary>int32 elements on a backend.</summary>
public abstract class IntBuffer(IBackend backend, long length) : DeviceBuffer<int>(backend, length)
{
    /// <summary>A non-owning view of elements [offset, offset + length).</summary>
    public abstract IntBuffer Slice(long offset, long length);
}
