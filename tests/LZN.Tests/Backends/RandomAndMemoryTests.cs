using LZN.Native.Backends;

namespace LZN.Tests.Backends;

/// <summary>
/// The normal and uniform fills equal Philox.cs bit for bit (normals on a GPU up to its own logf/cosf rounding), so
/// every backend draws the same numbers (the random verification table holds them against float64, and the Bernoulli
/// fill, a selection, exactly), and the memory statistics.
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
        if (Backend.Kind != BackendKind.Cuda)
        {
            Assert.That(buffer.ToArray(), Is.EqualTo(expected));
            return;
        }
        // A GPU's logf, sqrtf and cosf round differently from the host's (a few ulps, the kernel's contract);
        // everything else is the same draw: the radius is at most 5.8 and std 2, so a few ulps of 1 become about 2e-6.
        var actual = buffer.ToArray();
        for (int i = 0; i < Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(2e-6 + 1e-6 * Math.Abs(expected[i])), $"element {i}");
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
