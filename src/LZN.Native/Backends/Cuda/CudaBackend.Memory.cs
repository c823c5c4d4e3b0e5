using LZN.Native.Interop.Cuda;

namespace LZN.Native.Backends.Cuda;

// Buffers, host transfers, device copies and fills.
public sealed partial class CudaBackend
{
    public void ResetPeakMemory() => _allocator.ResetPeak();

    public FloatBuffer AllocateFloat(long length)
    {
        var (address, block) = RentZeroed(length, sizeof(float));
        return new CudaFloatBuffer(this, address, length, block);
    }

    public IntBuffer AllocateInt(long length)
    {
        var (address, block) = RentZeroed(length, sizeof(int));
        return new CudaIntBuffer(this, address, length, block);
    }

    /// <summary>
    /// A buffer the caller's kernels overwrite entirely before reading it (tile partials, per-row scratch): no zeroing
    /// pass. With LZN_CUDA_POISON_SCRATCH=1 (the test run sets it) it starts as NaN instead, so a kernel that reads an
    /// element it never wrote cannot pass by finding a zero or a stale value of the same computation.
    /// </summary>
    internal FloatBuffer AllocateScratch(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0)
            return new CudaFloatBuffer(this, 0, 0, null);
        Bind();
        var block = _allocator.Rent(length * sizeof(float));
        if (_poisonScratch)
            CudaDriver.ThrowIfFailed(CudaDriver.cuMemsetD32Async(block.Address, ScratchPoison, (nuint)length, _stream.Handle));
        return new CudaFloatBuffer(this, block.Address, length, block);
    }

    // Zeroing is queued on the stream, so it precedes every later use of the buffer.
    private (ulong Address, DeviceMemory? Block) RentZeroed(long length, int elementBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0)
            return (0, null);
        Bind();
        var block = _allocator.Rent(length * elementBytes);
        CudaDriver.ThrowIfFailed(CudaDriver.cuMemsetD32Async(block.Address, 0, (nuint)length, _stream.Handle));
        return (block.Address, block);
    }

    public unsafe void Upload(ReadOnlySpan<float> source, FloatBuffer destination)
    {
        ArgumentChecks.Transfer(destination.Length, source.Length, nameof(source));
        fixed (float* host = source)
            CopyToDevice(Cast(destination).Address, host, source.Length * sizeof(float));
    }

    public unsafe void Upload(ReadOnlySpan<int> source, IntBuffer destination)
    {
        ArgumentChecks.Transfer(destination.Length, source.Length, nameof(source));
        fixed (int* host = source)
            CopyToDevice(Cast(destination).Address, host, source.Length * sizeof(int));
    }

    public unsafe void Download(FloatBuffer source, Span<float> destination)
    {
        ArgumentChecks.Transfer(source.Length, destination.Length, nameof(destination));
        fixed (float* host = destination)
            CopyToHost(host, Cast(source).Address, destination.Length * sizeof(float));
    }

    public unsafe void Download(IntBuffer source, Span<int> destination)
    {
        ArgumentChecks.Transfer(source.Length, destination.Length, nameof(destination));
        fixed (int* host = destination)
            CopyToHost(host, Cast(source).Address, destination.Length * sizeof(int));
    }

    // The stream is synchronised before the span is unpinned: the host memory is pageable and the
    // copy must be complete (and its errors seen) before the caller may touch it again.
    private unsafe void CopyToDevice(ulong destination, void* source, long bytes)
    {
        if (bytes == 0)
            return;
        Bind();
        CudaDriver.ThrowIfFailed(CudaDriver.cuMemcpyHtoDAsync_v2(destination, source, (nuint)bytes, _stream.Handle));
        _stream.Synchronize();
    }

    private unsafe void CopyToHost(void* destination, ulong source, long bytes)
    {
        if (bytes == 0)
            return;
        Bind();
        CudaDriver.ThrowIfFailed(CudaDriver.cuMemcpyDtoHAsync_v2(destination, source, (nuint)bytes, _stream.Handle));
        _stream.Synchronize();
    }

    public void Copy(FloatBuffer source, FloatBuffer destination)
    {
        ArgumentChecks.Transfer(source.Length, destination.Length, nameof(destination));
        if (source.Length == 0)
            return;
        Bind();
        CudaDriver.ThrowIfFailed(CudaDriver.cuMemcpyDtoDAsync_v2(Cast(destination).Address, Cast(source).Address,
            (nuint)source.SizeInBytes, _stream.Handle));
    }

    public unsafe void Fill(FloatBuffer destination, float value)
    {
        ulong output = Cast(destination).Address;
        long count = destination.Length;
        void** arguments = stackalloc void*[] { &output, &count, &value };
        LaunchElementwise("elementwise.cu", "fill_float", count, arguments);
    }

    public unsafe void Fill(IntBuffer destination, int value)
    {
        ulong output = Cast(destination).Address;
        long count = destination.Length;
        void** arguments = stackalloc void*[] { &output, &count, &value };
        LaunchElementwise("elementwise.cu", "fill_int", count, arguments);
    }

    public void Synchronize()
    {
        Bind();
        _stream.Synchronize();
    }

    private CudaFloatBuffer Cast(FloatBuffer buffer)
    {
        if (buffer is not CudaFloatBuffer cuda || !ReferenceEquals(cuda.Backend, this))
            throw new ArgumentException($"Buffer belongs to {buffer.Backend.Description}, not to {Description}.", nameof(buffer));
        ObjectDisposedException.ThrowIf(cuda.IsDisposed, cuda);
        return cuda;
    }

    private CudaIntBuffer Cast(IntBuffer buffer)
    {
        if (buffer is not CudaIntBuffer cuda || !ReferenceEquals(cuda.Backend, this))
            throw new ArgumentException($"Buffer belongs to {buffer.Backend.Description}, not to {Description}.", nameof(buffer));
        ObjectDisposedException.ThrowIf(cuda.IsDisposed, cuda);
        return cuda;
    }
}
