using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Nn;

namespace LZN.Tests.Nn;

/// <summary>The models' gradients against finite differences on small configurations, their parameter names and counts.</summary>
public sealed class ModelTests
{
    private CpuBackend _backend = null!;

    [OneTimeSetUp]
    public void CreateBackend() => _backend = new CpuBackend();

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    [Test]
    public void MlpEncoderGradients()
    {
        using var encoder = new MlpEncoder(_backend, "encoder", 12, [10, 8], 3, seed: 1);
        Assert.That(encoder.Parameters.Select(p => p.Name), Is.EqualTo(new[]
            { "encoder.fc1.weight", "encoder.fc1.bias", "encoder.fc2.weight", "encoder.fc2.bias", "encoder.fc3.weight", "encoder.fc3.bias" }));
        Assert.That(GradientCheck.CheckLayer(encoder, batchSize: 3), Is.GreaterThan(0));
    }

    [Test]
    public void EncodersWithDropoutPlaceItAndKeepTheirGradients()
    {
        using var mlp = new MlpEncoder(_backend, "encoder", 12, [10, 8], 3, seed: 1, dropout: 0.3f);
        Assert.That(mlp.Dropouts.Select(d => (d.Name, d.InputSize)), Is.EqualTo(new[] { ("encoder.drop1", 10), ("encoder.drop2", 8) }));
        Assert.That(mlp.Parameters.Count(), Is.EqualTo(6), "dropout has no parameters");
        foreach (var dropout in mlp.Dropouts)
            dropout.Step = 4;
        Assert.That(GradientCheck.CheckLayer(mlp, batchSize: 3), Is.GreaterThan(0));

        var config = new CnnEncoderConfig(1, 8, 8, 3) { Channels = [4, 6, 8], Groups = 2, Dropout = 0.5f };
        using var cnn = new CnnEncoder(_backend, "encoder", config, seed: 2);
        Assert.That(cnn.Dropouts.Select(d => (d.Name, d.InputSize)), Is.EqualTo(new[] { ("encoder.drop", 8 * 2 * 2) }));
        cnn.Dropouts.Single().Step = 9;
        Assert.That(GradientCheck.CheckLayer(cnn, batchSize: 2, samples: 8), Is.GreaterThan(0));

        using var plain = new MlpEncoder(_backend, "encoder", 12, [10, 8], 3, seed: 1);
        Assert.That(plain.Dropouts, Is.Empty);
    }

    [Test]
    public void CnnEncoderGradients()
    {
        var config = new CnnEncoderConfig(1, 8, 8, 3) { Channels = [4, 6, 8], Groups = 2 };
        using var encoder = new CnnEncoder(_backend, "encoder", config, seed: 2);
        Assert.That(encoder.Parameters.Select(p => p.Name).Take(4), Is.EqualTo(new[]
            { "encoder.conv1.weight", "encoder.conv1.bias", "encoder.norm1.weight", "encoder.norm1.bias" }));
        Assert.That(encoder.InputSize, Is.EqualTo(64));
        Assert.That(GradientCheck.CheckLayer(encoder, batchSize: 2, samples: 8), Is.GreaterThan(0));
    }

    [Test]
    public void ADeeperCnnEncoderRepeatsEachStagesConvolutionAtStrideOne()
    {
        var config = new CnnEncoderConfig(1, 8, 8, 3) { Channels = [4, 6], Groups = 2, Depth = 2 };
        using var encoder = new CnnEncoder(_backend, "encoder", config, seed: 2);
        Assert.That(encoder.Parameters.Select(p => p.Name).Where(name => name.EndsWith(".weight", StringComparison.Ordinal)), Is.EqualTo(new[]
        {
            "encoder.conv1.weight", "encoder.norm1.weight", "encoder.conv2.weight", "encoder.norm2.weight",
            "encoder.conv3.weight", "encoder.norm3.weight", "encoder.conv4.weight", "encoder.norm4.weight", "encoder.fc.weight",
        }));
        // conv 1->4: 40, GN 8; conv 4->4: 148, GN 8; conv 4->6 (stride 2): 222, GN 12; conv 6->6: 330, GN 12; fc 6*4*4 -> 3: 291
        Assert.That(encoder.ParameterCount, Is.EqualTo(1071));
        Assert.That(GradientCheck.CheckLayer(encoder, batchSize: 2, samples: 8), Is.GreaterThan(0));
        Assert.That(() => new CnnEncoder(_backend, "encoder", config with { Depth = 0 }, seed: 2), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [TestCase(3)]
    [TestCase(0)]
    public void UNetDecoderGradientsForParametersNoisyImageAndLatent(int classCount)
    {
        const int batchSize = 2;
        var config = new UNetDecoderConfig(1, 8, 8, LatentSize: 3, classCount) { BaseChannels = 4, TimeEmbeddingSize = 4, Groups = 2 };
        using var decoder = new UNetDecoder(_backend, "decoder", config, seed: 3);
        using var noisy = _backend.FromHost(GradientCheck.Values(batchSize * decoder.ImageSize, 4));
        using var latent = _backend.FromHost(GradientCheck.Values(batchSize * config.LatentSize, 5));
        using var labels = classCount == 0 ? null : _backend.FromHost(new[] { 2, 0 });
        using var times = _backend.FromHost(new[] { 0.3f, 0.8f });
        var weights = GradientCheck.Values(batchSize * decoder.ImageSize, 6);
        using var weightBuffer = _backend.FromHost(weights);
        decoder.ZeroGrad();
        decoder.Forward(noisy, latent, labels, times, batchSize);
        var gradients = decoder.Backward(weightBuffer);
        var targets = decoder.Parameters.Select(p => new GradientCheck.Target(p.Name, p.Value, p.Grad.ToArray())).ToList();
        targets.Add(new GradientCheck.Target("noisy", noisy, gradients.Noisy.ToArray()));
        targets.Add(new GradientCheck.Target("latent", latent, gradients.Latent.ToArray()));
        int count = GradientCheck.Check(() => GradientCheck.Dot(weights, decoder.Forward(noisy, latent, labels, times, batchSize)), targets, samples: 6);
        TestContext.Out.WriteLine($"U-Net decoder: {count} coordinates over {targets.Count} tensors agree with finite differences.");
        Assert.That(targets.Select(t => t.Name), Does.Contain("decoder.time.linear1.weight").And.Contain("decoder.enc1.condition.weight")
            .And.Contain("decoder.dec1.conv.weight").And.Contain("decoder.out.bias"));
    }

    [Test]
    public void ASecondStepAtTheSameBatchSizeAllocatesNoBackendMemory()
    {
        const int batchSize = 4;
        var config = new UNetDecoderConfig(1, 12, 12, LatentSize: 3, ClassCount: 2) { BaseChannels = 4, TimeEmbeddingSize = 4, Groups = 2 };
        using var backend = new CpuBackend();
        using var decoder = new UNetDecoder(backend, "decoder", config, seed: 8);
        using var encoder = new CnnEncoder(backend, "encoder", new CnnEncoderConfig(1, 12, 12, 3) { Channels = [4, 4, 4], Groups = 2 }, seed: 8);
        using var noisy = backend.FromHost(GradientCheck.Values(batchSize * 144, 9));
        using var labels = backend.FromHost(new[] { 0, 1, 1, 0 });
        using var times = backend.FromHost(new[] { 0.1f, 0.4f, 0.6f, 0.9f });
        using var gradVelocity = backend.FromHost(GradientCheck.Values(batchSize * 144, 10));
        void Step()
        {
            var latent = encoder.Forward(noisy, batchSize);
            decoder.Forward(noisy, latent, labels, times, batchSize);
            encoder.Backward(decoder.Backward(gradVelocity).Latent);
        }
        Step();
        long held = backend.Memory.CurrentBytes;
        backend.ResetPeakMemory();
        Step();
        Assert.That(backend.Memory.CurrentBytes, Is.EqualTo(held));
        Assert.That(backend.Memory.PeakBytes, Is.EqualTo(held), "no temporary backend buffers either");
    }

    [Test]
    public void ParameterCountsOfTheDefaultModels()
    {
        using var mlp = new MlpEncoder(_backend, "encoder", 784, [512, 256], 64, seed: 1);
        using var cnn = new CnnEncoder(_backend, "encoder", new CnnEncoderConfig(1, 28, 28, 64), seed: 1);
        using var decoder = new UNetDecoder(_backend, "decoder", new UNetDecoderConfig(1, 28, 28, 64, 10), seed: 1);
        // 784*512+512 + 512*256+256 + 256*64+64
        Assert.That(mlp.ParameterCount, Is.EqualTo(549_696));
        // conv 1->32: 320, GN 64; conv 32->64: 18,496, GN 128; conv 64->128: 73,856, GN 256; fc 6272->64: 401,472
        Assert.That(cnn.ParameterCount, Is.EqualTo(494_592));
        using var deeper = new CnnEncoder(_backend, "encoder", new CnnEncoderConfig(1, 28, 28, 64) { Depth = 2 }, seed: 1);
        // plus conv 32->32: 9,248, GN 64; conv 64->64: 36,928, GN 128; conv 128->128: 147,584, GN 256
        Assert.That(deeper.ParameterCount, Is.EqualTo(494_592 + 194_208));
        TestContext.Out.WriteLine($"MLP encoder {mlp.ParameterCount:N0}, CNN encoder {cnn.ParameterCount:N0}, U-Net decoder {decoder.ParameterCount:N0} parameters.");
        // time MLP 8,320; blocks (conv + GN + condition Linear from 138 = 64 + 10 + 64): enc1 4,832, enc2 27,520,
        // enc3 91,904, mid 165,632, dec2 119,680, dec1 32,192; out conv 289.
        Assert.That(decoder.ParameterCount, Is.EqualTo(450_369));
        Assert.That(decoder.Parameters.Select(p => p.Name), Is.Unique);
    }
}
