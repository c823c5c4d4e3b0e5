using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.Nn;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// The joint gradient (RF loss + label loss through decoder, label flow, latent flow and encoder) of a small model
/// against central differences of the same step's loss (same (seed, step) draws) on a few coordinates.
/// </summary>
public class JointGradientTests
{
    // Small: the label loss (a max over flow steps of sharp zone probabilities) curves strongly; at 1e-2 the
    // central difference is still 10-15% off, and the CE variant's log curves more: at 2e-3 / 1e-3 / 5e-4 the
    // difference for one fc1 weight reads 2.25 / 2.43 / within 5% of the analytic 2.57 (fp32 rounding stays small).
    private const float Epsilon = 5e-4f;

    private static TrainingConfig Small => TrainingFixtures.SmallJoint;

    /// <summary>The configurations the gradient is checked in.</summary>
    public enum Variant
    {
        /// <summary>The tiny preset: prob label loss, one shared latent flow.</summary>
        Reference,

        /// <summary>Both loss weights and the CE label loss reach every gradient.</summary>
        WeightedCrossEntropy,

        /// <summary>The cut-off CE at latent noise 0, and the decoder on its own latent flow (noise 0.8).</summary>
        CutoffSplitLatents,

        /// <summary>Encoder dropout: the step keys the masks, so repeated passes at one step are one function.</summary>
        EncoderDropout,
    }

    [TestCase(JointModel.LabelAnchorsName, Variant.Reference)]
    [TestCase("encoder.fc2.weight", Variant.Reference)]
    [TestCase("encoder.fc1.weight", Variant.Reference)]
    [TestCase("decoder.out.bias", Variant.Reference)]
    [TestCase(JointModel.LabelAnchorsName, Variant.WeightedCrossEntropy)]
    [TestCase("encoder.fc1.weight", Variant.WeightedCrossEntropy)]
    [TestCase("decoder.out.bias", Variant.WeightedCrossEntropy)]
    [TestCase(JointModel.LabelAnchorsName, Variant.CutoffSplitLatents)]
    [TestCase("encoder.fc1.weight", Variant.CutoffSplitLatents)]
    [TestCase("decoder.out.bias", Variant.CutoffSplitLatents)]
    [TestCase("encoder.fc1.weight", Variant.EncoderDropout)]
    [TestCase(JointModel.LabelAnchorsName, Variant.EncoderDropout)]
    public void MatchesCentralDifferences(string parameterName, Variant variant)
    {
        using var backend = new CpuBackend();
        var config = variant switch
        {
            Variant.WeightedCrossEntropy => Small with { Loss = Small.Loss with { RectifiedFlowWeight = 0.5, LabelWeight = 2, Label = Native.Zones.AssignmentLossKind.CrossEntropy } },
            Variant.CutoffSplitLatents => Small with
            {
                Loss = Small.Loss with { Label = Native.Zones.AssignmentLossKind.CutoffCrossEntropy },
                Latent = Small.Latent with { NoiseScale = 0 },
                Decoder = Small.Decoder with { LatentNoiseScale = 0.8f },
            },
            Variant.EncoderDropout => Small with { Encoder = Small.Encoder with { Dropout = 0.3f } },
            _ => Small,
        };
        using var model = new JointModel(backend, config);
        var data = SyntheticImages.Generate(config.Schedule.BatchSize, config.Data.ClassCount, DataSources.SyntheticShape, seed: 3);
        using var images = backend.FromHost(data.Images); // [batchSize, imageSize]
        using var labels = backend.FromHost(data.Labels); // [batchSize]
        var parameter = model.Parameters.Single(p => p.Name == parameterName);

        model.ZeroGrad();
        model.Backward(images, labels, data.Labels, step: 3);
        CentralDifferences.AssertMatches(backend, parameter, parameter.Grad.ToArray(), () =>
        {
            model.ZeroGrad();
            return model.Backward(images, labels, data.Labels, step: 3).Total;
        }, Epsilon);
    }

    [Test]
    public void AZeroWeightSkipsItsTermEntirely()
    {
        using var backend = new CpuBackend();
        var data = SyntheticImages.Generate(Small.Schedule.BatchSize, Small.Data.ClassCount, DataSources.SyntheticShape, seed: 3);
        using var images = backend.FromHost(data.Images); // [batchSize, imageSize]
        using var labels = backend.FromHost(data.Labels); // [batchSize]

        using (var classifier = new JointModel(backend, Small with { Loss = Small.Loss with { RectifiedFlowWeight = 0 } }))
        {
            classifier.ZeroGrad();
            var losses = classifier.Backward(images, labels, data.Labels, step: 3);
            Assert.That((losses.RectifiedFlow, losses.Total), Is.EqualTo((0.0, losses.Label)));
            Assert.That(classifier.Decoder.Parameters.All(p => p.Grad.ToArray().All(g => g == 0)), "the decoder is not run");
            Assert.That(classifier.LabelAnchors.Grad.ToArray().Any(g => g != 0));
        }
        using (var generator = new JointModel(backend, Small with { Loss = Small.Loss with { LabelWeight = 0 } }))
        {
            generator.ZeroGrad();
            var losses = generator.Backward(images, labels, data.Labels, step: 3);
            Assert.That((losses.Label, losses.Total), Is.EqualTo((0.0, losses.RectifiedFlow)));
            Assert.That(generator.LabelAnchors.Grad.ToArray().All(g => g == 0), "the label flow is not run");
            Assert.That(generator.Decoder.Parameters.Any(p => p.Grad.ToArray().Any(g => g != 0)));
        }
        Assert.That(() => new JointModel(backend, Small with { Loss = Small.Loss with { RectifiedFlowWeight = 0, LabelWeight = 0 } }), Throws.InstanceOf<ArgumentException>().With.Message.Contains("cannot both be 0"));
    }

    [Test]
    public void ADecoderOnItsOwnLatentFlowLeavesTheLabelLossAsItWasAndConditionsOnOtherLatents()
    {
        using var backend = new CpuBackend();
        var shared = Small with { Latent = Small.Latent with { NoiseScale = 0 } };
        var data = SyntheticImages.Generate(shared.Schedule.BatchSize, shared.Data.ClassCount, DataSources.SyntheticShape, seed: 3);
        using var images = backend.FromHost(data.Images); // [batchSize, imageSize]
        using var labels = backend.FromHost(data.Labels); // [batchSize]
        JointLosses Losses(TrainingConfig config)
        {
            using var model = new JointModel(backend, config);
            model.ZeroGrad();
            return model.Backward(images, labels, data.Labels, step: 3);
        }

        var one = Losses(shared);
        var split = Losses(shared with { Decoder = shared.Decoder with { LatentNoiseScale = 1f } });
        var splitAtZero = Losses(shared with { Decoder = shared.Decoder with { LatentNoiseScale = 0f } });
        using (Assert.EnterMultipleScope())
        {
            Assert.That(split.Label, Is.EqualTo(one.Label), "the label loss's latents are the same flow");
            Assert.That(split.RectifiedFlow, Is.Not.EqualTo(one.RectifiedFlow), "the decoder sees noisier latents");
            Assert.That(splitAtZero.RectifiedFlow, Is.EqualTo(one.RectifiedFlow), "at noise 0 the second flow is the first");
        }
    }

    /// <summary>
    /// Moving every anchor by the same vector moves the flow's mixture means by (1 - t) times it, so the latents at
    /// t = 1 do not move: the encoder head's bias gets (almost) no gradient while its weight does.
    /// </summary>
    [Test]
    public void TheEncoderHeadBiasGetsNoGradientBecauseTheLatentFlowForgetsATranslation()
    {
        using var backend = new CpuBackend();
        var config = Small;
        using var model = new JointModel(backend, config);
        var data = SyntheticImages.Generate(config.Schedule.BatchSize, config.Data.ClassCount, DataSources.SyntheticShape, seed: 3);
        using var images = backend.FromHost(data.Images); // [batchSize, imageSize]
        using var labels = backend.FromHost(data.Labels); // [batchSize]
        model.ZeroGrad();
        model.Backward(images, labels, data.Labels, step: 3);
        float Largest(string name) => model.Parameters.Single(p => p.Name == name).Grad.ToArray().Max(Math.Abs);
        Assert.That(Largest("encoder.fc2.weight"), Is.GreaterThan(1e-2f));
        Assert.That(Largest("encoder.fc2.bias"), Is.LessThan(1e-3f * Largest("encoder.fc2.weight")));
    }
}
