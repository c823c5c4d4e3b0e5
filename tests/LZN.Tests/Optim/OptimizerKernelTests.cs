using LZN.Native.Backends;
using LZN.Tests.Backends;

namespace LZN.Tests.Optim;

/// <summary>IOptimizerKernels against float64 references, on every backend.</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public class OptimizerKernelTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    /// <summary>Lengths: below one vector, a SIMD tail, and above the CPU's parallel threshold.</summary>
    [TestCase(5, false, 0.0, 1f)]
    [TestCase(37, true, 0.1, 1f)]
    [TestCase(37, false, 0.05, 0.25f)]
    [TestCase(100_003, true, 0.01, 0.5f)]
    public void AdamStepsMatchFloat64(int length, bool decoupled, double weightDecay, float gradScale)
    {
        const double Lr = 1e-2, Beta1 = 0.9, Beta2 = 0.99, Eps = 1e-8;
        var initial = RandomValues(length, seed: length);
        var reference = new AdamReference(Array.ConvertAll(initial, v => (double)v));
        var (valuesOwner, values) = UploadAsSlice(initial);
        using var _ = valuesOwner;
        using var grad = Backend.AllocateFloat(length); // [length]
        using var first = Backend.AllocateFloat(length); // [length]
        using var second = Backend.AllocateFloat(length); // [length]
        for (int step = 1; step <= 4; step++)
        {
            // Gradients spanning five decades, so sqrt(v) and eps both matter somewhere.
            var g = RandomValues(length, seed: 100 + step, scale: 2);
            for (int i = 0; i < length; i += 7)
                g[i] *= 1e-4f;
            Backend.Upload(g, grad);
            Backend.Optimizer.AdamStep(new AdamStepArgs
            {
                Parameters = values, Gradients = grad, FirstMoments = first, SecondMoments = second,
                LearningRate = Lr, Beta1 = Beta1, Beta2 = Beta2, Epsilon = Eps, WeightDecay = weightDecay,
                DecoupledWeightDecay = decoupled, Step = step, GradientScale = gradScale,
            });
            reference.Step(Array.ConvertAll(g, v => (double)v), Lr, Beta1, Beta2, Eps, weightDecay, decoupled, gradScale);
        }
        AssertClose(values.ToArray(), reference.Values, 1e-5, 1e-6, "parameters");
        AssertClose(first.ToArray(), reference.First, 1e-5, 1e-7, "first moments");
        AssertClose(second.ToArray(), reference.Second, 1e-5, 1e-9, "second moments");
        AssertMarginsUntouched(valuesOwner);
    }

    [Test]
    public void AdamRejectsStepZeroAndMismatchedLengths()
    {
        using var a = Backend.AllocateFloat(4);
        using var b = Backend.AllocateFloat(5);
        AdamStepArgs Args(FloatBuffer second, long step) => new()
        {
            Parameters = a, Gradients = a, FirstMoments = a, SecondMoments = second,
            LearningRate = 1e-3, Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8, Step = step,
        };
        Assert.Throws<ArgumentOutOfRangeException>(() => Backend.Optimizer.AdamStep(Args(a, 0)));
        Assert.Throws<ArgumentException>(() => Backend.Optimizer.AdamStep(Args(b, 1)));
    }

    [TestCase(37, 0.9)]
    [TestCase(100_003, 0.999)]
    public void EmaMatchesFloat64(int length, double decay)
    {
        var shadowValues = RandomValues(length, seed: 1);
        var expected = Array.ConvertAll(shadowValues, v => (double)v);
        var (owner, shadow) = UploadAsSlice(shadowValues);
        using var _ = owner;
        using var value = Backend.AllocateFloat(length); // [length]
        for (int update = 0; update < 3; update++)
        {
            var v = RandomValues(length, seed: 10 + update);
            Backend.Upload(v, value);
            Backend.Optimizer.EmaUpdate(shadow, value, decay);
            for (int i = 0; i < length; i++)
                expected[i] = decay * expected[i] + (1 - decay) * v[i];
        }
        AssertClose(shadow.ToArray(), expected, 1e-6, 1e-7, "shadow");
        AssertMarginsUntouched(owner);
    }

    [Test]
    public void EmaWithDecayNearOneUsesTheExactWeight()
    {
        // (float)0.999999 = 1 - 1.013e-6: a kernel that forms 1 - decay in float would move 1.3% too far.
        const double Decay = 0.999999;
        using var shadow = Backend.FromHost(new float[] { 0f, 1f });
        using var value = Backend.FromHost(new float[] { 1f, 1f });
        Backend.Optimizer.EmaUpdate(shadow, value, Decay);
        var result = shadow.ToArray();
        Assert.That(result[0], Is.EqualTo(1e-6).Within(1e-12));
        Assert.That(result[1], Is.EqualTo(1f));
    }
}
