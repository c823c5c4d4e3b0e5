using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;

namespace LZN.Tests.Backends.Cpu;

public class CpuArrayCacheTests
{
    private const int Large = 1 << 16; // 256 KiB of floats: past the cache's minimum

    [Test]
    public void ADisposedLargeBufferIsReusedZeroed()
    {
        using var backend = new CpuBackend(CpuGemmProvider.Managed);
        float[] first;
        using (var buffer = backend.AllocateFloat(Large))
        {
            backend.Fill(buffer, 3f);
            first = CpuBackend.Cast(buffer).Array;
        }
        using var again = backend.AllocateFloat(Large);
        Assert.That(CpuBackend.Cast(again).Array, Is.SameAs(first), "the array of the same length comes back");
        Assert.That(again.ToArray(), Is.All.Zero, "an allocation is zeroed, reused or not");
        using var other = backend.AllocateFloat(Large + 1);
        Assert.That(CpuBackend.Cast(other).Array, Is.Not.SameAs(first), "only an exact length is reused");
    }

    [Test]
    public void SmallArraysAreLeftToTheGarbageCollector()
    {
        var cache = new CpuArrayCache<float>();
        var small = cache.Rent(16);
        cache.Return(small);
        Assert.That(cache.Rent(16), Is.Not.SameAs(small));
    }

    [Test]
    public void PastItsCapacityTheCacheDropsTheListsOfOtherLengths()
    {
        var cache = new CpuArrayCache<float>(capacityBytes: 5 << 19); // 2.5 MiB: room for two 1 MiB arrays, not three
        int length = (1 << 20) / sizeof(float);
        var a = cache.Rent(length);
        var b = cache.Rent(length);
        var c = cache.Rent(length - 1);
        cache.Return(a);
        cache.Return(b);
        cache.Return(c);
        Assert.That(cache.Rent(length - 1), Is.SameAs(c), "the lists of other lengths made room for it");
        Assert.That(cache.Rent(length), Is.Not.SameAs(a).And.Not.SameAs(b), "those lists were dropped");
    }

    [Test]
    public void MemoryStatisticsCountLiveBuffersOnly()
    {
        using var backend = new CpuBackend(CpuGemmProvider.Managed);
        long before = backend.Memory.CurrentBytes;
        using (backend.AllocateFloat(Large))
            Assert.That(backend.Memory.CurrentBytes - before, Is.EqualTo((long)Large * sizeof(float)));
        Assert.That(backend.Memory.CurrentBytes, Is.EqualTo(before), "a cached array is not live memory");
    }
}
