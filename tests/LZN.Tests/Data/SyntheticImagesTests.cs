using LZN.Native.Data;

namespace LZN.Tests.Data;

public class SyntheticImagesTests
{
    [Test]
    public void IsDeterministicBalancedAndInRange()
    {
        var shape = new ImageShape(12, 10, 1);
        var first = SyntheticImages.Generate(count: 50, classCount: 5, shape, seed: 3);
        var again = SyntheticImages.Generate(count: 50, classCount: 5, shape, seed: 3);
        var other = SyntheticImages.Generate(count: 50, classCount: 5, shape, seed: 4);

        Assert.That(first.Images, Is.EqualTo(again.Images));
        Assert.That(first.Images, Is.Not.EqualTo(other.Images));
        Assert.That(first.Images, Has.Length.EqualTo(50 * 120).And.All.InRange(-1f, 1f));
        Assert.That(first.Labels.CountBy(label => label).Select(pair => pair.Value), Is.All.EqualTo(10));
        Assert.That(first.ClassCount, Is.EqualTo(5));
    }

    [TestCase(1)]
    [TestCase(3)]
    public void ClassesAreSeparableByTheirMeanImage(int channels)
    {
        // A nearest-class-mean classifier fit on one seed must label a fresh seed almost perfectly;
        // otherwise a smoke run could not show learning.
        var shape = new ImageShape(16, 16, channels);
        var fit = SyntheticImages.Generate(200, classCount: 10, shape, seed: 1);
        var check = SyntheticImages.Generate(100, classCount: 10, shape, seed: 2);
        var means = new double[fit.ClassCount, shape.Size];
        for (int n = 0; n < fit.Count; n++)
        {
            var image = fit.Image(n);
            for (int i = 0; i < shape.Size; i++)
                means[fit.Labels[n], i] += image[i] / 20.0;
        }
        int correct = 0;
        for (int n = 0; n < check.Count; n++)
        {
            var image = check.Image(n);
            int best = -1;
            double bestDistance = double.PositiveInfinity;
            for (int k = 0; k < check.ClassCount; k++)
            {
                double distance = 0;
                for (int i = 0; i < shape.Size; i++)
                    distance += (image[i] - means[k, i]) * (image[i] - means[k, i]);
                if (distance < bestDistance)
                    (best, bestDistance) = (k, distance);
            }
            correct += best == check.Labels[n] ? 1 : 0;
        }
        Assert.That(correct, Is.GreaterThanOrEqualTo(95));
    }
}
