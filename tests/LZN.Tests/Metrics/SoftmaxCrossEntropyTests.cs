using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Metrics;

namespace LZN.Tests.Metrics;

public sealed class SoftmaxCrossEntropyTests
{
    [Test]
    public void GradientMatchesCentralDifferences()
    {
        const int rows = 6, classes = 7;
        using var backend = new CpuBackend();
        var logits = new float[rows * classes];
        for (int i = 0; i < logits.Length; i++)
            logits[i] = 3 * Philox.Normal(11, (ulong)i);
        int[] labels = [0, 6, 3, 3, 1, 5];
        using var logitBuffer = backend.FromHost(logits);
        using var labelBuffer = backend.FromHost(labels);
        using var gradient = backend.AllocateFloat(logits.Length);
        using var loss = new SoftmaxCrossEntropy(backend);
        double value = loss.LossAndGradient(logitBuffer, labelBuffer, rows, classes, gradient);
        Assert.That(value, Is.EqualTo(SoftmaxCrossEntropy.Loss(logits, labels, rows, classes)));
        var analytic = gradient.ToArray();
        const float epsilon = 1e-2f;
        for (int i = 0; i < logits.Length; i++)
        {
            float original = logits[i];
            logits[i] = original + epsilon;
            double plus = SoftmaxCrossEntropy.Loss(logits, labels, rows, classes);
            logits[i] = original - epsilon;
            double minus = SoftmaxCrossEntropy.Loss(logits, labels, rows, classes);
            logits[i] = original;
            double numeric = (plus - minus) / ((double)(original + epsilon) - (original - epsilon));
            Assert.That(analytic[i], Is.EqualTo(numeric).Within(1e-5 + 1e-3 * Math.Abs(numeric)), $"logit {i}");
        }
    }

    [Test]
    public void LossOfUniformLogitsIsLogClasses()
    {
        Assert.That(SoftmaxCrossEntropy.Loss(new float[4 * 5], [0, 1, 2, 4], 4, 5), Is.EqualTo(Math.Log(5)).Within(1e-15));
    }

    [Test]
    public void LossStaysFiniteForConfidentMistakes()
    {
        // softmax of the true class is e^-200, zero in float; log-sum-exp in double still gives 200.
        Assert.That(SoftmaxCrossEntropy.Loss([200f, 0f], [1], 1, 2), Is.EqualTo(200).Within(1e-9));
    }

    [Test]
    public void AccuracyAndConfusionMatrix()
    {
        int[] labels = [0, 0, 1, 1, 2, 2, 2];
        int[] predicted = [0, 1, 1, 1, 2, 0, 2];
        Assert.That(ClassificationMetrics.Accuracy(predicted, labels), Is.EqualTo(5.0 / 7).Within(1e-15));
        var confusion = ClassificationMetrics.ConfusionMatrix(predicted, labels, 3);
        Assert.That(confusion, Is.EqualTo(new int[,] { { 1, 1, 0 }, { 0, 2, 0 }, { 1, 0, 2 } }));
        Assert.That(ClassificationMetrics.PerClassAccuracy(confusion), Is.EqualTo(new[] { 0.5, 1, 2.0 / 3 }).Within(1e-15));
        Assert.That(ClassificationMetrics.ArgMaxRows([0f, 2f, 1f, 5f, 5f, 4f], 2, 3), Is.EqualTo(new[] { 1, 0 }));
    }
}
