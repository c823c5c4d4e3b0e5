using LZN.Native.Backends;
using LZN.Native.Diagnostics;
using LZN.Native.IO;
using LZN.Native.Optim;
using LZN.Tests.Backends;

namespace LZN.Tests.Optim;

/// <summary>TrainingStep: non-finite skips, clipping and warm-up in the update, EMA warm-up, exact resume.</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public class TrainingStepTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private static readonly ParameterGroupOptions Encoder = new() { LearningRate = 1e-2, WeightDecay = 0.01 };
    private static readonly ParameterGroupOptions Decoder = new() { LearningRate = 3e-2, FrozenAfter = 4 };

    [TestCase(float.NaN, 1f)]
    [TestCase(float.PositiveInfinity, 1f)]
    [TestCase(2.5f, float.NaN)]
    [TestCase(2.5f, float.NegativeInfinity)]
    public void ANonFiniteLossOrGradientIsSkippedCountedAndChangesNothing(float lossValue, float badGradient)
    {
        using var model = new OptimTestModel(Backend);
        using var optimizer = new AdamW(Backend, model.Groups(Encoder, Decoder));
        using var ema = new Ema(Backend, model.Parameters, 0.99);
        var step = new TrainingStep(Backend, optimizer, new GradientClipper(1.0), new LearningRateSchedule(10), ema);
        using var loss = Backend.FromHost(new[] { 1f });
        model.LoadGradients(0);
        Assert.That(step.Apply(loss).Applied, Is.True);
        var before = Snapshot(model, optimizer, ema);

        model.LoadGradients(1);
        var grad = model.Parameters[1].Grad.ToArray();
        grad[17] = badGradient;
        Backend.Upload(grad, model.Parameters[1].Grad);
        Backend.Upload([lossValue], loss);
        var result = step.Apply(loss);

        Assert.That(result.Applied, Is.False);
        Assert.That(step.SkippedSteps, Is.EqualTo(1));
        Assert.That(optimizer.Iteration, Is.EqualTo(1));
        Assert.That(ema.UpdateCount, Is.EqualTo(1));
        Assert.That(Snapshot(model, optimizer, ema), Is.EqualTo(before), "a skipped step changed state");
    }

    [Test]
    public void ClippingAndWarmupScaleTheUpdate()
    {
        using var model = new OptimTestModel(Backend);
        using var optimizer = new AdamW(Backend, model.Groups(Encoder, Decoder));
        var step = new TrainingStep(Backend, optimizer, new GradientClipper(1.0), new LearningRateSchedule(4));
        using var loss = Backend.FromHost(new[] { 0.5f });
        model.LoadGradients(0, scale: 10);
        double norm = Math.Sqrt(Enumerable.Range(0, 3).Sum(p => OptimTestModel.Gradient(p, 0, 10).Sum(g => (double)g * g)));
        var result = step.Apply(loss);
        Assert.That(result.Applied, Is.True);
        Assert.That(result.Loss, Is.EqualTo(0.5f));
        Assert.That(result.GradientNorm, Is.EqualTo(norm).Within(1e-5).Percent);
        Assert.That(result.GradientScale, Is.EqualTo(1.0 / (norm + 1e-6)).Within(1e-5).Percent);
        Assert.That(result.LearningRateFactor, Is.EqualTo(0.25));

        var reference = new AdamReference(Array.ConvertAll(OptimTestModel.InitialValues(0), v => (double)v));
        reference.Step(Array.ConvertAll(OptimTestModel.Gradient(0, 0, 10), v => (double)v), Encoder.LearningRate * 0.25,
            Encoder.Beta1, Encoder.Beta2, Encoder.Epsilon, Encoder.WeightDecay, decoupled: true, gradScale: result.GradientScale);
        AssertClose(model.Parameters[0].Value.ToArray(), reference.Values, 1e-5, 1e-7, "a");
        AssertClose(optimizer.Moments("a").First.ToArray(), reference.First, 1e-5, 1e-8, "m of a");
    }

    [Test]
    public void EmaFollowsTheWarmupRule()
    {
        Assert.That(Ema.EffectiveDecay(0.999, 0), Is.EqualTo(0.1));
        Assert.That(Ema.EffectiveDecay(0.999, 1), Is.EqualTo(2.0 / 11));
        Assert.That(Ema.EffectiveDecay(0.999, 10_000), Is.EqualTo(0.999));
        Assert.That(Ema.EffectiveDecay(0.5, 5), Is.EqualTo(0.4));
        Assert.That(Ema.EffectiveDecay(0.5, 20), Is.EqualTo(0.5));

        using var model = new OptimTestModel(Backend);
        using var ema = new Ema(Backend, model.Parameters, 0.9);
        var shadow = Array.ConvertAll(OptimTestModel.InitialValues(1), v => (double)v);
        for (int n = 0; n < 5; n++)
        {
            var value = OptimTestModel.Gradient(1, n);
            Backend.Upload(value, model.Parameters[1].Value);
            ema.Update();
            double decay = Math.Min(0.9, (1.0 + n) / (10.0 + n));
            for (int i = 0; i < shadow.Length; i++)
                shadow[i] = decay * shadow[i] + (1 - decay) * value[i];
        }
        Assert.That(ema.UpdateCount, Is.EqualTo(5));
        AssertClose(ema.Shadow("b").ToArray(), shadow, 1e-6, 1e-7, "shadow of b");
        using var other = new OptimTestModel(Backend);
        ema.CopyTo(other.Parameters);
        Assert.That(other.Parameters[1].Value.ToArray(), Is.EqualTo(ema.Shadow("b").ToArray()));
    }

    [Test]
    public void AResumedRunContinuesBitIdentically()
    {
        using var straight = new Run(Backend);
        for (int k = 0; k < 7; k++)
            straight.Iterate(k);

        string path = Path.Combine(Path.GetTempPath(), $"lzn-optim-{Guid.NewGuid():N}.safetensors");
        try
        {
            using (var first = new Run(Backend))
            {
                for (int k = 0; k < 4; k++)
                    first.Iterate(k);
                var model = first.Model.Parameters.Select(p => SafeTensor.FromFloat32($"model/{p.Name}", p.Value.ToArray(), (int)p.Value.Length));
                Safetensors.Write(path, model.Concat(first.Step.ExportState()));
            }
            var file = Safetensors.Read(path);
            using var resumed = new Run(Backend);
            foreach (var parameter in resumed.Model.Parameters)
                Backend.Upload(file[$"model/{parameter.Name}"].ToFloat32(), parameter.Value);
            resumed.Step.ImportState(file.Tensors);
            for (int k = 4; k < 7; k++)
                resumed.Iterate(k);

            Assert.That(resumed.Step.SkippedSteps, Is.EqualTo(1));
            Assert.That(resumed.Optimizer.Iteration, Is.EqualTo(straight.Optimizer.Iteration));
            Assert.That(Snapshot(resumed.Model, resumed.Optimizer, resumed.Ema), Is.EqualTo(Snapshot(straight.Model, straight.Optimizer, straight.Ema)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void ImportRejectsMissingOrMisshapenStateAndChangesNothing()
    {
        using var run = new Run(Backend);
        run.Iterate(0);
        var state = run.Step.ExportState().ToList();
        var before = Snapshot(run.Model, run.Optimizer, run.Ema);
        Assert.Throws<InvalidDataException>(() => run.Step.ImportState(state.Where(t => t.Name != "adam/v/c")));
        var misshapen = state.Select(t => t.Name == "ema/b" ? SafeTensor.FromFloat32("ema/b", new float[3], 3) : t);
        Assert.Throws<InvalidDataException>(() => run.Step.ImportState(misshapen));
        Assert.That(Snapshot(run.Model, run.Optimizer, run.Ema), Is.EqualTo(before));
    }

    /// <summary>Every float of the values, moments and shadows, with the counters, as one comparable list.</summary>
    private static List<string> Snapshot(OptimTestModel model, AdamW optimizer, Ema ema)
    {
        var items = new List<string> { $"iteration {optimizer.Iteration}", $"ema {ema.UpdateCount}" };
        foreach (var parameter in model.Parameters)
        {
            var (first, second) = optimizer.Moments(parameter.Name);
            foreach (var (label, buffer) in new[] { ("value", parameter.Value), ("m", first), ("v", second), ("ema", ema.Shadow(parameter.Name)) })
                items.Add($"{parameter.Name} {label}: " + string.Join(",", buffer.ToArray().Select(BitConverter.SingleToInt32Bits)));
        }
        return items;
    }

    /// <summary>A full training setup whose iteration k feeds fixed gradients, with a NaN loss at k = 2.</summary>
    private sealed class Run : IDisposable
    {
        private readonly IBackend _backend;
        private readonly FloatBuffer _loss;

        public Run(IBackend backend)
        {
            _backend = backend;
            Model = new OptimTestModel(backend);
            Optimizer = new AdamW(backend, Model.Groups(Encoder, Decoder));
            Ema = new Ema(backend, Model.Parameters, 0.95);
            Step = new TrainingStep(backend, Optimizer, new GradientClipper(3.0), new LearningRateSchedule(3), Ema);
            _loss = backend.AllocateFloat(1); // [1]
        }

        public OptimTestModel Model { get; }
        public AdamW Optimizer { get; }
        public Ema Ema { get; }
        public TrainingStep Step { get; }

        public void Iterate(int k)
        {
            Model.LoadGradients(k, scale: 1 + k % 3);
            _backend.Upload([k == 2 ? float.NaN : 1f / (k + 1)], _loss);
            Step.Apply(_loss);
        }

        public void Dispose()
        {
            _loss.Dispose();
            Ema.Dispose();
            Optimizer.Dispose();
            Model.Dispose();
        }
    }
}
