using System.Text.Json;
using LZN.Native.IO;
using LZN.Native.Training;

namespace LZN.Tests.Cli;

/// <summary>`lzn train --task generation` end to end on synthetic images, then `lzn eval --reconstruction` and `lzn sample` without a class, and the refusals.</summary>
public class GenerationCliTests
{
    [TestCase("lzn")]
    [TestCase("none")]
    public void TrainEvalAndSampleAGenerationRun(string latent)
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-generation-").FullName;
        try
        {
            string run = Path.Combine(folder, "run");
            var train = CliProcess.Run("train", "--task", "generation", "--preset", "gen-tiny", "--data", "synthetic", "--train-limit", "64",
                "--latent", latent, "--device", "cpu", "--out", run);
            Assert.That(train.ExitCode, Is.EqualTo(0), train.Output + train.Error);
            using (var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunOutputs.SummaryFileName))))
            {
                Assert.That(summary.RootElement.GetProperty("task").GetString(), Is.EqualTo("generation"));
                Assert.That(summary.RootElement.GetProperty("reconstruction_l2").GetDouble(), Is.GreaterThan(0));
                Assert.That(summary.RootElement.GetProperty("reconstruction_psnr").GetDouble(), Is.GreaterThan(0));
            }
            Assert.That(File.ReadAllBytes(Path.Combine(run, RunOutputs.SamplesFileName)).AsSpan(0, 4).ToArray(), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47 }));
            string checkpoint = Path.Combine(run, JointTrainer.CheckpointFileName);
            Assert.That(Checkpoint.Open(checkpoint).Config.Decoder.ZeroLatent, Is.EqualTo(latent == "none"));

            var eval = CliProcess.Run("eval", "--checkpoint", checkpoint, "--reconstruction", "--recon-samples", "20", "--device", "cpu");
            Assert.That(eval.ExitCode, Is.EqualTo(0), eval.Output + eval.Error);
            Assert.That(eval.Output, Does.Contain("reconstruction_l2").And.Contain("reconstruction_psnr").And.Contain("20 test images").And.Contain($"latent {latent}"));

            string grid = Path.Combine(folder, "samples.png");
            var sample = CliProcess.Run("sample", "--checkpoint", checkpoint, "--count", "4", "--out", grid, "--device", "cpu");
            Assert.That(sample.ExitCode, Is.EqualTo(0), sample.Output + sample.Error);
            Assert.That(File.Exists(grid), Is.True);

            CliProcess.Run("sample", "--checkpoint", checkpoint, "--class", "1", "--out", grid).AssertUsageError("--class: a generation-task checkpoint samples unconditionally");
            CliProcess.Run("eval", "--checkpoint", checkpoint).AssertUsageError("give --fd and/or --reconstruction");
            CliProcess.Run("probe", "--checkpoint", checkpoint).AssertUsageError("a generation-task checkpoint; lzn probe takes representation-task checkpoints");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestCase("--views", "crop", "--views does not apply to --task generation")]
    [TestCase("--label-loss", "ce", "--label-loss does not apply to --task generation")]
    [TestCase("--latent", "maybe", "--latent maybe")]
    [TestCase("--preset", "rep-tiny", "--preset rep-tiny is a representation-task preset", "gen-mlp, gen-tiny")]
    public void BadGenerationOptionsAreRefused(string option, string value, params string[] fragments) =>
        CliProcess.Run("train", "--task", "generation", "--data", "synthetic", option, value, "--out", Path.Combine(Path.GetTempPath(), $"lzn-never-{Guid.NewGuid():N}"))
            .AssertUsageError(fragments);

    [Test]
    public void TheLatentOptionIsRefusedForTheOtherTasks() =>
        CliProcess.Run("train", "--task", "joint", "--data", "synthetic", "--latent", "none").AssertUsageError("--latent does not apply to --task joint");
}
