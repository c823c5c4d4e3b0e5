using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.IO;
using LZN.Native.Training;
using LZN.Native.Zones;

namespace LZN.Tests.Training;

/// <summary>Checkpoints: a round trip restores model and optimiser state; corrupt or mismatching files are rejected naming the file.</summary>
public class CheckpointTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = TrainingFixtures.TemporaryFolder("lzn-checkpoint-");

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void ARoundTripRestoresEveryParameterTheOptimiserAndTheStep()
    {
        using var backend = new CpuBackend();
        var config = TrainingFixtures.Tiny();
        using var trainer = new JointTrainer(backend, config, TrainingFixtures.Train(), null, _folder);
        trainer.TrainStep();
        trainer.TrainStep();
        trainer.SaveCheckpoint();

        var info = Checkpoint.Open(trainer.CheckpointPath);
        Assert.That(info.Step, Is.EqualTo(2));
        Assert.That(info.Config, Is.EqualTo(config).Using<TrainingConfig>((a, b) => a.ToJson() == b.ToJson()));
        Assert.That(info.File.Metadata["rng"], Is.EqualTo(Checkpoint.RngDescription));
        using var restored = new JointTrainer(backend, info.Config, TrainingFixtures.Train(), null, _folder);
        restored.Resume(info);
        Assert.That(restored.Step, Is.EqualTo(2));
        Assert.That(restored.Training.Optimizer.Iteration, Is.EqualTo(2));
        Assert.That(restored.Training.Ema!.UpdateCount, Is.EqualTo(2));
        foreach (var (original, copy) in trainer.Model.Parameters.Zip(restored.Model.Parameters))
        {
            Assert.That(copy.Name, Is.EqualTo(original.Name));
            Assert.That(copy.Value.ToArray(), Is.EqualTo(original.Value.ToArray()), original.Name);
            Assert.That(restored.Training.Optimizer.Moments(copy.Name).First.ToArray(),
                Is.EqualTo(trainer.Training.Optimizer.Moments(original.Name).First.ToArray()), original.Name);
            Assert.That(restored.Training.Ema.Shadow(copy.Name).ToArray(), Is.EqualTo(trainer.Training.Ema!.Shadow(original.Name).ToArray()), original.Name);
        }
    }

    [Test]
    public void ATrainerRemovesTheCheckpointTemporaryOfAKilledRunAndKeepsTheCheckpoint()
    {
        using var backend = new CpuBackend();
        string checkpoint = Path.Combine(_folder, JointTrainer.CheckpointFileName);
        File.WriteAllBytes(checkpoint, [1, 2, 3]);
        // What a second Ctrl-C during a save leaves: a half-written sibling of a process that no longer runs.
        File.WriteAllBytes($"{checkpoint}.tmp-{int.MaxValue}-{Guid.NewGuid():N}", [4]);

        using var trainer = new JointTrainer(backend, TrainingFixtures.Tiny(), TrainingFixtures.Train(), null, _folder);

        Assert.That(Directory.GetFiles(_folder), Is.EqualTo(new[] { checkpoint }));
        Assert.That(File.ReadAllBytes(checkpoint), Is.EqualTo(new byte[] { 1, 2, 3 }));
    }

    [Test]
    public void TheEmaWeightsLoadInsteadOfTheTrainedOnesOnRequest()
    {
        using var backend = new CpuBackend();
        using var trainer = new JointTrainer(backend, TrainingFixtures.Tiny(), TrainingFixtures.Train(), null, _folder);
        trainer.TrainStep();
        trainer.TrainStep();
        trainer.SaveCheckpoint();
        var info = Checkpoint.Open(trainer.CheckpointPath);
        using var model = new JointModel(backend, info.Config);
        Checkpoint.LoadModel(info, model, useEma: true);
        foreach (var (trained, loaded) in trainer.Model.Parameters.Zip(model.Parameters))
        {
            Assert.That(loaded.Value.ToArray(), Is.EqualTo(trainer.Training.Ema!.Shadow(trained.Name).ToArray()), trained.Name);
            Assert.That(loaded.Value.ToArray(), Is.Not.EqualTo(trained.Value.ToArray()), trained.Name + " moved away from its shadow");
        }
    }

    [Test]
    public void ATruncatedFileIsRejectedNamingIt()
    {
        string path = SaveFresh();
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length - 100).ToArray());
        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Open(path));
        Assert.That(error!.Message, Does.Contain(path));
    }

    [Test]
    public void AFileWithoutTheCheckpointMetadataIsRejectedNamingIt()
    {
        string path = Path.Combine(_folder, "plain.safetensors");
        Safetensors.Write(path, [SafeTensor.FromFloat32("x", [1f, 2f], 2)]);
        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Open(path));
        Assert.That(error!.Message, Does.Contain(path).And.Contain("format"));
    }

    [Test]
    public void ACheckpointOfAnotherShapeIsRejectedNamingTheTensor()
    {
        string path = SaveFresh();
        var info = Checkpoint.Open(path);
        using var backend = new CpuBackend();
        using var other = new JointModel(backend, info.Config with { Latent = info.Config.Latent with { Dim = info.Config.Latent.Dim + 1 } });
        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.LoadModel(info, other));
        Assert.That(error!.Message, Does.Contain(path).And.Contain("encoder.fc2.weight"));
    }

    [Test]
    public void ResumingWithAnotherConfigIsRejectedNamingTheField()
    {
        string path = SaveFresh();
        using var backend = new CpuBackend();
        var tiny = TrainingFixtures.Tiny();
        using var trainer = new JointTrainer(backend, tiny with { Optimizer = tiny.Optimizer with { DecoderLearningRate = 0.5 } }, TrainingFixtures.Train(), null, _folder);
        var error = Assert.Throws<SafetensorsFormatException>(() => trainer.Resume(Checkpoint.Open(path)));
        Assert.That(error!.Message, Does.Contain(path).And.Contain("decoder_lr"));
    }

    [Test]
    public void AMissingOptimiserTensorIsRejectedNamingTheFile()
    {
        string path = SaveFresh();
        var file = Safetensors.Read(path);
        string damaged = Path.Combine(_folder, "damaged.safetensors");
        var kept = file.Tensors.Where(tensor => tensor.Name != "adam/m/label_anchors").ToList();
        // A consistent checksum, so the missing tensor itself is what is reported.
        var metadata = new Dictionary<string, string>(file.Metadata) { [Checkpoint.DigestKey] = Safetensors.DataSha256(kept) };
        Safetensors.Write(damaged, kept, metadata);
        using var backend = new CpuBackend();
        using var trainer = new JointTrainer(backend, TrainingFixtures.Tiny(), TrainingFixtures.Train(), null, _folder);
        var error = Assert.Throws<SafetensorsFormatException>(() => trainer.Resume(Checkpoint.Open(damaged)));
        Assert.That(error!.Message, Does.Contain(damaged).And.Contain("adam/m/label_anchors"));
    }

    [Test]
    public void TheWidePresetIsTheDefaultWithAWiderMlp()
    {
        var wide = TrainingConfig.FromPreset("mlp-wide");
        Assert.That(wide.Encoder.HiddenSizes, Is.EqualTo(new[] { 1024, 512 }));
        var asDefault = wide with { Preset = TrainingConfig.DefaultPreset, Encoder = wide.Encoder with { HiddenSizes = TrainingConfig.FromPreset(TrainingConfig.DefaultPreset).Encoder.HiddenSizes } };
        Assert.That(asDefault.ToJson(), Is.EqualTo(TrainingConfig.FromPreset(TrainingConfig.DefaultPreset).ToJson()));
        using var backend = new CpuBackend();
        using var model = new JointModel(backend, wide);
        Assert.That(model.Encoder.ParameterCount, Is.EqualTo(784 * 1024 + 1024 + 1024 * 512 + 512 + 512 * 64 + 64));
    }

    [Test]
    public void TheDeepCnnPresetIsTheCnnWithTheMeasuredRecipe()
    {
        var deep = TrainingConfig.FromPreset("cnn-deep");
        var cnn = TrainingConfig.FromPreset("cnn");
        var asCnn = deep with
        {
            Preset = "cnn",
            Encoder = deep.Encoder with { Depth = 1, Dropout = 0 },
            Decoder = deep.Decoder with { Channels = cnn.Decoder.Channels },
            Augmentation = deep.Augmentation with { Flip = false, Shift = 0 },
        };
        Assert.That(asCnn.ToJson(), Is.EqualTo(cnn.ToJson()));
        using var backend = new CpuBackend();
        using var model = new JointModel(backend, deep);
        Assert.That(model.Encoder.ParameterCount, Is.EqualTo(688_800));
        Assert.That(model.Encoder.Dropouts.Single().Name, Is.EqualTo("encoder.drop"));
    }

    [Test]
    public void TheCnnEncoderTakesItsChannelsFromTheConfig()
    {
        using var backend = new CpuBackend();
        var cnn = TrainingConfig.FromPreset("cnn");
        using var model = new JointModel(backend, cnn with { Encoder = cnn.Encoder with { Channels = [8, 16] } });
        var parameters = model.Encoder.Parameters.ToDictionary(p => p.Name);
        Assert.That(parameters.Keys, Does.Contain("encoder.conv2.weight").And.Not.Contain("encoder.conv3.weight"));
        Assert.That(parameters["encoder.fc.weight"].Length, Is.EqualTo(16 * 14 * 14 * 64), "two stages: 16 channels at 14 x 14 feed the head");
        Assert.That(() => (cnn with { Encoder = cnn.Encoder with { Channels = [32, 12] } }).Validate(),
            Throws.TypeOf<TrainingConfigException>().With.Message.Contains("encoder_channels 32,12: must be multiples of the CNN's 8 GroupNorm groups"));
    }

    [Test]
    public void TheConfigSurvivesJsonExactly()
    {
        foreach (string preset in TrainingConfig.Presets.Keys)
        {
            var presetConfig = TrainingConfig.FromPreset(preset);
            var config = presetConfig with { Seed = ulong.MaxValue, Data = presetConfig.Data with { TrainLimit = 7 } };
            var read = TrainingConfig.FromJson(config.ToJson());
            Assert.That(read.ToJson(), Is.EqualTo(config.ToJson()), preset);
            Assert.That(config.ResumeMismatch(read with { Schedule = read.Schedule with { Epochs = 9 } }), Is.Null, preset);
        }
    }

    [Test]
    public void RecipeFieldsSurviveJsonAndOlderConfigsReadAsTheReferenceSettings()
    {
        var tiny = TrainingConfig.FromPreset("tiny");
        var config = tiny with
        {
            Loss = tiny.Loss with { Label = AssignmentLossKind.CrossEntropy },
            Optimizer = tiny.Optimizer with { LearningRateDecay = LearningRateDecay.Cosine },
            Augmentation = tiny.Augmentation with { Flip = true, Shift = 3 },
            Encoder = tiny.Encoder with { Dropout = 0.35f, Channels = [16, 48], Depth = 3 },
        };
        var back = TrainingConfig.FromJson(config.ToJson());
        Assert.That((back.Loss.Label, back.Optimizer.LearningRateDecay, back.Augmentation.Flip, back.Augmentation.Shift, back.Encoder.Dropout),
            Is.EqualTo((AssignmentLossKind.CrossEntropy, LearningRateDecay.Cosine, true, 3, 0.35f)));
        Assert.That(config.ResumeMismatch(back with { Encoder = back.Encoder with { Dropout = 0 } }), Does.StartWith("encoder_dropout"));
        Assert.That(back.Encoder.Channels, Is.EqualTo(new[] { 16, 48 }));
        Assert.That(back.Encoder.Depth, Is.EqualTo(3));
        Assert.That(config.ResumeMismatch(back with { Encoder = back.Encoder with { Depth = 1 } }), Does.StartWith("encoder_depth"));
        Assert.That(config.ResumeMismatch(back with { Loss = back.Loss with { Label = AssignmentLossKind.Probability } }), Does.StartWith("label_loss"));
        Assert.That(TrainingConfig.FromJson((config with { Decoder = config.Decoder with { LatentNoiseScale = 0.45f } }).ToJson()).Decoder.LatentNoiseScale, Is.EqualTo(0.45f));
        Assert.That(back.Decoder.LatentNoiseScale, Is.Null, "shared latents stay shared");
        Assert.That(config.ResumeMismatch(back with { Decoder = back.Decoder with { LatentNoiseScale = 1f } }), Does.StartWith("decoder_latent_noise_scale"));
        foreach (var kind in Enum.GetValues<AssignmentLossKind>())
            Assert.That(TrainingConfig.FromJson((config with { Loss = config.Loss with { Label = kind } }).ToJson()).Loss.Label, Is.EqualTo(kind), $"{kind} round trip");

        var older = System.Text.Json.Nodes.JsonNode.Parse(config.ToJson())!.AsObject();
        older.Remove("label_loss");
        older.Remove("lr_decay");
        older.Remove("augment_flip");
        older.Remove("augment_shift");
        older.Remove("decoder_latent_noise_scale");
        older.Remove("encoder_dropout");
        older.Remove("encoder_channels");
        older.Remove("encoder_depth");
        var read = TrainingConfig.FromJson(older.ToJsonString());
        Assert.That((read.Loss.Label, read.Optimizer.LearningRateDecay, read.Augmentation.Flip, read.Augmentation.Shift, read.Decoder.LatentNoiseScale, read.Encoder.Dropout),
            Is.EqualTo((AssignmentLossKind.Probability, LearningRateDecay.Constant, false, 0, (float?)null, 0f)));
        Assert.That(read.Encoder.Channels, Is.EqualTo(new[] { 32, 64, 128 }), "older configs had the fixed 32/64/128 trunk");
        Assert.That(read.Encoder.Depth, Is.EqualTo(1), "and one convolution per stage");

        older["label_loss"] = "hinge";
        Assert.That(() => TrainingConfig.FromJson(older.ToJsonString()), Throws.TypeOf<FormatException>().With.Message.Contains("label_loss 'hinge'"));
    }

    [Test]
    public void CosineDecayBringsTheLastStepsRateToNearZero()
    {
        using var backend = new CpuBackend();
        var tiny = TrainingFixtures.Tiny(epochs: 2);
        using var trainer = new JointTrainer(backend, tiny with { Optimizer = tiny.Optimizer with { WarmupSteps = 0, LearningRateDecay = LearningRateDecay.Cosine } },
            TrainingFixtures.Train(), null, _folder);
        var factors = Enumerable.Range(0, (int)trainer.TotalSteps).Select(_ => trainer.TrainStep().Result.LearningRateFactor).ToArray();
        double[] expected = [.. Enumerable.Range(0, factors.Length).Select(n => 0.5 * (1 + Math.Cos(Math.PI * n / factors.Length)))];
        Assert.That(factors, Is.EqualTo(expected).Within(1e-12));
    }

    private string SaveFresh()
    {
        using var backend = new CpuBackend();
        using var trainer = new JointTrainer(backend, TrainingFixtures.Tiny(), TrainingFixtures.Train(), null, _folder);
        trainer.TrainStep();
        trainer.SaveCheckpoint();
        return trainer.CheckpointPath;
    }
}
