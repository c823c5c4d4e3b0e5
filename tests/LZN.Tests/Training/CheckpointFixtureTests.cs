using System.Buffers.Binary;
using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.IO;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// Checkpoints written by the code of their day (format lzn-joint/1, with its checksum), one per task, committed under
/// Fixtures/: every later build must still open them, load them without changing a bit, and resume from them
/// deterministically. The numbers a resumed run computes are not pinned (kernels may round differently tomorrow); what
/// is pinned is the format.
/// </summary>
[TestFixtureSource(nameof(Tasks))]
public class CheckpointFixtureTests(TrainingTask task)
{
    private const int FixtureSteps = 3;

    public static IEnumerable<TrainingTask> Tasks => Enum.GetValues<TrainingTask>();

    private string FileName => $"checkpoint-lzn-{TrainingConfig.TaskName(task)}-1.safetensors";

    private string FixturePath => Path.Combine(AppContext.BaseDirectory, "Fixtures", FileName);

    /// <summary>
    /// The run that wrote the fixture: a small model of the task on synthetic images, narrowed so each checkpoint
    /// (weights, Adam moments and EMA) stays near 500 KB.
    /// </summary>
    private TrainingConfig FixtureConfig
    {
        get
        {
            var repTiny = TrainingConfig.FromPreset("rep-tiny");
            var genTiny = TrainingConfig.FromPreset("gen-tiny");
            var joint = TrainingFixtures.SmallJoint;
            return task switch
            {
                TrainingTask.Representation => repTiny with
                {
                    Schedule = repTiny.Schedule with { BatchSize = 8, Epochs = 2, CheckpointEvery = 0, LogEvery = 1, EvalBatch = 16 },
                    Encoder = repTiny.Encoder with { Channels = [8, 8] },
                    Representation = repTiny.Representation with { FeatureDim = 8, ProjectionHidden = 8 },
                    Latent = repTiny.Latent with { Dim = 8 },
                    Data = repTiny.Data with { Source = DataSources.Synthetic },
                },
                TrainingTask.Generation => genTiny with
                {
                    Schedule = genTiny.Schedule with { BatchSize = 8, Epochs = 2, CheckpointEvery = 0, LogEvery = 1, EvalBatch = 16 },
                    Encoder = genTiny.Encoder with { HiddenSizes = [16] },
                    Latent = genTiny.Latent with { Dim = 8, Steps = 8 },
                    Decoder = genTiny.Decoder with { Channels = 4 },
                    Data = genTiny.Data with { Source = DataSources.Synthetic },
                },
                _ => joint with
                {
                    Decoder = joint.Decoder with { Channels = 4, Groups = 4 },
                    Schedule = joint.Schedule with { Epochs = 2, CheckpointEvery = 0, LogEvery = 1, EvalBatch = 32 },
                },
            };
        }
    }

    /// <summary>The joint fixture trains on 64 images (8 steps per epoch), the others on 32 (4 steps per epoch).</summary>
    private ImageDataset Data => TrainingFixtures.Train(task == TrainingTask.Joint ? 64 : 32);

    private ITaskTrainer Trainer(IBackend backend, TrainingConfig config, string folder) => task switch
    {
        TrainingTask.Representation => new RepresentationTrainer(backend, config, Data, null, folder),
        TrainingTask.Generation => new GenerationTrainer(backend, config, Data, null, folder),
        _ => new JointTrainer(backend, config, Data, null, folder),
    };

    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = TrainingFixtures.TemporaryFolder("lzn-fixture-");

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void TheCommittedCheckpointOpensWithItsConfigStepAndChecksum()
    {
        var info = Checkpoint.Open(FixturePath);

        Assert.That(info.Warnings, Is.Empty, "the fixture carries its checksum");
        Assert.That(info.Step, Is.EqualTo(FixtureSteps));
        Assert.That(info.Config.Task, Is.EqualTo(task));
        Assert.That(info.Config.ToJson(), Is.EqualTo(FixtureConfig.ToJson()));
        // Today's writer still writes the config's JSON byte for byte as the fixture holds it.
        Assert.That(info.File.Metadata["config"], Is.EqualTo(FixtureConfig.ToJson()));
        Assert.That(info.File.Metadata["format"], Is.EqualTo(Checkpoint.Format));
    }

    [Test]
    public void LoadingAndSavingAgainChangesNoBitOfTheTensors()
    {
        var info = Checkpoint.Open(FixturePath);
        using var backend = new CpuBackend();
        using var trainer = Trainer(backend, info.Config, _folder);
        trainer.Resume(info);
        trainer.SaveCheckpoint();

        Assert.That(DataSection(File.ReadAllBytes(trainer.CheckpointPath)), Is.EqualTo(DataSection(File.ReadAllBytes(FixturePath))));
        Assert.That(Checkpoint.Open(trainer.CheckpointPath).File.Metadata[Checkpoint.DigestKey], Is.EqualTo(info.File.Metadata[Checkpoint.DigestKey]));
    }

    [Test]
    public void TwoResumesFromTheFixtureContinueIdentically()
    {
        using var backend = new CpuBackend();
        float[][] Resume(string folder)
        {
            using var trainer = Trainer(backend, FixtureConfig, folder);
            trainer.Resume(Checkpoint.Open(FixturePath));
            var result = TrainingLoop.Run(trainer, CancellationToken.None);
            Assert.That((result.Completed, result.Step), Is.EqualTo((true, trainer.TotalSteps)));
            Assert.That(trainer.TotalSteps, Is.GreaterThan(FixtureSteps), "the resumed run trains");
            return [.. trainer.Parameters.Select(parameter => parameter.Value.ToArray())];
        }

        var first = Resume(Path.Combine(_folder, "a"));
        var second = Resume(Path.Combine(_folder, "b"));

        Assert.That(second, Is.EqualTo(first));
    }

    /// <summary>Writes the fixture anew; run by name only when the checkpoint format changes on purpose (then bump Checkpoint.Format).</summary>
    [Test]
    [Explicit("rewrites the task's checkpoint-lzn-TASK-1.safetensors under tests/LZN.Tests/Training/Fixtures in the source tree")]
    public void WriteTheFixture()
    {
        using var backend = new CpuBackend();
        using var trainer = Trainer(backend, FixtureConfig, _folder);
        for (int step = 0; step < FixtureSteps; step++)
            trainer.TrainStep();
        trainer.SaveCheckpoint();
        string source = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "Training", "Fixtures", FileName));
        File.Copy(trainer.CheckpointPath, source, overwrite: true);
        TestContext.Out.WriteLine($"wrote {source} ({new FileInfo(source).Length} bytes)");
    }

    private static byte[] DataSection(byte[] file) => file[(8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file))..];
}
