using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Nn;

namespace LZN.Tests.Nn;

/// <summary>End to end: forward, MSE loss, backward and plain SGD (written here) drive a model to fit a few examples.</summary>
public sealed class FitTests
{
    private CpuBackend _backend = null!;

    [OneTimeSetUp]
    public void CreateBackend() => _backend = new CpuBackend();

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    [Test]
    public void MlpEncoderFitsEightExamples()
    {
        using var model = new MlpEncoder(_backend, "mlp", 64, [32], 4, seed: 1);
        var (first, last) = Fit(model, batchSize: 8, steps: 300, learningRate: 0.05f);
        Assert.That(last, Is.LessThan(first / 100), $"loss {first:G4} -> {last:G4}");
    }

    [Test]
    public void CnnEncoderFitsEightExamples()
    {
        using var model = new CnnEncoder(_backend, "cnn", new CnnEncoderConfig(1, 28, 28, 4) { Channels = [8, 16, 16], Groups = 4 }, seed: 2);
        var (first, last) = Fit(model, batchSize: 8, steps: 60, learningRate: 0.02f);
        Assert.That(last, Is.LessThan(first / 50), $"loss {first:G4} -> {last:G4}");
    }

    /// <summary>Regresses fixed random targets from fixed random inputs; returns the first and last mean squared error.</summary>
    private (double First, double Last) Fit(Layer model, int batchSize, int steps, float learningRate)
    {
        using var input = _backend.FromHost(GradientCheck.Values(batchSize * model.InputSize, 3));
        var targets = GradientCheck.Values(batchSize * model.OutputSize, 4);
        using var gradOutput = _backend.AllocateFloat(targets.Length);
        var gradient = new float[targets.Length];
        double first = double.NaN, loss = double.NaN;
        for (int step = 0; step < steps; step++)
        {
            var output = model.Forward(input, batchSize).ToArray();
            loss = 0;
            for (int i = 0; i < output.Length; i++)
            {
                double error = output[i] - targets[i];
                loss += error * error / output.Length;
                gradient[i] = (float)(2 * error / output.Length);
            }
            if (step == 0)
                first = loss;
            _backend.Upload(gradient, gradOutput);
            model.ZeroGrad();
            model.Backward(gradOutput);
            foreach (var parameter in model.Parameters)
                _backend.Axpby(-learningRate, parameter.Grad, 1f, parameter.Value);
        }
        TestContext.Out.WriteLine($"{model.GetType().Name}: MSE {first:G4} -> {loss:G4} in {steps} SGD steps.");
        return (first, loss);
    }
}
