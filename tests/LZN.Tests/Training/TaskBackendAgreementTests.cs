using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.Nn;
using LZN.Native.Training;
using LZN.Native.Zones;
using LZN.Tests.Cuda;

namespace LZN.Tests.Training;

/// <summary>
/// One training step's forward and backward of the generation task (both latent-flow solvers) and the representation task on
/// the CUDA backend (the emulated device in CI) against the CPU backend: the same loss and parameter gradients up to
/// float rounding (the two backends sum in different orders).
/// </summary>
[Category("GPU")]
public class TaskBackendAgreementTests
{
    private const int Batch = 4;

    /// <summary>Relative loss difference bound; the gradients' relative norm differences are bounded by <see cref="GradientTolerance"/>.</summary>
    private const double LossTolerance = 1e-4;

    private const double GradientTolerance = 1e-3;

    [TestCase(FlowSolver.Euler)]
    [TestCase(FlowSolver.DpmSolverPlusPlus)]
    public void AGenerationStepOnCudaMatchesTheCpu(FlowSolver solver)
    {
        var genTiny = TrainingConfig.FromPreset("gen-tiny");
        var config = genTiny with
        {
            Schedule = genTiny.Schedule with { BatchSize = Batch },
            Latent = genTiny.Latent with { Dim = 8, Steps = 6, Solver = solver },
            Data = genTiny.Data with { Source = DataSources.Synthetic },
        };
        // The latents (nearly) do not see a common shift of the anchors, so the encoder's output bias has a (nearly) zero gradient.
        CompareStep(backend => new GenerationModel(backend, config), (model, images) => model.Backward(images, step: 3), model => model.Parameters, ["encoder.fc2.bias"]);
    }

    [Test]
    public void ARepresentationStepOnCudaMatchesTheCpu()
    {
        var repTiny = TrainingConfig.FromPreset("rep-tiny");
        var config = repTiny with
        {
            Schedule = repTiny.Schedule with { BatchSize = Batch },
            Latent = repTiny.Latent with { Steps = 6, LabelSteps = 6 },
            Data = repTiny.Data with { Source = DataSources.Synthetic },
        };
        // The first convolution's bias is removed by the group norm after it, and the head's output bias shifts both
        // anchor sets alike, which neither flow sees: both gradients are zero.
        CompareStep(backend => new RepresentationModel(backend, config), (model, images) => model.Backward(images, step: 3), model => model.Parameters,
            ["backbone.conv1.bias", "head.fc2.bias"]);
    }

    /// <summary>The model on each backend, one forward and backward at step 3 on the same synthetic batch, then <see cref="Compare"/>.</summary>
    private static void CompareStep<TModel>(Func<IBackend, TModel> create, Func<TModel, float[], double> backward, Func<TModel, IEnumerable<Parameter>> parameters,
        string[] zeroGradient)
        where TModel : IDisposable
    {
        var images = SyntheticImages.Generate(Batch, 10, DataSources.SyntheticShape, seed: 3).Images; // [Batch, imageSize]
        using var cuda = CudaRequirement.CreateBackend();
        using var cpu = new CpuBackend();
        using var onCuda = create(cuda);
        using var onCpu = create(cpu);
        Compare(backward(onCpu, images), backward(onCuda, images), parameters(onCpu), parameters(onCuda), zeroGradient);
    }

    /// <summary>
    /// Asserts the losses and gradients agree; the gradients of <paramref name="zeroGradient"/> are zero in exact arithmetic,
    /// so each backend's is rounding noise: those are only required to be that (below 1e-4 of the whole gradient's norm).
    /// </summary>
    private static void Compare(double cpuLoss, double cudaLoss, IEnumerable<Parameter> cpuParameters, IEnumerable<Parameter> cudaParameters, string[] zeroGradient)
    {
        double lossDifference = Math.Abs(cudaLoss - cpuLoss) / Math.Abs(cpuLoss);
        var pairs = cpuParameters.Zip(cudaParameters, (cpu, cuda) => (cpu.Name, Cpu: cpu.Grad.ToArray(), Cuda: cuda.Grad.ToArray())).ToList();
        double Norm(float[] values) => Math.Sqrt(values.Sum(value => (double)value * value));
        double total = Math.Sqrt(pairs.Sum(pair => Norm(pair.Cpu) * Norm(pair.Cpu)));
        foreach (var (name, cpu, cuda) in pairs.Where(pair => zeroGradient.Contains(pair.Name)))
        {
            Assert.That(Norm(cpu), Is.LessThan(1e-4 * total), $"{name}: CPU gradient");
            Assert.That(Norm(cuda), Is.LessThan(1e-4 * total), $"{name}: CUDA gradient");
        }
        var gradients = pairs.Where(pair => !zeroGradient.Contains(pair.Name))
            .Select(pair => (pair.Name, Difference: TrainingFixtures.RelativeDifference(pair.Cuda, pair.Cpu))).ToList();
        foreach (var (name, difference) in gradients)
            TestContext.Out.WriteLine($"{name}: {difference:E2}");
        TestContext.Out.WriteLine($"loss {cpuLoss:G9} (CPU) vs {cudaLoss:G9} (CUDA): {lossDifference:E2}; worst gradient {gradients.Max(entry => entry.Difference):E2}");
        Assert.That(lossDifference, Is.LessThan(LossTolerance), "relative loss difference");
        Assert.That(gradients.Where(entry => !(entry.Difference < GradientTolerance)), Is.Empty, "parameter gradients whose relative norm difference is not below the bound");
    }
}
