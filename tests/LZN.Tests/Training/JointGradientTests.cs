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
    // central difference is still 10-15% off, at 1e-3 it agrees (fp32 rounding of the loss stays ~1e-4 of the slope).
    private const float Epsilon = 1e-3f;

    private static TrainingConfig Small => TrainingConfig.FromPreset("tiny") with
    {
        BatchSize = 8,
        HiddenSizes = [16],
        LatentDim = 8,
        LatentSteps = 8,
        LabelSteps = 20,
        Data = DataSources.Synthetic,
    };

    [TestCase(JointModel.LabelAnchorsName)]
    [TestCase("encoder.fc2.weight")]
    [TestCase("encoder.fc1.weight")]
    [TestCase("decoder.out.bias")]
    public void MatchesCentralDifferences(string parameterName)
    {
        using var backend = new CpuBackend();
        var config = Small;
        using var model = new JointModel(backend, config);
        var data = SyntheticImages.Generate(config.BatchSize, config.ClassCount, DataSources.SyntheticShape, seed: 3);
        using var images = backend.FromHost(data.Images); // [batchSize, imageSize]
        using var labels = backend.FromHost(data.Labels); // [batchSize]
        var parameter = model.Parameters.Single(p => p.Name == parameterName);

        model.ZeroGrad();
        model.Backward(images, labels, data.Labels, step: 3);
        var analytic = parameter.Grad.ToArray();
        var values = parameter.Value.ToArray();

        double Loss()
        {
            model.ZeroGrad();
            return model.Backward(images, labels, data.Labels, step: 3).Total;
        }

        // The three largest-magnitude coordinates and one more: small ones would only measure rounding.
        var coordinates = Enumerable.Range(0, analytic.Length).OrderByDescending(i => Math.Abs(analytic[i])).Take(3)
            .Append(analytic.Length / 2).Distinct();
        foreach (int i in coordinates)
        {
            float original = values[i];
            values[i] = original + Epsilon;
            backend.Upload(values, parameter.Value);
            double plus = Loss();
            values[i] = original - Epsilon;
            backend.Upload(values, parameter.Value);
            double minus = Loss();
            values[i] = original;
            backend.Upload(values, parameter.Value);
            double numeric = (plus - minus) / (2 * Epsilon);
            Assert.That(analytic[i], Is.EqualTo(numeric).Within(3e-3 + 5e-2 * Math.Abs(numeric)), $"{parameterName}[{i}]");
        }
        Assert.That(analytic.Max(Math.Abs), Is.GreaterThan(1e-4f), "the parameter receives a gradient");
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
        var data = SyntheticImages.Generate(config.BatchSize, config.ClassCount, DataSources.SyntheticShape, seed: 3);
        using var images = backend.FromHost(data.Images); // [batchSize, imageSize]
        using var labels = backend.FromHost(data.Labels); // [batchSize]
        model.ZeroGrad();
        model.Backward(images, labels, data.Labels, step: 3);
        float Largest(string name) => model.Parameters.Single(p => p.Name == name).Grad.ToArray().Max(Math.Abs);
        Assert.That(Largest("encoder.fc2.weight"), Is.GreaterThan(1e-2f));
        Assert.That(Largest("encoder.fc2.bias"), Is.LessThan(1e-3f * Largest("encoder.fc2.weight")));
    }
}
