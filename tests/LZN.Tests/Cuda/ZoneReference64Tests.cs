namespace LZN.Tests.Cuda;

/// <summary>The float64 reference of the GPU zone tests, checked on its own: backward against finite differences.</summary>
public class ZoneReference64Tests
{
    [TestCase(0.5, true, true)]
    [TestCase(0.2, false, true)]
    [TestCase(0.8, true, false)]
    public void BackwardMatchesFiniteDifferencesOfTheLoss(double time, bool withVelocityGrad, bool withTargetLoss)
    {
        const int rows = 4, anchorCount = 5, dim = 3;
        var problem = new ZoneProblem64(rows, anchorCount, dim, time,
            ZoneReference64.Normal(rows * dim, seed: 1), ZoneReference64.Normal(anchorCount * dim, seed: 2),
            ZoneReference64.Normal(anchorCount, seed: 3, scale: 0.5));
        double[]? g = withVelocityGrad ? ZoneReference64.Normal(rows * dim, seed: 4) : null;
        int[]? targets = withTargetLoss ? ZoneReference64.Integers(rows, anchorCount, seed: 5) : null;
        double[]? beta = withTargetLoss ? ZoneReference64.Normal(rows, seed: 6) : null;
        var gradients = ZoneReference64.Backward(problem, g, targets, beta);

        const double h = 1e-6;
        double Derivative(double[] values, int index)
        {
            double saved = values[index];
            values[index] = saved + h;
            double plus = ZoneReference64.Loss(problem, g, targets, beta);
            values[index] = saved - h;
            double minus = ZoneReference64.Loss(problem, g, targets, beta);
            values[index] = saved;
            return (plus - minus) / (2 * h);
        }

        using (Assert.EnterMultipleScope())
        {
            for (int e = 0; e < rows * dim; e++)
                Assert.That(gradients.Points[e], Is.EqualTo(Derivative(problem.Points, e)).Within(1e-6 * (1 + Math.Abs(gradients.Points[e]))), $"dx[{e}]");
            for (int e = 0; e < anchorCount * dim; e++)
                Assert.That(gradients.Anchors[e], Is.EqualTo(Derivative(problem.Anchors, e)).Within(1e-6 * (1 + Math.Abs(gradients.Anchors[e]))), $"dA[{e}]");
            for (int j = 0; j < anchorCount; j++)
                Assert.That(gradients.LogPriors[j], Is.EqualTo(Derivative(problem.LogPriors!, j)).Within(1e-6 * (1 + Math.Abs(gradients.LogPriors[j]))), $"db[{j}]");
        }
    }

    [Test]
    public void ProbabilitiesSumToOneAndTheTargetLogProbIsTheirLog()
    {
        var problem = new ZoneProblem64(3, 6, 4, 0.3, ZoneReference64.Normal(12, seed: 7), ZoneReference64.Normal(24, seed: 8), null);
        int[] targets = [5, 0, 2];
        var step = ZoneReference64.Step(problem, 0.1, targets);
        for (int i = 0; i < 3; i++)
        {
            Assert.That(step.Probabilities.Skip(i * 6).Take(6).Sum(), Is.EqualTo(1.0).Within(1e-12));
            Assert.That(step.TargetLogProb[i], Is.EqualTo(Math.Log(step.Probabilities[i * 6 + targets[i]])).Within(1e-12));
        }
    }
}
