using System.Numerics;
using LZN.Native.Interop.Cuda;

namespace LZN.Native.Backends.Cuda;

/// <summary>
/// A caching device allocator: requests round up to a size class (four classes per power of two, so
/// at most 25% slack), freed blocks go to that class's free list, and a later request of the class
/// reuses one without calling the driver. On CUDA_ERROR_OUT_OF_MEMORY the free lists are returned
/// to the driver and the allocation is retried once. Every block ever allocated is freed on Dispose.
/// Blocks are reused in stream order: the backend has one stream, so work queued on a block before
/// it was returned completes before work queued by its next owner.
/// </summary>
internal sealed class CudaAllocator(PrimaryContext context, Action synchronize) : IDisposable
{
    private const long MinimumClassBytes = 512;

    private readonly object _lock = new();
    private readonly Dictionary<long, Stack<DeviceMemory>> _free = [];
    private readonly HashSet<DeviceMemory> _all = [];
    private long _currentBytes;
    private long _peakBytes;
    private long _cachedBytes;
    private long _driverAllocations;
    private bool _disposed;

    /// <summary>Bytes requested by live buffers, and the most since the last reset.</summary>
    public MemoryStats Stats
    {
        get
        {
            lock (_lock)
                return new MemoryStats(_currentBytes, _peakBytes);
        }
    }

    /// <summary>Bytes held in free lists, ready for reuse.</summary>
    public long CachedBytes
    {
        get
        {
            lock (_lock)
                return _cachedBytes;
        }
    }

    /// <summary>Calls to cuMemAlloc so far (constant once the cache is warm).</summary>
    public long DriverAllocations => Interlocked.Read(ref _driverAllocations);

    /// <summary>The class a request rounds up to: 512 bytes, then 2^k * {1, 1.25, 1.5, 1.75}.</summary>
    public static long SizeClass(long bytes)
    {
        if (bytes <= MinimumClassBytes)
            return MinimumClassBytes;
        int log2 = 63 - BitOperations.LeadingZeroCount((ulong)(bytes - 1));
        long step = 1L << (log2 - 2);
        return (bytes + step - 1) / step * step;
    }

    public void ResetPeak()
    {
        lock (_lock)
            _peakBytes = _currentBytes;
    }

    /// <summary>A block of at least <paramref name="bytes"/> bytes (&gt; 0), from the cache when possible.</summary>
    public DeviceMemory Rent(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        long classBytes = SizeClass(bytes);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_free.TryGetValue(classBytes, out var stack) || !stack.TryPop(out var block))
            {
                block = DeviceMemory.TryAllocate(context, classBytes);
                if (block is null)
                {
                    ReleaseCachedLocked();
                    block = DeviceMemory.TryAllocate(context, classBytes) ?? throw OutOfMemory(classBytes);
                }
                Interlocked.Increment(ref _driverAllocations);
                _all.Add(block);
            }
            else
            {
                _cachedBytes -= classBytes;
            }
            _currentBytes += bytes;
            _peakBytes = Math.Max(_peakBytes, _currentBytes);
            return block;
        }
    }

    private CudaException OutOfMemory(long classBytes)
    {
        var (free, total) = DeviceMemoryInfo.Query();
        return new CudaException(CUresult.CUDA_ERROR_OUT_OF_MEMORY,
            $"cuMemAlloc_v2({classBytes} bytes) after releasing the allocator's cache: {_currentBytes} bytes in live buffers, "
            + $"the device has {free} of {total} bytes free");
    }

    /// <summary>Returns a block to its class's free list; no driver call, so any thread may return.</summary>
    public void Return(DeviceMemory block, long bytes)
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _currentBytes -= bytes;
            if (!_free.TryGetValue(block.Bytes, out var stack))
                _free[block.Bytes] = stack = new Stack<DeviceMemory>();
            stack.Push(block);
            _cachedBytes += block.Bytes;
        }
    }

    /// <summary>Gives every cached block back to the driver (the backend's context must be current).</summary>
    public void ReleaseCached()
    {
        lock (_lock)
            ReleaseCachedLocked();
    }

    private void ReleaseCachedLocked()
    {
        // A cached block may still be read by queued work of its previous owner.
        synchronize();
        foreach (var stack in _free.Values)
        {
            foreach (var block in stack)
            {
                _all.Remove(block);
                block.Dispose();
            }
            stack.Clear();
        }
        _cachedBytes = 0;
    }

    /// <summary>Frees every block, live or cached (the caller has synchronised the stream).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
            foreach (var block in _all)
                block.Dispose();
            _all.Clear();
            _free.Clear();
            _cachedBytes = 0;
            _currentBytes = 0;
        }
    }
}
