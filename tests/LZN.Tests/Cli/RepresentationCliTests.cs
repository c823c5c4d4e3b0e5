using System.Text.Json;
using LZN.Native.IO;
using LZN.Native.Training;

namespace LZN.Tests.Cli;

/// <summary>`lzn train --task representation` end to end on synthetic images, then `lzn probe` and `lzn embed` on its checkpoint, and the refusals.</summary>
public class RepresentationCliTests
{
    [Test]
    public void TrainProbeAndEmbedARepresentationRun()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-representation-").FullName;
        try
        {
            string run = Path.Combine(folder, "run");
            var train = CliProcess.Run("train", "--task", "representation", "--preset", "rep-tiny", "--data", "synthetic", "--train-limit", "256",
                "--latent-dim", "8", "--device", "cpu", "--out", run);
            Assert.That(train.ExitCode, Is.EqualTo(0), train.Output + train.Error);
            Assert.That(train.Output, Does.Contain("representation task").And.Contain("linear probe").And.Contain("test k-NN accuracy"));
            using (var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunOutputs.SummaryFileName))))
            {
                var root = summary.RootElement;
                Assert.That(root.GetProperty("task").GetString(), Is.EqualTo("representation"));
                Assert.That(root.GetProperty("linear_probe_accuracy").GetDouble(), Is.InRange(0.0, 1.0));
                Assert.That(root.GetProperty("knn_accuracy").GetDouble(), Is.InRange(0.0, 1.0));
            }
            Assert.That(File.ReadAllBytes(Path.Combine(run, RunOutputs.EmbeddingFileName)).AsSpan(0, 4).ToArray(), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47 }));
            string checkpoint = Path.Combine(run, JointTrainer.CheckpointFileName);
            Assert.That(Checkpoint.Open(checkpoint).Config.Latent.Dim, Is.EqualTo(8));

            var probe = CliProcess.Run("probe", "--checkpoint", checkpoint, "--device", "cpu", "--train-limit", "300", "--test-limit", "100", "--ema");
            Assert.That(probe.ExitCode, Is.EqualTo(0), probe.Output + probe.Error);
            Assert.That(probe.Output, Does.Contain("backbone features").And.Contain("raw pixels").And.Contain("EMA weights").And.Contain("300 training / 100 test"));
            var pooled = CliProcess.Run("probe", "--checkpoint", checkpoint, "--device", "cpu", "--train-limit", "300", "--test-limit", "100", "--probe-features", "both");
            Assert.That(pooled.Output, Does.Contain("both features      (  48 dims)"), pooled.Output + pooled.Error);

            string embedding = Path.Combine(folder, "emb.npy"), labels = Path.Combine(folder, "labels.npy");
            var embed = CliProcess.Run("embed", "--checkpoint", checkpoint, "--split", "test", "--out", embedding, "--labels", labels, "--device", "cpu");
            Assert.That(embed.ExitCode, Is.EqualTo(0), embed.Output + embed.Error);
            var features = Npy.Read(embedding);
            Assert.That(features.Shape, Is.EqualTo(new[] { 512, 32 }));
            // The reader takes float arrays only; the labels' header says int32 [512].
            string labelHeader = System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(labels).AsSpan(0, 128));
            Assert.That(labelHeader, Does.Contain("'descr': '<i4'").And.Contain("'shape': (512,)"));
            // rep-tiny's last convolution: 16 channels at 14 x 14.
            var map = CliProcess.Run("embed", "--checkpoint", checkpoint, "--split", "test", "--out", embedding, "--probe-features", "map", "--device", "cpu");
            Assert.That(map.Output, Does.Contain("map features"), map.Output + map.Error);
            Assert.That(Npy.Read(embedding).Shape, Is.EqualTo(new[] { 512, 16 * 14 * 14 }));

            CliProcess.Run("eval", "--checkpoint", checkpoint, "--device", "cpu").AssertUsageError(checkpoint, "representation-task checkpoint", "lzn eval takes joint-task or generation-task");
            CliProcess.Run("sample", "--checkpoint", checkpoint, "--class", "1", "--out", Path.Combine(folder, "s.png"), "--device", "cpu")
                .AssertUsageError("representation-task checkpoint", "lzn sample");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void ProbeAndEmbedRefuseAJointCheckpoint()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-representation-").FullName;
        try
        {
            string checkpoint = CliRuns.TrainTinyClassifier(Path.Combine(folder, "joint"));
            CliProcess.Run("probe", "--checkpoint", checkpoint).AssertUsageError("a joint-task checkpoint; lzn probe takes representation-task checkpoints");
            CliProcess.Run("embed", "--checkpoint", checkpoint, "--out", Path.Combine(folder, "e.npy")).AssertUsageError("lzn embed takes representation-task");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestCase("--preset", "tiny", "--preset tiny is a joint-task preset", "rep-cnn, rep-tiny")]
    [TestCase("--flip", "true", "--flip does not apply to --task representation")]
    [TestCase("--decoder-channels", "8", "--decoder-channels does not apply")]
    [TestCase("--views", "crop,blur", "--views crop,blur: expected distinct names among crop, flip, affine, jitter, erase, noise")]
    [TestCase("--views", "crop,crop", "--views crop,crop")]
    [TestCase("--feature-dim", "0", "--feature-dim 0")]
    [TestCase("--probe-features", "conv", "--probe-features conv: expected backbone, pooled, both or map")]
    [TestCase("--latent-dim", "0", "--latent-dim 0")]
    [TestCase("--freeze-decoder-after", "5", "--freeze-decoder-after does not apply to --task representation")]
    public void BadRepresentationOptionsAreRefused(string option, string value, params string[] fragments)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"lzn-never-{Guid.NewGuid():N}");
        CliProcess.Run("train", "--task", "representation", "--data", "synthetic", option, value, "--out", folder).AssertUsageError(fragments);
        Assert.That(Directory.Exists(folder), Is.False, "nothing is written");
    }

    [Test]
    public void RepresentationOptionsAreRefusedForTheJointTask()
    {
        CliProcess.Run("train", "--task", "joint", "--data", "synthetic", "--feature-dim", "64", "--out", Path.Combine(Path.GetTempPath(), $"lzn-never-{Guid.NewGuid():N}"))
            .AssertUsageError("--feature-dim does not apply to --task joint");
        CliProcess.Run("train", "--task", "joint", "--preset", "rep-tiny", "--data", "synthetic").AssertUsageError("--preset rep-tiny is a representation-task preset", "mlp-small");
    }
}
