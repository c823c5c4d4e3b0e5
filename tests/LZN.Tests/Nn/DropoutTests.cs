using LZN.Native.Backends;
using LZN.Native.Nn;
using LZN.Tests.Backends;

namespace LZN.Tests.Nn;

/// <summary>Dropout against its definition: the Philox mask of (seed, name, step), identity in evaluation.</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class DropoutTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private const int BatchSize = 16, Size = 300;
    private const float Rate = 0.25f;

    [Test]
    public void InTrainingEachElementIsDroppedOrScaledByTheStepsPhiloxDraw()
    {
        var values = RandomValues(BatchSize * Size, seed: 1);
        using var input = Backend.FromHost(values); // [batchSize, size]
        using var layer = new Dropout(Backend, "encoder.drop", Size, Rate, seed: 7) { Step = 41 };
        var output = layer.Forward(input, BatchSize).ToArray();

        ulong key = Initialization.StreamKey(7, "stream.encoder.drop");
        var expected = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
            expected[i] = Philox.Uniform(key, (41UL << 32) + (ulong)i) < 1f - Rate ? values[i] * (1f / (1f - Rate)) : 0f;
        Assert.That(output, Is.EqualTo(expected));
        double dropped = output.Count(value => value == 0f) / (double)output.Length;
        Assert.That(dropped, Is.EqualTo(Rate).Within(0.02), "the fraction dropped is the rate");

        var gradient = RandomValues(BatchSize * Size, seed: 2);
        using var gradOutput = Backend.FromHost(gradient);
        var gradInput = layer.Backward(gradOutput).ToArray();
        for (int i = 0; i < values.Length; i++)
            Assert.That(gradInput[i], Is.EqualTo(expected[i] == 0f ? 0f : gradient[i] * (1f / (1f - Rate))), $"element {i}");
    }

    [Test]
    public void TheMaskDependsOnlyOnTheStep()
    {
        using var input = Backend.FromHost(RandomValues(BatchSize * Size, seed: 3));
        using var layer = new Dropout(Backend, "drop", Size, Rate, seed: 1) { Step = 5 };
        var first = layer.Forward(input, BatchSize).ToArray();
        layer.Step = 6;
        var next = layer.Forward(input, BatchSize).ToArray();
        layer.Step = 5;
        var again = layer.Forward(input, BatchSize).ToArray();
        Assert.That(again, Is.EqualTo(first), "the same step draws the same mask");
        Assert.That(next, Is.Not.EqualTo(first), "another step draws another mask");

        using var renamed = new Dropout(Backend, "drop2", Size, Rate, seed: 1) { Step = 5 };
        Assert.That(renamed.Forward(input, BatchSize).ToArray(), Is.Not.EqualTo(first), "each layer has its own stream");
    }

    [Test]
    public void WithoutAStepTheLayerIsTheIdentityBothWays()
    {
        var values = RandomValues(BatchSize * Size, seed: 4);
        using var input = Backend.FromHost(values);
        using var layer = new Dropout(Backend, "drop", Size, Rate, seed: 1);
        Assert.That(layer.Forward(input, BatchSize).ToArray(), Is.EqualTo(values));
        Assert.That(layer.Backward(input).ToArray(), Is.EqualTo(values));
    }

    [TestCase(-0.1f)]
    [TestCase(1f)]
    [TestCase(float.NaN)]
    public void ARateOutsideZeroToOneIsRefused(float rate) =>
        Assert.That(() => new Dropout(Backend, "drop", Size, rate, seed: 1),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("dropout drop: the rate must be in [0, 1)"));
}
