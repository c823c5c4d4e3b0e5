using System.Buffers.Binary;
using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.IO;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// A checkpoint written by the code of its day (format lzn-joint/1, with its checksum), committed under Fixtures/: every
/// later build must still open it, load it without changing a bit, and resume from it deterministically. The numbers a
/// resumed run computes are not pinned (kernels may round differently tomorrow); what is pinned is the format.
/// </summary>
public class CheckpointFixtureTests
{
    private const int FixtureSteps = 3;

    private static string FixturePath => Path.Combine(AppContext.BaseDirectory, "Fixtures", "checkpoint-lzn-joint-1.safetensors");

    /// <summary>The run that wrote the fixture: a small joint model on synthetic images (a checkpoint of about 530 KB).</summary>
    private static TrainingConfig FixtureConfig => TrainingFixtures.SmallJoint with
    {
        DecoderChannels = 4,
        DecoderGroups = 4,
        Epochs = 2,
        CheckpointEvery = 0,
        LogEvery = 1,
        EvalBatch = 32,
    };

    private static ImageDataset Data => TrainingFixtures.Train(64);

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
        using var trainer = new JointTrainer(backend, info.Config, Data, null, _folder);
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
            using var trainer = new JointTrainer(backend, FixtureConfig, Data, null, folder);
            trainer.Resume(Checkpoint.Open(FixturePath));
            var result = trainer.Run(CancellationToken.None);
            Assert.That((result.Completed, result.Step), Is.EqualTo((true, trainer.TotalSteps)));
            Assert.That(trainer.TotalSteps, Is.GreaterThan(FixtureSteps), "the resumed run trains");
            return [.. trainer.Model.Parameters.Select(parameter => parameter.Value.ToArray())];
        }

        var first = Resume(Path.Combine(_folder, "a"));
        var second = Resume(Path.Combine(_folder, "b"));

        Assert.That(second, Is.EqualTo(first));
    }

    /// <summary>Writes the fixture anew; run by name only when the checkpoint format changes on purpose (then bump Checkpoint.Format).</summary>
    [Test]
    [Explicit("rewrites tests/LZN.Tests/Training/Fixtures/checkpoint-lzn-joint-1.safetensors in the source tree")]
    public void WriteTheFixture()
    {
        using var backend = new CpuBackend();
        using var trainer = new JointTrainer(backend, FixtureConfig, Data, null, _folder);
        for (int step = 0; step < FixtureSteps; step++)
            trainer.TrainStep();
        trainer.SaveCheckpoint();
        string source = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "Training", "Fixtures", "checkpoint-lzn-joint-1.safetensors"));
        File.Copy(trainer.CheckpointPath, source, overwrite: true);
        TestContext.Out.WriteLine($"wrote {source} ({new FileInfo(source).Length} bytes)");
    }

    private static byte[] DataSection(byte[] file) => file[(8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file))..];
}
