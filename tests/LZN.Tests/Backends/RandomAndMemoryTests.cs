using LZN.Native.Backends;

namespace LZN.Tests.Backends;

/// <summary>
/// The normal and uniform fills equal Philox.cs bit for bit, so every backend draws the same numbers (the random
/// verification table holds them against float64, and the Bernoulli fill, a selection, exactly), and the memory statistics.
/// </summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class RandomAndMemoryTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private const int Length = (1 << 17) + 3;

    /// <summary>Counters that cross 2^32, the carry into Philox's second counter word.</summary>
    private const ulong Offset = (1UL << 32) - 5;

    [Test]
    public void FillNormalEqualsPhiloxElementForElement()
    {
        using var buffer = Backend.AllocateFloat(Length);
        Backend.FillNormal(buffer, seed: 1234, Offset, mean: 0.5f, std: 2f);
        var expected = new float[Length];
        for (int i = 0; i < Length; i++)
            expected[i] = 0.5f + 2f * Philox.Normal(1234, Offset + (ulong)i);
        Assert.That(buffer.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void FillUniformEqualsPhiloxElementForElement()
    {
        using var buffer = Backend.AllocateFloat(Length);
        Backend.FillUniform(buffer, seed: 77, Offset, low: -1f, high: 3f);
        var expected = new float[Length];
        for (int i = 0; i < Length; i++)
            expected[i] = -1f + 4f * Philox.Uniform(77, Offset + (ulong)i);
        Assert.That(buffer.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void MemoryStatsTrackCurrentAndPeakBytes()
    {
        Backend.ResetPeakMemory();
        long baseline = Backend.Memory.CurrentBytes;
        var first = Backend.AllocateFloat(1000);
        var second = Backend.AllocateInt(500);
        Assert.That(Backend.Memory, Is.EqualTo(new MemoryStats(baseline + 6000, baseline + 6000)));

        using (first.Slice(10, 100))
            Assert.That(Backend.Memory.CurrentBytes, Is.EqualTo(baseline + 6000), "a view allocates nothing");
        first.Dispose();
        first.Dispose();
        Assert.That(Backend.Memory, Is.EqualTo(new MemoryStats(baseline + 2000, baseline + 6000)), "double dispose frees once");

        Backend.ResetPeakMemory();
        Assert.That(Backend.Memory, Is.EqualTo(new MemoryStats(baseline + 2000, baseline + 2000)));
        second.Dispose();
        Assert.That(Backend.Memory, Is.EqualTo(new MemoryStats(baseline, baseline + 2000)));
    }
}
