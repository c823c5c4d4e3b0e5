using LZN.Native.Backends;
using LZN.Native.Diagnostics;
using LZN.Native.Optim;
using LZN.Tests.Backends;

namespace LZN.Tests.Optim;

/// <summary>AdamW with groups, freezing, clipping and warm-up against a float64 re-implementation.</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public class AdamWTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private static readonly ParameterGroupOptions Encoder = new() { LearningRate = 5e-2, WeightDecay = 0.1, Beta2 = 0.99 };

    /// <summary>Adam (coupled decay), frozen after 3 iterations.</summary>
    private static readonly ParameterGroupOptions Decoder = new()
    {
        LearningRate = 2e-1, Beta1 = 0.8, WeightDecay = 0.05, DecoupledWeightDecay = false, FrozenAfter = 3,
    };

    [Test]
    public void GroupsFreezingAndDecayMatchFloat64OverSixSteps()
    {
        using var model = new OptimTestModel(Backend);
        using var optimizer = new AdamW(Backend, model.Groups(Encoder, Decoder));
        var references = Enumerable.Range(0, 3).Select(p => new AdamReference(ToDouble(OptimTestModel.InitialValues(p)))).ToArray();
        for (int k = 0; k < 6; k++)
        {
            model.LoadGradients(k);
            optimizer.Step();
            for (int p = 0; p < 3; p++)
            {
                var options = p < 2 ? Encoder : Decoder;
                if (options.FrozenAfter is long limit && k >= limit)
                    continue;
                references[p].Step(ToDouble(OptimTestModel.Gradient(p, k)), options.LearningRate, options.Beta1, options.Beta2,
                    options.Epsilon, options.WeightDecay, options.DecoupledWeightDecay);
            }
        }
        Assert.That(optimizer.Iteration, Is.EqualTo(6));
        Assert.That(optimizer.GroupStep(0), Is.EqualTo(6));
        Assert.That(optimizer.GroupStep(1), Is.EqualTo(3), "the decoder froze after 3 iterations");
        Assert.That(optimizer.IsFrozen(optimizer.Groups[1]), Is.True);
        Assert.That(optimizer.ActiveParameters().Select(p => p.Name), Is.EqualTo(new[] { "a", "b" }));
        var values = model.Values();
        for (int p = 0; p < 3; p++)
        {
            AssertClose(values[p], references[p].Values, 1e-5, 1e-6, $"parameter {OptimTestModel.Names[p]}");
            var (first, second) = optimizer.Moments(OptimTestModel.Names[p]);
            AssertClose(first.ToArray(), references[p].First, 1e-5, 1e-7, $"m of {OptimTestModel.Names[p]}");
            AssertClose(second.ToArray(), references[p].Second, 1e-5, 1e-9, $"v of {OptimTestModel.Names[p]}");
        }
    }

    [Test]
    public void LearningRateFactorAndGradientScaleReachTheUpdate()
    {
        using var model = new OptimTestModel(Backend);
        using var optimizer = new AdamW(Backend, model.Groups(Encoder, Encoder with { LearningRate = 1e-2 }));
        var reference = new AdamReference(ToDouble(OptimTestModel.InitialValues(2)));
        model.LoadGradients(0);
        optimizer.Step(learningRateFactor: 0.25, gradientScale: 0.5f);
        reference.Step(ToDouble(OptimTestModel.Gradient(2, 0)), 1e-2 * 0.25, Encoder.Beta1, Encoder.Beta2, Encoder.Epsilon,
            Encoder.WeightDecay, decoupled: true, gradScale: 0.5);
        AssertClose(model.Parameters[2].Value.ToArray(), reference.Values, 1e-5, 1e-7, "c");
        AssertClose(optimizer.Moments("c").First.ToArray(), reference.First, 1e-5, 1e-8, "m of c");
    }

    [Test]
    public void DuplicateNamesAndBadOptionsAreRejected()
    {
        using var model = new OptimTestModel(Backend);
        var p = model.Parameters;
        Assert.Throws<ArgumentException>(() => new AdamW(Backend, [new ParameterGroup("g", [p[0], p[0]], Encoder)]));
        Assert.Throws<ArgumentException>(() => new AdamW(Backend, [new ParameterGroup("g", [p[0]], Encoder), new ParameterGroup("g", [p[1]], Encoder)]));
        Assert.Throws<ArgumentException>(() => new ParameterGroup("g", [p[0]], Encoder with { Beta1 = 1 }));
        Assert.Throws<ArgumentException>(() => new ParameterGroup("g", [new TrainableParameter("x", p[0].Value, p[1].Grad)], Encoder));
    }

    [Test]
    public void GlobalNormCoversEveryTensorAndClippingFollowsPyTorch()
    {
        using var model = new OptimTestModel(Backend);
        model.LoadGradients(0);
        double expected = Math.Sqrt(Enumerable.Range(0, 3).Sum(p => OptimTestModel.Gradient(p, 0).Sum(g => (double)g * g)));
        Assert.That(GradientClipper.Norm(Backend, model.Parameters), Is.EqualTo(expected).Within(1e-5).Percent);
        var clipper = new GradientClipper(1.0);
        Assert.That(clipper.Scale(4.0), Is.EqualTo((float)(1.0 / (4.0 + 1e-6))));
        Assert.That(clipper.Scale(0.5), Is.EqualTo(1f));
        Assert.That(clipper.Scale(0.0), Is.EqualTo(1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new GradientClipper(0));
    }

    [Test]
    public void ScheduleWarmsUpLinearly()
    {
        var warmup = new LearningRateSchedule(4);
        Assert.That(Enumerable.Range(0, 6).Select(n => warmup.Factor(n)), Is.EqualTo(new[] { 0.25, 0.5, 0.75, 1, 1, 1 }));
        Assert.That(new LearningRateSchedule(0).Factor(0), Is.EqualTo(1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new LearningRateSchedule(-1));
    }

    [Test]
    public void CosineDecayFollowsTheClosedFormAfterTheWarmup()
    {
        var schedule = new LearningRateSchedule(warmupSteps: 2, decaySteps: 8);
        double[] expected = [.. Enumerable.Range(0, 11).Select(n =>
            Math.Min(1.0, (n + 1) / 2.0) * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1.0, n / 8.0))))];
        Assert.That(Enumerable.Range(0, 11).Select(n => schedule.Factor(n)), Is.EqualTo(expected).Within(1e-15));
        Assert.That(schedule.Factor(4), Is.EqualTo(0.5).Within(1e-15), "half way the rate is halved");
        Assert.That(schedule.Factor(8), Is.EqualTo(0.0).Within(1e-15));
        Assert.That(schedule.Factor(100), Is.EqualTo(0.0).Within(1e-15), "after the horizon the rate stays 0");
        Assert.That(schedule.Factor(1), Is.LessThan(1.0).And.GreaterThan(0.9), "the decay starts during the warm-up");
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new LearningRateSchedule(0, -1));
    }

    private static double[] ToDouble(float[] values) => Array.ConvertAll(values, v => (double)v);
}
