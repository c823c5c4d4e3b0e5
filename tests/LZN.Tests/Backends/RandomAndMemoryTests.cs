using LZN.Native.Backends;

namespace LZN.Tests.Backends;

[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class RandomAndMemoryTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    [TestCase(1, 0UL)]
    [TestCase(1001, 7UL)]
    [TestCase((1 << 17) + 3, (1UL << 32) - 5)]
    public void FillNormalEqualsPhiloxElementForElement(int length, ulong offset)
    {
        var (owner, view) = UploadAsSlice(new float[length]);
        using (owner)
        {
            Backend.FillNormal(view, seed: 1234, offset, mean: 0.5f, std: 2f);
            var actual = view.ToArray();
            var expected = new float[length];
            for (int i = 0; i < length; i++)
                expected[i] = 0.5f + 2f * Philox.Normal(1234, offset + (ulong)i);
            Assert.That(actual, Is.EqualTo(expected));
            AssertMarginsUntouched(owner);
        }
    }

    [TestCase(1, 0UL)]
    [TestCase((1 << 17) + 3, 99UL)]
    public void FillUniformEqualsPhiloxElementForElement(int length, ulong offset)
    {
        using var buffer = Backend.AllocateFloat(length);
        Backend.FillUniform(buffer, seed: 77, offset, low: -1f, high: 3f);
        var actual = buffer.ToArray();
        var expected = new float[length];
        for (int i = 0; i < length; i++)
            expected[i] = -1f + 4f * Philox.Uniform(77, offset + (ulong)i);
        Assert.That(actual, Is.EqualTo(expected));
        Assert.That(actual, Is.All.InRange(-1f, 3f));
    }

    [TestCase(1, 0UL, 0.5f)]
    [TestCase((1 << 17) + 3, (1UL << 32) - 5, 0.8f)]
    public void FillBernoulliKeepsExactlyTheUniformDrawsBelowTheProbability(int length, ulong offset, float probability)
    {
        using var buffer = Backend.AllocateFloat(length);
        Backend.Fill(buffer, float.NaN);
        Backend.FillBernoulli(buffer, seed: 91, offset, probability, value: 1f / probability);
        var actual = buffer.ToArray();
        var expected = new float[length];
        for (int i = 0; i < length; i++)
            expected[i] = Philox.Uniform(91, offset + (ulong)i) < probability ? 1f / probability : 0f;
        Assert.That(actual, Is.EqualTo(expected));
        if (length > 1000)
            Assert.That(actual.Average(), Is.EqualTo(1.0).Within(0.01), "an inverted-dropout mask has mean 1");
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
