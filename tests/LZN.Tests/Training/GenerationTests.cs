using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.Training;
using LZN.Native.Zones;

namespace LZN.Tests.Training;

/// <summary>
/// The generation task: its gradient (rectified-flow loss through the decoder, the latent flow and the encoder) against
/// central differences with either solver of the latent flow, the zero-latent baseline, exact resume, sampling, the
/// reconstruction round trip and the solver the config records.
/// </summary>
public class GenerationTests
{
    private const float Epsilon = 5e-4f;

    /// <summary>gen-tiny at batch 8 on synthetic images (4 steps per epoch with 32 images).</summary>
    private static TrainingConfig WithSolver(TrainingConfig config, FlowSolver solver, int order = 3) =>
        config with { Latent = config.Latent with { Solver = solver, SolverOrder = order } };

    private static TrainingConfig Small(int epochs = 1)
    {
        var genTiny = TrainingConfig.FromPreset("gen-tiny");
        return genTiny with
        {
            Schedule = genTiny.Schedule with { BatchSize = 8, Epochs = epochs, CheckpointEvery = 0, LogEvery = 1, EvalBatch = 16 },
            Latent = genTiny.Latent with { Dim = 8, Steps = 8 },
            Data = genTiny.Data with { Source = DataSources.Synthetic },
        };
    }

    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = TrainingFixtures.TemporaryFolder("lzn-generation-");

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [TestCase("encoder.fc1.weight", FlowSolver.Euler, 3)]
    [TestCase("encoder.fc2.weight", FlowSolver.Euler, 3)]
    [TestCase("decoder.out.bias", FlowSolver.Euler, 3)]
    [TestCase("encoder.fc1.weight", FlowSolver.DpmSolverPlusPlus, 3)]
    [TestCase("encoder.fc2.weight", FlowSolver.DpmSolverPlusPlus, 1)]
    [TestCase("encoder.fc2.weight", FlowSolver.DpmSolverPlusPlus, 2)]
    [TestCase("encoder.fc2.weight", FlowSolver.DpmSolverPlusPlus, 3)]
    public void TheGradientMatchesCentralDifferences(string parameterName, FlowSolver solver, int order)
    {
        using var backend = new CpuBackend();
        using var model = new GenerationModel(backend, WithSolver(Small(), solver, order));
        var images = SyntheticImages.Generate(8, 10, DataSources.SyntheticShape, seed: 3).Images; // [8, imageSize]
        var parameter = model.Parameters.Single(p => p.Name == parameterName);
        double Loss()
        {
            foreach (var p in model.Parameters)
                p.ZeroGrad();
            return model.Backward(images, step: 3);
        }

        Loss();
        CentralDifferences.AssertMatches(backend, parameter, parameter.Grad.ToArray(), Loss, Epsilon);
    }

    [Test]
    public void TheBaselineZeroesTheLatentAndLeavesTheEncoderUntrained()
    {
        using var backend = new CpuBackend();
        var images = SyntheticImages.Generate(8, 10, DataSources.SyntheticShape, seed: 3).Images; // [8, imageSize]
        using var lzn = new GenerationModel(backend, Small());
        var small = Small();
        using var baseline = new GenerationModel(backend, small with { Decoder = small.Decoder with { ZeroLatent = true } });
        Assert.That(baseline.Parameters.Sum(p => p.Length), Is.EqualTo(lzn.Parameters.Sum(p => p.Length)), "one option apart: the same parameters");
        foreach (var p in baseline.Parameters)
            p.ZeroGrad();
        double loss = baseline.Backward(images, step: 3);
        Assert.That(baseline.Encoder.Parameters.All(p => p.Grad.ToArray().All(g => g == 0)), "the encoder is not run");
        Assert.That(baseline.Decoder.Parameters.Any(p => p.Grad.ToArray().Any(g => g != 0)));
        Assert.That(loss, Is.Not.EqualTo(lzn.Backward(images, step: 3)), "the latent reaches the decoder");
        var tiny = TrainingFixtures.Tiny();
        Assert.That(() => (tiny with { Decoder = tiny.Decoder with { ZeroLatent = true } }).Validate(), Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("latent"));
    }

    [TestCase(FlowSolver.Euler)]
    [TestCase(FlowSolver.DpmSolverPlusPlus)]
    public void AnInterruptedAndResumedRunRepeatsTheUninterruptedOneExactly(FlowSolver solver)
    {
        using var backend = new CpuBackend();
        var config = WithSolver(Small(epochs: 2), solver);
        var train = TrainingFixtures.Train(32);
        var straightLosses = new List<JointLosses>();
        float[][] straightParameters;
        TrainingResult straight, resumed;
        using (var trainer = new GenerationTrainer(backend, config, train, null, Path.Combine(_folder, "straight")))
        {
            straight = trainer.Run(CancellationToken.None, progress => straightLosses.Add(progress.Losses));
            straightParameters = [.. trainer.Parameters.Select(parameter => parameter.Value.ToArray())];
        }
        string split = Path.Combine(_folder, "split");
        var splitLosses = new List<JointLosses>();
        using (var cancellation = new CancellationTokenSource())
        using (var first = new GenerationTrainer(backend, config, train, null, split))
        {
            first.Run(cancellation.Token, progress =>
            {
                splitLosses.Add(progress.Losses);
                if (progress.Step == 3)
                    cancellation.Cancel();
            });
        }
        float[][] resumedParameters;
        using (var second = new GenerationTrainer(backend, config, train, null, split))
        {
            second.Resume(Checkpoint.Open(second.CheckpointPath));
            resumed = second.Run(CancellationToken.None, progress => splitLosses.Add(progress.Losses));
            resumedParameters = [.. second.Parameters.Select(parameter => parameter.Value.ToArray())];
        }
        Assert.That(straightLosses, Has.Count.EqualTo(8));
        Assert.That(splitLosses, Is.EqualTo(straightLosses));
        for (int i = 0; i < straightParameters.Length; i++)
            Assert.That(resumedParameters[i], Is.EqualTo(straightParameters[i]), $"parameter {i}");
        // The interruption at step 3 fell inside epoch 0: its means still cover all 4 of its steps.
        Assert.That(TrainingFixtures.WithoutTimes(resumed.Epochs), Is.EqualTo(TrainingFixtures.WithoutTimes(straight.Epochs)));
        var stored = Checkpoint.Open(Path.Combine(split, JointTrainer.CheckpointFileName)).Config;
        Assert.That((stored.Task, stored.Latent.Solver), Is.EqualTo((TrainingTask.Generation, solver)));
    }

    /// <summary>
    /// The solver is part of the config: DPM-Solver++ and its order survive JSON, an Euler config is written without
    /// the keys (so older checkpoints read as Euler, byte for byte), and a resume with the other solver is refused.
    /// </summary>
    [Test]
    public void TheLatentSolverIsRecordedAndAResumeMustMatchIt()
    {
        var euler = Small();
        var dpm = WithSolver(euler, FlowSolver.DpmSolverPlusPlus, 2);
        var back = TrainingConfig.FromJson(dpm.ToJson());
        Assert.That((back.Latent.Solver, back.Latent.SolverOrder), Is.EqualTo((FlowSolver.DpmSolverPlusPlus, 2)));
        Assert.That(euler.ToJson(), Does.Not.Contain("latent_solver"));
        Assert.That(TrainingConfig.FromJson(euler.ToJson()).Latent.Solver, Is.EqualTo(FlowSolver.Euler));
        Assert.That(dpm.ResumeMismatch(euler), Is.EqualTo("latent_solver is absent (its default) in the checkpoint but \"dpm\" here"));
        Assert.That(euler.ResumeMismatch(dpm), Is.EqualTo("latent_solver is \"dpm\" in the checkpoint but absent (its default) here"));
        Assert.That(dpm.ResumeMismatch(WithSolver(dpm, FlowSolver.DpmSolverPlusPlus, 3)), Does.StartWith("latent_solver_order is 3 in the checkpoint but 2 here"));
        Assert.That(() => WithSolver(TrainingFixtures.Tiny(), FlowSolver.DpmSolverPlusPlus).Validate(),
            Throws.InstanceOf<TrainingConfigException>().With.Message.Contains("latent_solver dpm: applies to the generation task only"));
        Assert.That(() => (dpm with { Decoder = dpm.Decoder with { ZeroLatent = true } }).Validate(), Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("latent_solver"));
        Assert.That(() => WithSolver(euler, FlowSolver.Euler, 2).Validate(), Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("latent_solver_order"));
        Assert.That(() => WithSolver(dpm, FlowSolver.DpmSolverPlusPlus, 4).Validate(), Throws.InstanceOf<TrainingConfigException>().With.Message.Contains("must lie in [1, 3]"));
    }

    /// <summary>The reconstruction protocol encodes with the solver the model was trained with: DPM-Solver++ gives other latents.</summary>
    [Test]
    public void ReconstructionEncodesWithTheConfigsSolver()
    {
        using var backend = new CpuBackend();
        var images = SyntheticImages.Generate(20, 10, DataSources.SyntheticShape, seed: 3).Images; // [20, imageSize]
        using var euler = new GenerationModel(backend, Small());
        using var dpm = new GenerationModel(backend, WithSolver(Small(), FlowSolver.DpmSolverPlusPlus));
        Assert.That(dpm.Reconstruct(images, 20, seed: 1), Is.Not.EqualTo(euler.Reconstruct(images, 20, seed: 1)));
    }

    /// <summary>Samples conditioned on encoded images are seeded, differ from prior-latent samples, and the baseline has no latents to encode.</summary>
    [Test]
    public void SamplesFromEncodedLatentsAreSeededAndTheBaselineRefusesThem()
    {
        using var backend = new CpuBackend();
        using var model = new GenerationModel(backend, Small());
        var images = SyntheticImages.Generate(6, 10, DataSources.SyntheticShape, seed: 3).Images; // [6, imageSize]
        var (samples, latents) = model.GenerateFromEncoded(images, 6, seed: 7);
        Assert.That((samples.Length, latents.Length), Is.EqualTo((images.Length, 6 * model.Config.Latent.Dim)));
        Assert.That(samples.All(float.IsFinite) && latents.All(float.IsFinite), Is.True);
        var again = model.GenerateFromEncoded(images, 6, seed: 7);
        Assert.That((again.Samples, again.Latents), Is.EqualTo((samples, latents)));
        Assert.That(model.Generate(6, seed: 7), Is.Not.EqualTo(samples), "prior latents are other latents");
        using var baseline = new GenerationModel(backend, Small() with { Decoder = Small().Decoder with { ZeroLatent = true } });
        Assert.That(() => baseline.GenerateFromEncoded(images, 6, seed: 7), Throws.InvalidOperationException);
    }

    [Test]
    public void SamplesAreSeededAndReconstructionReturnsImagesOfTheSameShape()
    {
        using var backend = new CpuBackend();
        using var model = new GenerationModel(backend, Small());
        var first = model.Generate(5, seed: 7);
        Assert.That(first, Has.Length.EqualTo(5 * DataSources.SyntheticShape.Size));
        Assert.That(model.Generate(5, seed: 7), Is.EqualTo(first));
        Assert.That(model.Generate(5, seed: 8), Is.Not.EqualTo(first));
        var images = SyntheticImages.Generate(20, 10, DataSources.SyntheticShape, seed: 3).Images; // [20, imageSize]
        var regenerated = model.Reconstruct(images, 20, seed: 1);
        Assert.That(regenerated, Has.Length.EqualTo(images.Length));
        Assert.That(regenerated.All(float.IsFinite), Is.True);
        Assert.That(model.Reconstruct(images, 20, seed: 1), Is.EqualTo(regenerated), "the protocol is deterministic");
        var (l2, psnr) = GenerationModel.ReconstructionScores(images, images, 20);
        Assert.That((l2, psnr), Is.EqualTo((0.0, 120.0)), "a perfect reconstruction: L2 0, PSNR at the 1e-12 MSE floor");
        // Every pixel off by 0.2 in [-1, 1]: L2 = 0.2 sqrt(784) = 5.6, MSE on [0, 1] = 0.01, PSNR 20 dB.
        var shifted = images.Select(value => value + 0.2f).ToArray();
        var (shiftedL2, shiftedPsnr) = GenerationModel.ReconstructionScores(images, shifted, 20);
        Assert.That(shiftedL2, Is.EqualTo(5.6).Within(1e-4));
        Assert.That(shiftedPsnr, Is.EqualTo(20.0).Within(1e-4));
    }
}
