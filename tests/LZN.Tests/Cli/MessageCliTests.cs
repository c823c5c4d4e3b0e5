using LZN.Native.Backends.Cuda;
using LZN.Native.IO;

namespace LZN.Tests.Cli;

/// <summary>
/// Defect 6: messages in the user's terms (option names, what was expected), exit code 2 and one line for every usage
/// error, CUDA's load attempts only on request, and zone commands whose defaults round-trip or say how to fix it.
/// </summary>
[NonParallelizable]
public class MessageCliTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("lzn-cli-messages-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private string Out => Path.Combine(_folder, "run");

    // Values the parser refuses point to the command's help; values out of a config field's range are checked by the
    // config itself, which knows the bounds, and named by the option that set them.
    [TestCase("--test-limit", "-5", "--test-limit -5: expected a whole number >= 1 (see 'lzn train --help')")]
    [TestCase("--epochs", "abc", "--epochs abc: expected a whole number (see 'lzn train --help')")]
    [TestCase("--lr-encoder", "nan", "--lr-encoder nan: expected a finite number (see 'lzn train --help')")]
    [TestCase("--preset", "huge", "--preset huge: expected mlp-small, mlp, mlp-wide, cnn, cnn-deep, tiny, rep-cnn, rep-tiny, gen-mlp or gen-tiny")]
    [TestCase("--flip", "maybe", "--flip maybe: expected true or false")]
    [TestCase("--frobnicate", "1", "Unrecognized command or argument '--frobnicate'")]
    [TestCase("--batch", "1", "--batch 1: must lie in [2, 8192] (the batch is its own set of anchors")]
    [TestCase("--latent-steps", "1000000000", "--latent-steps 1000000000: must lie in [1, 10000]")]
    [TestCase("--lr-decoder", "-1", "--lr-decoder -1: must be finite and non-negative")]
    public void TrainUsageErrorsNameTheOptionInOneLine(string option, string value, string message)
    {
        CliProcess.Run("train", "--data", "synthetic", option, value, "--out", Out).AssertUsageError(message);
        Assert.That(Directory.Exists(Out), Is.False, "a usage error touches no run folder");
    }

    [Test]
    public void ATypeErrorOfACommandWithPlainOptionsIsStillOneLine()
    {
        // `lzn bench` keeps System.CommandLine's own typed options: the one-line report rewrites their message too.
        CliProcess.Run("bench", "train", "--steps", "abc").AssertUsageError("--steps abc: expected a whole number", "lzn bench train --help");
        CliProcess.Run("eval").AssertUsageError("Option '--checkpoint' is required");
        CliProcess.Run().AssertUsageError("Required command was not provided", "lzn --help");
    }

    [Test]
    public void AFileThatIsNotACheckpointIsNamedAsSuch()
    {
        string png = Path.Combine(_folder, "grid.png");
        File.WriteAllBytes(png, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
        CliProcess.Run("eval", "--checkpoint", png, "--device", "cpu").AssertUsageError(png, "not a safetensors file");
        CliProcess.Run("eval", "--checkpoint", Path.Combine(_folder, "missing.safetensors"), "--device", "cpu")
            .AssertUsageError("missing.safetensors: no such checkpoint");
    }

    [Test]
    public void WithoutCudaAutoSaysSoInOneShortLineAndVerboseListsTheAttempts()
    {
        if (CudaBackend.TryCreate(0, out var cuda, out _))
        {
            cuda.Dispose();
            Assert.Ignore("a CUDA device is present; auto picks it");
        }
        var (anchors, prior) = SeparatedAnchors(8, 8);
        var environment = new Dictionary<string, string?> { ["LZN_DEVICE"] = null };
        string latents = Path.Combine(_folder, "L.npy");

        var quiet = CliProcess.Run(environment, "zones", "encode", "--anchors", anchors, "--prior", prior, "--out", latents);
        Assert.That(quiet.ExitCode, Is.Zero, quiet.Error);
        string notice = quiet.Error.Split('\n').Single(line => line.StartsWith("device: auto", StringComparison.Ordinal));
        Assert.That(notice, Does.Contain("CUDA unavailable: libcuda").And.Contain("--verbose").And.Not.Contain("attempt(s)"));
        Assert.That(notice, Has.Length.LessThan(220));

        var verbose = CliProcess.Run(environment, "zones", "encode", "--anchors", anchors, "--prior", prior, "--out", latents, "--verbose");
        Assert.That(verbose.ExitCode, Is.Zero, verbose.Error);
        Assert.That(verbose.Error, Does.Contain("attempt(s)").And.Contain("libcuda.so.1"));
    }

    /// <summary>Scaled one-hot anchors (well apart) and uniform prior noise, as .npy files.</summary>
    private (string Anchors, string Prior) SeparatedAnchors(int count, int dim, float scale = 6f)
    {
        var anchors = new float[count * dim];
        for (int i = 0; i < count; i++)
            anchors[i * dim + i % dim] = i < dim ? scale : -scale;
        var random = new Random(11);
        var prior = Enumerable.Range(0, count * dim).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        string a = Path.Combine(_folder, "A.npy"), z = Path.Combine(_folder, "Z.npy");
        Npy.Write(a, anchors, count, dim);
        Npy.Write(z, prior, count, dim);
        return (a, z);
    }

    /// <summary>N(0, sigma^2) anchors: apart, but at alpha 1 and 20 Euler steps only ~60% return to their zones.</summary>
    private (string Anchors, string Prior) RandomAnchors(int count, int dim, double sigma)
    {
        var random = new Random(3);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var anchors = Enumerable.Range(0, count * dim).Select(_ => (float)(sigma * Normal())).ToArray();
        var prior = Enumerable.Range(0, count * dim).Select(_ => (float)Normal()).ToArray();
        string a = Path.Combine(_folder, "A.npy"), z = Path.Combine(_folder, "Z.npy");
        Npy.Write(a, anchors, count, dim);
        Npy.Write(z, prior, count, dim);
        return (a, z);
    }

    [Test]
    public void TheZoneDefaultsReturnSeparatedAnchorsHomeAndAssignSaysSo()
    {
        var (anchors, prior) = SeparatedAnchors(40, 24);
        string latents = Path.Combine(_folder, "L.npy"), zones = Path.Combine(_folder, "zones.npy");

        var encode = CliProcess.Run("zones", "encode", "--anchors", anchors, "--prior", prior, "--device", "cpu", "--out", latents);
        Assert.That(encode.ExitCode, Is.Zero, encode.Error);
        Assert.That(encode.Error, Does.Contain("round trip (assign with --steps 20): 40 of 40 rows (100.0%) are in their own anchor's zone").And.Not.Contain("warning"));

        var assign = CliProcess.Run("zones", "assign", "--latents", latents, "--anchors", anchors, "--device", "cpu", "--out", zones);
        Assert.That(assign.ExitCode, Is.Zero, assign.Error);
        Assert.That(assign.Error, Does.Contain("identity rate (if the latents were encoded from these anchors): 40 of 40 rows (100.0%)").And.Not.Contain("warning"));
    }

    [Test]
    public void APoorRoundTripIsReportedWithTheFix()
    {
        // The case: alpha 1 and K = 20 returned 58% of separated anchors home, and assign called it success.
        var (anchors, prior) = RandomAnchors(100, 16, sigma: 3);
        string latents = Path.Combine(_folder, "L.npy"), zones = Path.Combine(_folder, "zones.npy");

        var encode = CliProcess.Run("zones", "encode", "--anchors", anchors, "--prior", prior, "--alpha", "1", "--device", "cpu", "--out", latents);
        Assert.That(encode.ExitCode, Is.Zero, encode.Error);
        Assert.That(encode.Error, Does.Contain("warning: the round trip is poor; raise --steps (e.g. 100) or lower --alpha (e.g. 0.3)"));
        int home = HomeCount(encode.Error);
        Assert.That(home, Is.LessThan(90));

        var assign = CliProcess.Run("zones", "assign", "--latents", latents, "--anchors", anchors, "--device", "cpu", "--out", zones);
        Assert.That(assign.ExitCode, Is.Zero, assign.Error);
        Assert.That(assign.Error, Does.Contain($"{home} of 100 rows").And.Contain("warning: the round trip is poor"));

        var better = CliProcess.Run("zones", "encode", "--anchors", anchors, "--prior", prior, "--alpha", "1", "--steps", "100", "--solver", "dpm", "--device", "cpu", "--out", latents);
        Assert.That(HomeCount(better.Error), Is.GreaterThan(home), "the fix the warning names helps");
    }

    private static int HomeCount(string error)
    {
        string line = error.Split('\n').Single(l => l.StartsWith("round trip", StringComparison.Ordinal));
        string count = line[(line.IndexOf("): ", StringComparison.Ordinal) + 3)..line.IndexOf(" of ", StringComparison.Ordinal)];
        return int.Parse(count, System.Globalization.CultureInfo.InvariantCulture);
    }
}
