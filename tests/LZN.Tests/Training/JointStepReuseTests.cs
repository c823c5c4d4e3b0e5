using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// The joint step reuses its buffers: a repeated call, or a call after a different batch size, gives bit for bit what
/// the first call of a fresh model gives (so no reused buffer carries anything over from the step before).
/// </summary>
public class JointStepReuseTests
{
    private static TrainingConfig Small => TrainingFixtures.SmallJoint;

    [Test]
    public void ConsecutiveIdenticalCallsGiveIdenticalLossesAndGradients()
    {
        using var backend = new CpuBackend();
        using var model = new JointModel(backend, Small);
        var data = Batch(8);

        var first = Step(backend, model, data);
        var second = Step(backend, model, data);

        Assert.That(second.Losses, Is.EqualTo(first.Losses));
        AssertSameGradients(second.Gradients, first.Gradients);
    }

    [Test]
    public void ABatchSizeChangeGivesWhatAFreshModelGives()
    {
        using var backend = new CpuBackend();
        using var model = new JointModel(backend, Small);
        var (large, small) = (Batch(8), Batch(4));

        Step(backend, model, large);
        var afterLarge = Step(backend, model, small);
        var afterSmall = Step(backend, model, large);

        using (var fresh = new JointModel(backend, Small))
        {
            var expected = Step(backend, fresh, small);
            Assert.That(afterLarge.Losses, Is.EqualTo(expected.Losses));
            AssertSameGradients(afterLarge.Gradients, expected.Gradients);
        }
        using (var fresh = new JointModel(backend, Small))
        {
            var expected = Step(backend, fresh, large);
            Assert.That(afterSmall.Losses, Is.EqualTo(expected.Losses));
            AssertSameGradients(afterSmall.Gradients, expected.Gradients);
        }
    }

    private static ImageDataset Batch(int count) => SyntheticImages.Generate(count, 10, DataSources.SyntheticShape, seed: 3);

    /// <summary>One joint step at step 3 from zero gradients: its losses and every parameter's gradient.</summary>
    private static (JointLosses Losses, float[][] Gradients) Step(IBackend backend, JointModel model, ImageDataset data)
    {
        using var images = backend.FromHost(data.Images); // [batchSize, imageSize]
        using var labels = backend.FromHost(data.Labels); // [batchSize]
        model.ZeroGrad();
        var losses = model.Backward(images, labels, data.Labels, step: 3);
        return (losses, [.. model.Parameters.Select(parameter => parameter.Grad.ToArray())]);
    }

    private static void AssertSameGradients(float[][] actual, float[][] expected)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        for (int i = 0; i < expected.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]), $"gradient of parameter {i}");
        Assert.That(expected.Max(gradient => gradient.Max(Math.Abs)), Is.GreaterThan(0f), "the step produces gradients");
    }
}
