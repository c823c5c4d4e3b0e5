namespace LZN.Native.Backends.Cpu;

/// <summary>
/// Reuses the arrays of disposed CPU buffers. Arrays of at least <see cref="MinimumBytes"/> live on the large-object
/// heap: a fresh one is zeroed page by page on first touch and collected only by a full GC, so per-step scratch of
/// that size (a zone step's logits tile, a layer's activations) spends more time in page faults and collections than
/// in arithmetic. A disposed array goes to a free list of its exact length (training and flows repeat their shapes)
/// and is cleared when it is handed out again, so an allocation is still all zeros. At most the capacity (512 MiB by
/// default) waits on the lists; past that, the lists of other lengths go back to the GC (the shapes
/// in use changed, as between training and evaluation).
/// </summary>
/// <param name="capacityBytes">Bytes the free lists may hold.</param>
internal sealed class CpuArrayCache<T>(long capacityBytes = 512L << 20)
    where T : unmanaged
{
    public const long MinimumBytes = 64 * 1024;

    private readonly object _lock = new();
    private readonly Dictionary<int, Stack<T[]>> _free = [];
    private long _cachedBytes;

    private static long Bytes(long length) => length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();

    /// <summary>A zeroed array of exactly <paramref name="length"/> elements, reused when one is free.</summary>
    public T[] Rent(int length)
    {
        if (Bytes(length) >= MinimumBytes)
        {
            lock (_lock)
            {
                if (_free.TryGetValue(length, out var stack) && stack.TryPop(out var array))
                {
                    _cachedBytes -= Bytes(length);
                    Array.Clear(array);
                    return array;
                }
            }
        }
        return new T[length];
    }

    /// <summary>Takes back the array of a disposed buffer (small ones are left to the GC).</summary>
    public void Return(T[] array)
    {
        if (Bytes(array.Length) < MinimumBytes)
            return;
        lock (_lock)
        {
            if (_cachedBytes + Bytes(array.Length) > capacityBytes)
            {
                foreach (var (length, stack) in _free.Where(entry => entry.Key != array.Length).ToList())
                {
                    _cachedBytes -= stack.Count * Bytes(length);
                    _free.Remove(length);
                }
                if (_cachedBytes + Bytes(array.Length) > capacityBytes)
                    return;
            }
            if (!_free.TryGetValue(array.Length, out var free))
                _free[array.Length] = free = new Stack<T[]>();
            free.Push(array);
            _cachedBytes += Bytes(array.Length);
        }
    }
}
