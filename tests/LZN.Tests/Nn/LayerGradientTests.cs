using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Nn;

namespace LZN.Tests.Nn;

/// <summary>Every layer's parameter and input gradients against central finite differences (tolerances: <see cref="GradientCheck"/>).</summary>
public sealed class LayerGradientTests
{
    private CpuBackend _backend = null!;

    [OneTimeSetUp]
    public void CreateBackend() => _backend = new CpuBackend();

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    [Test]
    public void LinearGradients()
    {
        using var layer = new Linear(_backend, "fc", 5, 4, seed: 1);
        GradientCheck.Randomize(layer.Bias, 2);
        Assert.That(GradientCheck.CheckLayer(layer, batchSize: 3, samples: 100), Is.EqualTo(20 + 4 + 15));
    }

    [TestCase(ActivationKind.Silu)]
    [TestCase(ActivationKind.Gelu)]
    [TestCase(ActivationKind.Tanh)]
    public void ActivationGradients(ActivationKind kind)
    {
        using var layer = new Activation(_backend, "act", kind, 7);
        Assert.That(GradientCheck.CheckLayer(layer, batchSize: 2, inputScale: 2f, samples: 100), Is.EqualTo(14));
    }

    [Test]
    public void DropoutGradientsAtAFixedStep()
    {
        using var layer = new Dropout(_backend, "drop", 9, rate: 0.4f, seed: 5) { Step = 12 };
        Assert.That(GradientCheck.CheckLayer(layer, batchSize: 3, samples: 100), Is.EqualTo(27));
    }

    [Test]
    public void LayerNormGradients()
    {
        using var layer = new LayerNorm(_backend, "norm", 6);
        GradientCheck.Randomize(layer.Gamma, 3, center: 1f);
        GradientCheck.Randomize(layer.Beta, 4);
        Assert.That(GradientCheck.CheckLayer(layer, batchSize: 3, samples: 100), Is.EqualTo(6 + 6 + 18));
    }

    [TestCase(4, 5, 2)]
    [TestCase(6, 3, 3)]
    [TestCase(4, 4, 1)]
    public void GroupNormGradients(int channels, int spatial, int groups)
    {
        using var layer = new GroupNorm(_backend, "norm", channels, spatial, groups);
        GradientCheck.Randomize(layer.Gamma, 5, center: 1f);
        GradientCheck.Randomize(layer.Beta, 6);
        Assert.That(GradientCheck.CheckLayer(layer, batchSize: 2, samples: 24), Is.GreaterThan(0));
    }

    [TestCase(2, 5, 5, 3, 1, 1, 3)]
    [TestCase(3, 6, 6, 3, 2, 1, 4)]
    [TestCase(2, 5, 4, 2, 2, 0, 2)]
    [TestCase(1, 4, 4, 1, 1, 0, 3)]
    public void Conv2dGradients(int channels, int height, int width, int kernel, int stride, int padding, int outChannels)
    {
        using var layer = new Conv2d(_backend, "conv", new ConvGeometry(channels, height, width, kernel, stride, padding), outChannels, seed: 3);
        GradientCheck.Randomize(layer.Bias, 7);
        Assert.That(GradientCheck.CheckLayer(layer, batchSize: 2, samples: 16), Is.GreaterThan(0));
    }

    [Test]
    public void Conv2dInChunksMatchesOneChunk()
    {
        var geometry = new ConvGeometry(2, 6, 6, 3, 2, 1);
        // A budget of one image's im2col matrix forces one chunk per image (and the recomputation in Backward).
        using var chunked = new Conv2d(_backend, "conv", geometry, 3, seed: 4, columnBudget: geometry.ColumnRows * geometry.OutputPixels);
        using var whole = new Conv2d(_backend, "conv", geometry, 3, seed: 4);
        const int batchSize = 3;
        using var input = _backend.FromHost(GradientCheck.Values(batchSize * geometry.InputSize, 8));
        using var gradOutput = _backend.FromHost(GradientCheck.Values(batchSize * chunked.OutputSize, 9));
        var outputs = new[] { chunked, whole }.Select(layer => layer.Forward(input, batchSize).ToArray()).ToArray();
        var inputGrads = new[] { chunked, whole }.Select(layer => layer.Backward(gradOutput).ToArray()).ToArray();
        Assert.That(outputs[0], Is.EqualTo(outputs[1]).Within(1e-5f));
        Assert.That(inputGrads[0], Is.EqualTo(inputGrads[1]).Within(1e-5f));
        Assert.That(chunked.Weight.Grad.ToArray(), Is.EqualTo(whole.Weight.Grad.ToArray()).Within(1e-4f));
        Assert.That(GradientCheck.CheckLayer(chunked, batchSize), Is.GreaterThan(0));
    }

    [Test]
    public void Conv2dDefaultColumnBudgetIsTheCpusCacheSizedOne()
    {
        using var layer = new Conv2d(_backend, "conv", new ConvGeometry(2, 6, 6, 3, 1, 1), 3, seed: 4);
        Assert.That(layer.ColumnBudget, Is.EqualTo(Conv2d.CpuColumnBudget));
    }

    [Test]
    public void Upsample2xGradients()
    {
        using var layer = new Upsample2x(_backend, "up", 2, 3, 2);
        Assert.That(GradientCheck.CheckLayer(layer, batchSize: 2, samples: 100), Is.EqualTo(24));
    }

    [Test]
    public void SequentialGradients()
    {
        using var layer = new Sequential(_backend, "seq",
            new Linear(_backend, "seq.fc1", 4, 6, seed: 5),
            new LayerNorm(_backend, "seq.norm", 6),
            new Activation(_backend, "seq.act", ActivationKind.Silu, 6),
            new Linear(_backend, "seq.fc2", 6, 3, seed: 5));
        Assert.That(layer.Parameters.Select(p => p.Name), Is.EqualTo(new[]
            { "seq.fc1.weight", "seq.fc1.bias", "seq.norm.weight", "seq.norm.bias", "seq.fc2.weight", "seq.fc2.bias" }));
        Assert.That(GradientCheck.CheckLayer(layer, batchSize: 3), Is.GreaterThan(0));
    }

    [Test]
    public void TimeEmbeddingGradients()
    {
        using var embedding = new TimeEmbedding(_backend, "time", 6, seed: 6);
        const int batchSize = 3;
        using var times = _backend.FromHost(new[] { 0.1f, 0.5f, 0.93f });
        var weights = GradientCheck.Values(batchSize * embedding.Dim, 10);
        using var weightBuffer = _backend.FromHost(weights);
        embedding.ZeroGrad();
        embedding.Forward(times, batchSize);
        embedding.Backward(weightBuffer);
        var targets = embedding.Parameters.Select(p => new GradientCheck.Target(p.Name, p.Value, p.Grad.ToArray()));
        Assert.That(GradientCheck.Check(() => GradientCheck.Dot(weights, embedding.Forward(times, batchSize)), targets), Is.GreaterThan(0));
    }

    [Test]
    public void ConditionedBlockGradients()
    {
        const int batchSize = 2, conditionSize = 5;
        using var block = new ConditionedBlock(_backend, "block", new ConvGeometry(3, 4, 4, 3, 2, 1), 4, conditionSize, groups: 2, seed: 7);
        using var input = _backend.FromHost(GradientCheck.Values(batchSize * block.InputSize, 11));
        using var condition = _backend.FromHost(GradientCheck.Values(batchSize * conditionSize, 12));
        var weights = GradientCheck.Values(batchSize * block.OutputSize, 13);
        using var weightBuffer = _backend.FromHost(weights);
        using var conditionGrad = _backend.AllocateFloat(batchSize * conditionSize);
        block.ZeroGrad();
        block.Forward(input, condition, batchSize);
        var inputGrad = block.Backward(weightBuffer, conditionGrad).ToArray();
        var targets = block.Parameters.Select(p => new GradientCheck.Target(p.Name, p.Value, p.Grad.ToArray())).ToList();
        targets.Add(new GradientCheck.Target("input", input, inputGrad));
        targets.Add(new GradientCheck.Target("condition", condition, conditionGrad.ToArray()));
        Assert.That(GradientCheck.Check(() => GradientCheck.Dot(weights, block.Forward(input, condition, batchSize)), targets), Is.GreaterThan(0));
    }

    [Test]
    public void BackwardAccumulatesParameterGradientsAndZeroGradClearsThem()
    {
        using var layer = new Linear(_backend, "fc", 3, 2, seed: 8);
        using var input = _backend.FromHost(GradientCheck.Values(6, 14));
        using var gradOutput = _backend.FromHost(GradientCheck.Values(4, 15));
        layer.ZeroGrad();
        layer.Forward(input, 2);
        layer.Backward(gradOutput);
        var once = layer.Weight.Grad.ToArray();
        layer.Backward(gradOutput);
        Assert.That(layer.Weight.Grad.ToArray(), Is.EqualTo(once.Select(value => 2 * value).ToArray()).Within(1e-6f));
        Assert.That(once, Has.Some.Not.EqualTo(0f));
        layer.ZeroGrad();
        Assert.That(layer.Weight.Grad.ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void InitialisationIsSeededPerParameterName()
    {
        using var a = new Linear(_backend, "a", 64, 32, seed: 9);
        using var b = new Linear(_backend, "a", 64, 32, seed: 9);
        using var c = new Linear(_backend, "c", 64, 32, seed: 9);
        var weights = a.Weight.Value.ToArray();
        Assert.That(b.Weight.Value.ToArray(), Is.EqualTo(weights));
        Assert.That(c.Weight.Value.ToArray(), Is.Not.EqualTo(weights));
        double bound = Math.Sqrt(6.0 / 64);
        Assert.That(weights, Is.All.InRange(-bound, bound));
        double variance = weights.Select(w => (double)w * w).Average();
        Assert.That(variance, Is.EqualTo(2.0 / 64).Within(0.15 * 2.0 / 64), "Kaiming variance 2 / fanIn");
        Assert.That(a.Bias.Value.ToArray(), Is.All.EqualTo(0f));
    }
}
