using System.Text.Json;
using LZN.Native.IO;
using LZN.Native.Training;
using LZN.Native.Zones;
using LZN.Tests.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace LZN.Tests.Cli;

/// <summary>
/// `lzn train --task generation` end to end on synthetic images, then `lzn eval --reconstruction` and `lzn sample` without
/// a class; a DPM-Solver++ run that resumes bit-exactly; `lzn sample --compare`; `lzn eval --fd-latents`; and the refusals.
/// </summary>
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

    /// <summary>
    /// `--solver dpm` (the reference's encoder flow) trains, is recorded in the checkpoint and read back by eval; a run
    /// stopped after its first epoch and resumed for the second ends with the tensors of the straight run, bit for bit
    /// (constant learning rate: the cosine's horizon is the run's last step, which a longer resume moves).
    /// </summary>
    [Test]
    public void ADpmSolverRunResumesBitExactlyAndEvalEncodesWithIt()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-generation-dpm-").FullName;
        try
        {
            string straight = Path.Combine(folder, "straight"), split = Path.Combine(folder, "split");
            string[] Train(string run, string solver, params string[] more) =>
            [
                "train", "--task", "generation", "--preset", "gen-tiny", "--data", "synthetic", "--train-limit", "64", "--test-limit", "40",
                "--solver", solver, "--lr-decay", "constant", "--device", "cpu", "--out", run, .. more,
            ];
            foreach (var args in new[] { Train(straight, "dpm", "--epochs", "2"), Train(split, "dpm", "--epochs", "1"), Train(split, "dpm", "--epochs", "2", "--resume") })
            {
                var result = CliProcess.Run(args);
                Assert.That(result.ExitCode, Is.EqualTo(0), result.Output + result.Error);
            }
            var straightCheckpoint = Checkpoint.Open(Path.Combine(straight, JointTrainer.CheckpointFileName));
            var splitCheckpoint = Checkpoint.Open(Path.Combine(split, JointTrainer.CheckpointFileName));
            Assert.That((splitCheckpoint.Step, splitCheckpoint.Config.Latent.Solver, splitCheckpoint.Config.Latent.SolverOrder),
                Is.EqualTo((4L, FlowSolver.DpmSolverPlusPlus, 3)));
            Assert.That(splitCheckpoint.File.DataSha256(), Is.EqualTo(straightCheckpoint.File.DataSha256()), "the resumed run's tensors are the straight run's");

            var eval = CliProcess.Run("eval", "--checkpoint", splitCheckpoint.Path, "--reconstruction", "--recon-samples", "10", "--device", "cpu");
            Assert.That(eval.ExitCode, Is.EqualTo(0), eval.Output + eval.Error);
            Assert.That(eval.Output, Does.Contain("latent lzn (DPM-Solver++ order 3, 10 steps)"));
            CliProcess.Run(Train(split, "euler", "--epochs", "3", "--resume")).AssertUsageError("latent_solver is \"dpm\" in the checkpoint but absent (its default) here");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// `lzn sample --checkpoint A --compare B`: each row holds A's samples, a gray cell, then B's, and each half is that
    /// checkpoint's own grid of the same count and seed (so both come from the same noise). A is the generation fixture
    /// (gen-tiny, latent lzn, synthetic images), B a baseline trained here.
    /// </summary>
    [Test]
    public void SideBySideSamplesAreEachCheckpointsOwnSamples()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-generation-compare-").FullName;
        try
        {
            string lzn = Path.Combine(AppContext.BaseDirectory, "Fixtures", "checkpoint-lzn-generation-1.safetensors");
            string baseline = TrainTiny(Path.Combine(folder, "none"), latent: "none");
            string Sample(string name, params string[] more)
            {
                string path = Path.Combine(folder, name);
                var result = CliProcess.Run(["sample", "--count", "4", "--seed", "7", "--device", "cpu", "--out", path, .. more]);
                Assert.That(result.ExitCode, Is.EqualTo(0), result.Output + result.Error);
                return path;
            }
            using var both = Image.Load<L8>(Sample("both.png", "--checkpoint", lzn, "--compare", baseline));
            using var left = Image.Load<L8>(Sample("lzn.png", "--checkpoint", lzn));
            using var right = Image.Load<L8>(Sample("none.png", "--checkpoint", baseline));
            const int cell = 28 * 2 + 1; // an image at scale 2 and its separator
            Assert.That((both.Width, both.Height), Is.EqualTo((9 * cell - 1, cell - 1)), "4 + 1 gray + 4 cells of 28x28 at scale 2");
            Assert.That((left.Width, left.Height), Is.EqualTo((4 * cell - 1, cell - 1)));
            bool leftMatches = true, rightMatches = true, middleGray = true, halvesDiffer = false;
            for (int y = 0; y < both.Height; y++)
            {
                for (int x = 0; x < left.Width; x++)
                {
                    leftMatches &= both[x, y].PackedValue == left[x, y].PackedValue;
                    rightMatches &= both[5 * cell + x, y].PackedValue == right[x, y].PackedValue;
                    halvesDiffer |= left[x, y].PackedValue != right[x, y].PackedValue;
                }
                for (int x = 4 * cell; x < 5 * cell; x++)
                    middleGray &= both[x, y].PackedValue == ImageGrid.SeparatorLevel;
            }
            Assert.That((leftMatches, rightMatches, middleGray, halvesDiffer), Is.EqualTo((true, true, true, true)),
                "left half = --checkpoint's samples, right half = --compare's, a gray column between, and the two decoders differ");

            string joint = Path.Combine(AppContext.BaseDirectory, "Fixtures", "checkpoint-lzn-joint-1.safetensors");
            string other = Path.Combine(folder, "other.png");
            CliProcess.Run("sample", "--checkpoint", lzn, "--compare", joint, "--out", other).AssertUsageError("a joint-task checkpoint; lzn sample --compare takes generation-task checkpoints");
            CliProcess.Run("sample", "--checkpoint", joint, "--compare", lzn, "--out", other).AssertUsageError("--compare: compares generation-task checkpoints");
            CliProcess.Run("sample", "--checkpoint", lzn, "--compare", baseline, "--class", "1", "--out", other).AssertUsageError("--class: a generation-task checkpoint samples unconditionally");

            string data = Path.Combine(folder, "small-images");
            IdxTestFiles.WriteFolder(data, [.. Enumerable.Range(0, 8).Select(i => (byte)(i % 2))], [0, 1], height: 12, width: 12);
            string small = TrainTiny(Path.Combine(folder, "small"), data: data);
            CliProcess.Run("sample", "--checkpoint", lzn, "--compare", small, "--out", other).AssertUsageError("its images are 12x12x1, --checkpoint's 28x28x1");
            string moreSteps = TrainTiny(Path.Combine(folder, "gen-mlp"), preset: "gen-mlp");
            CliProcess.Run("sample", "--checkpoint", lzn, "--compare", moreSteps, "--out", other).AssertUsageError("samples in 20 steps, --checkpoint in 10");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// `lzn eval --fd --fd-latents encoded` scores samples conditioned on test images' latents and reports those latents'
    /// statistics; it is refused for the baseline, for joint checkpoints and for more samples than test images.
    /// </summary>
    [Test]
    public void EncodedLatentFdScoresSamplesConditionedOnTestImages()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-generation-fd-latents-").FullName;
        try
        {
            string lzn = Path.Combine(AppContext.BaseDirectory, "Fixtures", "checkpoint-lzn-generation-1.safetensors");
            var cache = new Dictionary<string, string?> { ["XDG_CACHE_HOME"] = Path.Combine(folder, "cache") };
            var eval = CliProcess.Run(cache, "eval", "--checkpoint", lzn, "--fd", "--fd-samples", "40", "--fd-latents", "encoded", "--device", "cpu");
            Assert.That(eval.ExitCode, Is.EqualTo(0), eval.Output + eval.Error);
            Assert.That(eval.Output, Does.Contain("40 samples conditioned on encoded test images' latents").And.Contain("encoded latents: mean ")
                .And.Contain("over 40 test images (the prior N(0, I): 0, 1, about 1)"));

            string baseline = TrainTiny(Path.Combine(folder, "none"), latent: "none");
            string joint = Path.Combine(AppContext.BaseDirectory, "Fixtures", "checkpoint-lzn-joint-1.safetensors");
            CliProcess.Run("eval", "--checkpoint", baseline, "--fd", "--fd-latents", "encoded").AssertUsageError("--fd-latents encoded: a latent none checkpoint");
            CliProcess.Run("eval", "--checkpoint", lzn, "--fd", "--fd-samples", "600", "--fd-latents", "encoded").AssertUsageError("--fd-samples 600 needs that many test images; there are 512");
            CliProcess.Run("eval", "--checkpoint", joint, "--fd-latents", "encoded").AssertUsageError("--fd-latents: a joint-task checkpoint's samples");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A generation run of two steps of 4 images; returns its checkpoint.</summary>
    private static string TrainTiny(string run, string preset = "gen-tiny", string data = "synthetic", string latent = "lzn")
    {
        var result = CliProcess.Run("train", "--task", "generation", "--preset", preset, "--data", data, "--latent", latent, "--train-limit", "8", "--batch", "4",
            "--test-limit", "2", "--device", "cpu", "--out", run);
        Assert.That(result.ExitCode, Is.EqualTo(0), result.Output + result.Error);
        return Path.Combine(run, JointTrainer.CheckpointFileName);
    }

    [TestCase(new[] { "--task", "joint", "--solver", "dpm" }, "--solver does not apply to --task joint")]
    [TestCase(new[] { "--task", "representation", "--solver-order", "2" }, "--solver-order does not apply to --task representation")]
    [TestCase(new[] { "--task", "generation", "--solver", "rk45" }, "--solver rk45")]
    [TestCase(new[] { "--task", "generation", "--solver", "dpm", "--solver-order", "4" }, "--solver-order 4: must lie in [1, 3]")]
    [TestCase(new[] { "--task", "generation", "--solver-order", "2" }, "--solver-order 2: applies to the dpm solver only")]
    [TestCase(new[] { "--task", "generation", "--latent", "none", "--solver", "dpm" }, "--solver dpm: does not apply to latent none")]
    public void BadSolverOptionsAreRefused(string[] options, string fragment) =>
        CliProcess.Run([.. new[] { "train", "--data", "synthetic", "--out", Path.Combine(Path.GetTempPath(), $"lzn-never-{Guid.NewGuid():N}") }, .. options])
            .AssertUsageError(fragment);

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
