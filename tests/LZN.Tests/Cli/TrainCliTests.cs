using System.Text.Json;
using LZN.Native.IO;
using LZN.Native.Training;

namespace LZN.Tests.Cli;

/// <summary>`lzn train --data synthetic` end to end, then `lzn eval` and `lzn sample` on its checkpoint.</summary>
public class TrainCliTests
{
    [Test]
    public void TrainWritesTheRunFolderAndEvalAndSampleReadTheCheckpoint()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-train-").FullName;
        try
        {
            string run = Path.Combine(folder, "run");
            var train = CliProcess.Run("train", "--task", "joint", "--data", "synthetic", "--preset", "tiny", "--epochs", "1",
                "--device", "cpu", "--out", run);
            Assert.That(train.ExitCode, Is.EqualTo(0), train.Output + train.Error);
            Assert.That(train.Output, Does.Contain("test accuracy"));

            using (var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunOutputs.SummaryFileName))))
            {
                var root = summary.RootElement;
                Assert.That(root.GetProperty("test_accuracy").GetDouble(), Is.InRange(0.0, 1.0));
                Assert.That(root.GetProperty("epochs").GetDouble(), Is.EqualTo(1));
                Assert.That(root.GetProperty("train_examples").GetInt32(), Is.EqualTo(2048));
                Assert.That(root.GetProperty("wall_seconds").GetDouble(), Is.GreaterThan(0));
                Assert.That(root.GetProperty("device").GetString(), Does.StartWith("CPU"));
            }
            var lines = File.ReadAllLines(Path.Combine(run, JointTrainer.MetricsFileName));
            Assert.That(lines.Count(line => line.Contains("\"kind\":\"step\"", StringComparison.Ordinal)), Is.GreaterThan(0));
            Assert.That(lines.Count(line => line.Contains("\"kind\":\"epoch\"", StringComparison.Ordinal)), Is.EqualTo(1));
            foreach (string line in lines)
                using (JsonDocument.Parse(line)) { }
            AssertPng(Path.Combine(run, RunOutputs.SamplesFileName));
            string checkpoint = Path.Combine(run, JointTrainer.CheckpointFileName);
            Assert.That(Checkpoint.Open(checkpoint).Step, Is.EqualTo(2048 / 32));

            var eval = CliProcess.Run("eval", "--checkpoint", checkpoint, "--device", "cpu");
            Assert.That(eval.ExitCode, Is.EqualTo(0), eval.Output + eval.Error);
            Assert.That(eval.Output, Does.Contain("test accuracy").And.Contain("512 synthetic test images"));
            var noisy = CliProcess.Run("eval", "--checkpoint", checkpoint, "--device", "cpu", "--prior-std", "0.6", "--test-limit", "100", "--ema");
            Assert.That(noisy.ExitCode, Is.EqualTo(0), noisy.Output + noisy.Error);
            Assert.That(noisy.Output, Does.Contain("100 synthetic test images").And.Contain("prior std 0.6").And.Contain("EMA weights"));

            // The feature classifier is trained once and cached; keep that cache inside the test folder.
            var cache = new Dictionary<string, string?> { ["XDG_CACHE_HOME"] = Path.Combine(folder, "cache") };
            var withFd = CliProcess.Run(cache, "eval", "--checkpoint", checkpoint, "--device", "cpu", "--fd", "--fd-samples", "200");
            Assert.That(withFd.ExitCode, Is.EqualTo(0), withFd.Output + withFd.Error);
            var fdLine = withFd.Output.Split('\n').Single(line => line.StartsWith("frechet distance ", StringComparison.Ordinal));
            double distance = double.Parse(fdLine["frechet distance ".Length..fdLine.IndexOf(':', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
            Assert.That(distance, Is.GreaterThanOrEqualTo(0).And.LessThan(double.PositiveInfinity));
            Assert.That(fdLine, Does.Contain("200 class-balanced samples").And.Contain("features of synthetic-"));
            Assert.That(Directory.GetFiles(Path.Combine(folder, "cache", "lzn", "classifiers"), "synthetic-*.safetensors"), Has.Length.EqualTo(1));

            string grid = Path.Combine(folder, "class3.png");
            var sample = CliProcess.Run("sample", "--checkpoint", checkpoint, "--class", "3", "--count", "4", "--out", grid, "--device", "cpu");
            Assert.That(sample.ExitCode, Is.EqualTo(0), sample.Output + sample.Error);
            AssertPng(grid);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void RecipeOptionsReachTheCheckpointAndAClassifierOnlyRunWritesNoSamples()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-recipe-").FullName;
        try
        {
            string run = Path.Combine(folder, "run");
            var train = CliProcess.Run("train", "--data", "synthetic", "--preset", "tiny", "--train-limit", "256", "--test-limit", "64",
                "--device", "cpu", "--rf-weight", "0", "--label-loss", "ce-cutoff", "--lr-decay", "cosine", "--flip", "true", "--shift", "2",
                "--decoder-channels", "12", "--latent-steps", "6", "--label-steps", "25", "--decoder-latent-noise", "0.7", "--weight-decay", "0.01", "--dropout", "0.25", "--hidden", "32,16", "--out", run);
            Assert.That(train.ExitCode, Is.EqualTo(0), train.Output + train.Error);
            Assert.That(train.Output, Does.Contain("no samples: --rf-weight 0"));
            Assert.That(File.Exists(Path.Combine(run, RunOutputs.SamplesFileName)), Is.False);
            string checkpoint = Path.Combine(run, JointTrainer.CheckpointFileName);
            var config = Checkpoint.Open(checkpoint).Config;
            Assert.That((config.Loss.RectifiedFlowWeight, config.Loss.Label, config.Optimizer.LearningRateDecay, config.Augmentation.Flip, config.Augmentation.Shift, config.Decoder.Channels),
                Is.EqualTo((0.0, LZN.Native.Zones.AssignmentLossKind.CutoffCrossEntropy, LearningRateDecay.Cosine, true, 2, 12)));
            Assert.That((config.Latent.Steps, config.Latent.LabelSteps, config.Decoder.LatentNoiseScale, config.Optimizer.WeightDecay, config.Encoder.Dropout),
                Is.EqualTo((6, 25, (float?)0.7f, 0.01, 0.25f)));
            Assert.That(config.Encoder.HiddenSizes, Is.EqualTo(new[] { 32, 16 }));

            var sample = CliProcess.Run("sample", "--checkpoint", checkpoint, "--class", "1", "--count", "2", "--out", Path.Combine(folder, "x.png"), "--device", "cpu");
            Assert.That(sample.ExitCode, Is.EqualTo(2));
            Assert.That(sample.Error, Does.Contain(checkpoint).And.Contain("rf_weight 0"));

            void AssertRefused(string option, string value, string message, string preset = "tiny")
            {
                var refused = CliProcess.Run("train", "--data", "synthetic", "--preset", preset, option, value, "--device", "cpu", "--out", Path.Combine(folder, "bad"));
                Assert.That(refused.ExitCode, Is.EqualTo(2), $"{option} {value}");
                Assert.That(refused.Error, Does.Contain(message));
            }

            AssertRefused("--label-loss", "hinge", "--label-loss hinge: expected prob, ce or ce-cutoff");
            AssertRefused("--decoder-channels", "10", "--decoder-channels 10: must be a multiple of decoder_groups (4)");
            AssertRefused("--decoder-latent-noise", "-1", "--decoder-latent-noise -1: expected shared or a scale >= 0");
            AssertRefused("--weight-decay", "-0.5", "--weight-decay -0.5: must be finite and non-negative");
            AssertRefused("--dropout", "1", "--dropout 1: must lie in [0, 1)");
            AssertRefused("--hidden", "32,x", "--hidden 32,x: expected positive widths separated by commas");
            AssertRefused("--hidden", "0", "--hidden 0: expected positive widths separated by commas");
            AssertRefused("--encoder-channels", "64,128", "--encoder-channels sets the CNN encoder's channels; preset tiny has an MLP encoder");
            AssertRefused("--hidden", "64", "--hidden sets the MLP encoder's widths; preset cnn has a CNN encoder", preset: "cnn");
            AssertRefused("--encoder-channels", "32,12", "--encoder-channels 32,12: must be multiples of the CNN's 8 GroupNorm groups", preset: "cnn");
            AssertRefused("--encoder-channels", "32,", "--encoder-channels 32,: expected positive widths", preset: "cnn");
            AssertRefused("--encoder-depth", "2", "--encoder-depth sets the CNN encoder's depth; preset tiny has an MLP encoder");
            AssertRefused("--encoder-depth", "0", "--encoder-depth 0: must lie in [1, 8]", preset: "cnn");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void EvalOfACorruptCheckpointIsAClearErrorNamingTheFile()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-eval-").FullName;
        try
        {
            string path = Path.Combine(folder, "broken.safetensors");
            File.WriteAllBytes(path, [1, 2, 3]);
            var eval = CliProcess.Run("eval", "--checkpoint", path, "--device", "cpu");
            Assert.That(eval.ExitCode, Is.EqualTo(2));
            Assert.That(eval.Error, Does.Contain(path));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static void AssertPng(string path)
    {
        Assert.That(File.Exists(path), Is.True, path);
        var header = File.ReadAllBytes(path).AsSpan(0, 8).ToArray();
        Assert.That(header, Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), path);
    }
}
