using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;
using LZN.Native.Backends.Cpu;
using LZN.Native.IO;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// What a checkpoint must be before anything is built from it: its checksum matches, every float is finite, the
/// config is within its bounds, the step agrees with the optimiser's counters and the label anchors fit the config.
/// </summary>
public class CheckpointIntegrityTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = TrainingFixtures.TemporaryFolder("lzn-integrity-");

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    /// <summary>A checkpoint after two steps of the tiny preset.</summary>
    private string SaveFresh()
    {
        using var backend = new CpuBackend();
        using var trainer = new JointTrainer(backend, TrainingFixtures.Tiny(), TrainingFixtures.Train(), null, _folder);
        trainer.TrainStep();
        trainer.TrainStep();
        trainer.SaveCheckpoint();
        return trainer.CheckpointPath;
    }

    private string Rewrite(string path, Action<Dictionary<string, string>, List<SafeTensor>> edit, bool keepChecksum = true) =>
        CheckpointEdits.Rewrite(path, _folder, edit, keepChecksum);

    private static string ConfigWith(Dictionary<string, string> metadata, string key, JsonNode value)
    {
        CheckpointEdits.SetConfig(metadata, key, value);
        return metadata["config"];
    }

    [Test]
    public void ACheckpointCarriesTheSha256OfItsTensorBytes()
    {
        string path = SaveFresh();
        byte[] bytes = File.ReadAllBytes(path);
        int dataStart = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes.AsSpan(dataStart)));

        var info = Checkpoint.Open(path);

        Assert.That(info.File.Metadata[Checkpoint.DigestKey], Is.EqualTo(expected));
        Assert.That(info.Warnings, Is.Empty);
    }

    [Test]
    public void ABitFlippedInTheTensorsIsCaught()
    {
        string path = SaveFresh();
        byte[] bytes = File.ReadAllBytes(path);
        bytes[^100] ^= 0x10;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Open(path));
        Assert.That(error!.Message, Does.StartWith(path).And.Contain("do not match the SHA-256"));
    }

    [Test]
    public void ACheckpointWrittenBeforeChecksumsLoadsWithOneWarning()
    {
        string older = Rewrite(SaveFresh(), (metadata, _) => metadata.Remove(Checkpoint.DigestKey), keepChecksum: false);

        var info = Checkpoint.Open(older);

        Assert.That(info.Warnings, Has.Count.EqualTo(1));
        Assert.That(info.Warnings[0], Does.StartWith(older).And.Contain("written before checkpoints carried a checksum"));
        Assert.That(info.Warnings[0], Does.Not.Contain("\n"));
        Assert.That(info.Step, Is.EqualTo(2));
    }

    [TestCase("label_anchors", float.NaN, "tensor 'label_anchors' element [0, 3] is NaN")]
    [TestCase("encoder.fc1.weight", float.PositiveInfinity, "tensor 'encoder.fc1.weight' element [0, 3] is +Infinity")]
    public void ANonFiniteWeightIsRefusedNamingTheTensorAndIndex(string name, float value, string message)
    {
        string path = SaveFresh();
        Assert.That(Safetensors.Read(path).Contains(name), Is.True, $"the tiny model has a tensor '{name}'");
        string edited = Rewrite(path, (_, tensors) => CheckpointEdits.SetElement(tensors, name, 3, value));

        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Open(edited));
        Assert.That(error!.Message, Does.StartWith(edited).And.Contain(message));
    }

    [Test]
    public void ANegativeAdamSecondMomentIsRefusedNamingTheTensorAndIndex()
    {
        string path = SaveFresh();
        string second = Safetensors.Read(path).Tensors.First(tensor => tensor.Name.StartsWith("adam/v/", StringComparison.Ordinal)).Name;
        string edited = Rewrite(path, (_, tensors) => CheckpointEdits.SetElement(tensors, second, 1, -0.25f));

        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Open(edited));
        Assert.That(error!.Message, Does.StartWith(edited).And.Contain($"tensor '{second}' element [1] is negative (-0.25)"));
        Assert.That(() => Checkpoint.Open(path), Throws.Nothing, "the unedited checkpoint opens");
    }

    [Test]
    public void NanEmaStateIsRefusedSoItCannotSurviveAResume()
    {
        string path = SaveFresh();
        string shadow = Safetensors.Read(path).Tensors.First(tensor => tensor.Name.StartsWith("ema/", StringComparison.Ordinal) && tensor.DType == TensorDType.F32).Name;
        string edited = Rewrite(path, (_, tensors) => CheckpointEdits.SetElement(tensors, shadow, 0, float.NaN));
        File.Copy(edited, path, overwrite: true);

        using var backend = new CpuBackend();
        using var trainer = new JointTrainer(backend, TrainingFixtures.Tiny(), TrainingFixtures.Train(), null, _folder);
        Assert.That(() => trainer.Resume(Checkpoint.Open(path)),
            Throws.TypeOf<SafetensorsFormatException>().With.Message.Contains($"tensor '{shadow}' element [0] is NaN"));
    }

    [TestCase("latent_dim", 100_000_000, "latent_dim 100000000, which must lie in [1, 4096]")]
    [TestCase("latent_steps", 1_000_000_000, "latent_steps 1000000000, which must lie in [1, 10000]")]
    [TestCase("batch_size", 1, "batch_size 1, which must lie in [2, 8192]")]
    [TestCase("eval_batch", 1_000_000, "eval_batch 1000000, which must lie in [2, 16384]")]
    public void AConfigBeyondItsBoundsIsRefusedBeforeAnythingIsAllocated(string key, int value, string message)
    {
        string edited = Rewrite(SaveFresh(), (metadata, _) => metadata["config"] = ConfigWith(metadata, key, value));

        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Open(edited));
        Assert.That(error!.Message, Does.StartWith(edited).And.Contain($"the config in __metadata__ has {message}"));
    }

    [Test]
    public void AConfigWhoseWidthsWouldOverflowABufferIsRefused()
    {
        string edited = Rewrite(SaveFresh(), (metadata, _) => metadata["config"] = ConfigWith(metadata, "hidden_sizes", new JsonArray(16384, 16384, 16384)));
        string widened = Rewrite(edited, (metadata, _) => metadata["config"] = ConfigWith(metadata, "batch_size", 8192));
        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Open(widened));
        Assert.That(error!.Message, Does.Contain("hidden_sizes 16384,16384,16384").And.Contain("weights"));
    }

    [TestCase("99999999")]
    [TestCase("1")]
    public void AStepThatDisagreesWithTheOptimisersCountersIsRefused(string step)
    {
        string edited = Rewrite(SaveFresh(), (metadata, _) => metadata["step"] = step);

        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Open(edited));
        Assert.That(error!.Message, Does.Contain($"__metadata__ step {step} does not match the optimiser's counters (2 applied + 0 skipped steps)"));
    }

    [Test]
    public void LabelAnchorsThatDoNotFitTheConfigAreRefused()
    {
        string edited = Rewrite(SaveFresh(), (metadata, _) => metadata["config"] = ConfigWith(metadata, "latent_dim", 32));

        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Open(edited));
        Assert.That(error!.Message, Does.Contain("tensor 'label_anchors' is F32 [10, 16], but the config in __metadata__ needs F32 [class_count 10, latent_dim 32]"));
    }

    [Test]
    public void AResumePastTheRunsLastStepIsRefused()
    {
        using var backend = new CpuBackend();
        string path;
        using (var trainer = new JointTrainer(backend, TrainingFixtures.Tiny(epochs: 2), TrainingFixtures.Train(), null, _folder))
        {
            for (int i = 0; i < 6; i++)
                trainer.TrainStep();
            trainer.SaveCheckpoint();
            path = trainer.CheckpointPath;
        }
        using var shorter = new JointTrainer(backend, TrainingFixtures.Tiny(epochs: 1), TrainingFixtures.Train(), null, _folder);
        Assert.That(() => shorter.Resume(Checkpoint.Open(path)),
            Throws.TypeOf<SafetensorsFormatException>().With.Message.Contains("the checkpoint is at step 6, past this run's last step 4"));
    }

    [Test]
    public void TheCheckpointsConfigIsPlainJsonOtherToolsRead()
    {
        using var document = JsonDocument.Parse(Checkpoint.Open(SaveFresh()).File.Metadata["config"]);
        Assert.That(document.RootElement.GetProperty("latent_dim").GetInt32(), Is.EqualTo(16));
    }

    private static SafeTensor Renamed(SafeTensor tensor, string name) => new(name, tensor.DType, tensor.Shape, tensor.Data);

    [TestCase("dtype", "is I32; a checkpoint stores it as F32")]
    [TestCase("state-shape", "the state of 'label_anchors' is [160]")]
    [TestCase("orphan-state", "is state of a parameter 'nothing' the file does not hold")]
    [TestCase("missing-state", "parameter 'label_anchors' has no optimiser state 'adam/v/label_anchors'")]
    [TestCase("stranger", "tensor 'adam/extra' is no state a checkpoint holds")]
    [TestCase("group-step", "counter 'adam/step/decoder' (5) is past the optimiser's 2 applied steps")]
    public void TheLayoutSaveWritesIsCheckedWhenOpened(string edit, string message)
    {
        string edited = Rewrite(SaveFresh(), (_, tensors) =>
        {
            int Index(string name) => tensors.FindIndex(t => t.Name == name);
            switch (edit)
            {
                case "dtype":
                    var moment = tensors[Index("adam/m/label_anchors")];
                    tensors[Index("adam/m/label_anchors")] = new SafeTensor(moment.Name, TensorDType.I32, moment.Shape, moment.Data);
                    break;
                case "state-shape":
                    var shadow = tensors[Index("ema/label_anchors")];
                    tensors[Index("ema/label_anchors")] = new SafeTensor(shadow.Name, shadow.DType, [10, 16], shadow.Data);
                    break;
                case "orphan-state":
                    tensors.Add(Renamed(tensors[Index("adam/m/label_anchors")], "adam/m/nothing"));
                    break;
                case "missing-state":
                    tensors.RemoveAt(Index("adam/v/label_anchors"));
                    break;
                case "stranger":
                    tensors.Add(Renamed(tensors[Index("adam/m/label_anchors")], "adam/extra"));
                    break;
                case "group-step":
                    tensors[Index("adam/step/decoder")] = SafeTensor.FromInt64("adam/step/decoder", [5], 1);
                    break;
            }
        });

        var error = Assert.Throws<SafetensorsFormatException>(() => Checkpoint.Open(edited));
        Assert.That(error!.Message, Does.StartWith(edited).And.Contain(message));
    }

    [Test]
    public void AConfigNamingAKeyTwiceIsRefused()
    {
        string edited = Rewrite(SaveFresh(), (metadata, _) => metadata["config"] = metadata["config"].Replace("{", "{\"latent_dim\": 16, ", StringComparison.Ordinal));
        Assert.That(() => Checkpoint.Open(edited), Throws.TypeOf<SafetensorsFormatException>().With.Message.Contains("training config names 'latent_dim' twice"));
    }
}
