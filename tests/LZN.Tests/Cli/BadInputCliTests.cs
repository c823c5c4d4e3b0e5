using LZN.Native.IO;
using LZN.Native.Training;
using LZN.Tests.Data;
using LZN.Tests.IO;
using LZN.Tests.Training;

namespace LZN.Tests.Cli;

/// <summary>
/// The reproductions of crashes, hangs and silent garbage on bad input (defects 2-4), each through the real
/// `lzn`: every one ends in one clear line naming the file or option, exit code 2, within seconds, and leaves no output.
/// </summary>
[NonParallelizable]
public class BadInputCliTests
{
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(10);

    private string _folder = "";
    private string _checkpoint = "";

    [OneTimeSetUp]
    public void TrainOnce()
    {
        _folder = Directory.CreateTempSubdirectory("lzn-cli-bad-").FullName;
        var train = CliProcess.Run("train", "--data", "synthetic", "--preset", "tiny", "--train-limit", "128", "--test-limit", "64",
            "--device", "cpu", "--out", Path.Combine(_folder, "run"));
        Assert.That(train.ExitCode, Is.Zero, train.Output + train.Error);
        _checkpoint = Path.Combine(_folder, "run", JointTrainer.CheckpointFileName);
    }

    [OneTimeTearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private static CliProcess.Result Lzn(params string[] arguments) => CliProcess.Run(HangLimit, new Dictionary<string, string?>(), arguments);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Separated anchors (scaled one-hot rows) and N(0, 1)-ish prior noise, [count, dim].</summary>
    private (string Anchors, string Prior) GoodInputs(int count = 12, int dim = 8)
    {
        var anchors = new float[count * dim];
        for (int i = 0; i < count; i++)
            anchors[i * dim + i % dim] = i < dim ? 6f : -6f;
        var random = new Random(5);
        var prior = Enumerable.Range(0, count * dim).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        string a = Path.Combine(_folder, $"A-{Guid.NewGuid():N}.npy"), z = Path.Combine(_folder, $"Z-{Guid.NewGuid():N}.npy");
        Npy.Write(a, anchors, count, dim);
        Npy.Write(z, prior, count, dim);
        return (a, z);
    }

    /// <summary>The trained checkpoint with <paramref name="edit"/> applied and a matching checksum, so the edit is what is caught.</summary>
    private string EditedCheckpoint(Action<Dictionary<string, string>, List<SafeTensor>> edit) => CheckpointEdits.Rewrite(_checkpoint, _folder, edit);

    // Defect 2: unhandled exceptions.

    [Test]
    public void ANpyVersionTwoHeaderLengthOf2Pow31IsOneLine()
    {
        byte[] bytes = [0x93, .. "NUMPY"u8.ToArray(), 2, 0, 0, 0, 0, 0x80, .. "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n"u8.ToArray()];
        string bad = Write("v2-header.npy", bytes);
        var (_, prior) = GoodInputs();
        string output = Path.Combine(_folder, "L-v2.npy");
        Lzn("zones", "encode", "--anchors", bad, "--prior", prior, "--device", "cpu", "--out", output)
            .AssertUsageError(bad, "the header declares 2147483648 bytes");
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void ANpyShapeOfThreeHugeDimensionsIsOneLine()
    {
        string bad = Write("huge.npy", NpyTestFiles.Build("{'descr': '<f4', 'fortran_order': False, 'shape': (2000000000, 2000000000, 2000000000), }", []));
        var (anchors, _) = GoodInputs();
        Lzn("zones", "encode", "--anchors", anchors, "--prior", bad, "--device", "cpu", "--out", Path.Combine(_folder, "L.npy"))
            .AssertUsageError(bad, "more than one array can hold");
    }

    [Test]
    public void ACheckpointWhoseConfigSaysLatentDim1e8IsOneLine()
    {
        string bad = EditedCheckpoint((metadata, _) => CheckpointEdits.SetConfig(metadata, "latent_dim", 100_000_000));
        Lzn("eval", "--checkpoint", bad, "--device", "cpu").AssertUsageError(bad, "latent_dim 100000000, which must lie in [1, 4096]");
    }

    [TestCase("/dev/zero")]
    [TestCase("/dev/urandom")]
    public void AnchorsFromADeviceThatNeverEndsAreRefusedAtOnce(string device)
    {
        // Defects 2 and 3: /dev/zero ran out of memory after 25 s, /dev/urandom hung.
        if (!File.Exists(device))
            Assert.Ignore($"{device} does not exist here");
        var (_, prior) = GoodInputs();
        var result = Lzn("zones", "encode", "--anchors", device, "--prior", prior, "--device", "cpu", "--out", Path.Combine(_folder, "L.npy"));
        result.AssertUsageError(device, "not a .npy file");
        Assert.That(result.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
    }

    // Defect 3: hangs.

    [Test]
    public void ACheckpointWhoseConfigSaysLatentSteps1e9IsRefusedNotTrusted()
    {
        string bad = EditedCheckpoint((metadata, _) => CheckpointEdits.SetConfig(metadata, "latent_steps", 1_000_000_000));
        Lzn("eval", "--checkpoint", bad, "--device", "cpu").AssertUsageError(bad, "latent_steps 1000000000, which must lie in [1, 10000]");
    }

    // Defect 4: silent garbage.

    [TestCase(float.NaN, "is NaN")]
    [TestCase(float.PositiveInfinity, "is +Infinity")]
    [TestCase(1e20f, "is 1E+20")]
    public void ANonFiniteOrHugeValueInAnchorsPriorOrLatentsIsRefusedNamingTheIndex(float value, string problem)
    {
        var (anchors, prior) = GoodInputs(count: 12, dim: 8);
        var values = Npy.Read(anchors).Data;
        values[8 * 3 + 5] = value;
        string badAnchors = Write($"bad-anchors-{value}.npy", NpyTestFiles.Float32([12, 8], values));
        string badPrior = Write($"bad-prior-{value}.npy", NpyTestFiles.Float32([12, 8], values));
        string output = Path.Combine(_folder, $"L-{value}.npy");

        Lzn("zones", "encode", "--anchors", badAnchors, "--prior", prior, "--device", "cpu", "--out", output)
            .AssertUsageError(badAnchors, $"element [3, 5] {problem}", "anchors must be finite");
        Lzn("zones", "encode", "--anchors", anchors, "--prior", badPrior, "--device", "cpu", "--out", output)
            .AssertUsageError(badPrior, $"element [3, 5] {problem}", "prior noise must be finite");
        Lzn("zones", "assign", "--latents", badPrior, "--anchors", anchors, "--device", "cpu", "--out", output)
            .AssertUsageError(badPrior, $"element [3, 5] {problem}", "latents must be finite");
        Assert.That(File.Exists(output), Is.False);
    }

    [TestCase("nan")]
    [TestCase("-1")]
    [TestCase("inf")]
    public void AnAlphaThatIsNotAFiniteNonNegativeNumberIsRefused(string alpha)
    {
        var (anchors, prior) = GoodInputs();
        Lzn("zones", "encode", "--anchors", anchors, "--prior", prior, "--alpha", alpha, "--device", "cpu", "--out", Path.Combine(_folder, "L.npy"))
            .AssertUsageError($"--alpha {alpha}: expected a finite number >= 0");
    }

    [Test]
    public void NanWeightsInACheckpointAreRefusedInsteadOfEvaluated()
    {
        string bad = EditedCheckpoint((_, tensors) => CheckpointEdits.SetElement(tensors, "encoder.fc1.weight", 1, float.NaN));
        Lzn("eval", "--checkpoint", bad, "--device", "cpu").AssertUsageError(bad, "tensor 'encoder.fc1.weight' element [0, 1] is NaN");
        Lzn("sample", "--checkpoint", bad, "--class", "1", "--device", "cpu", "--out", Path.Combine(_folder, "nan.png"))
            .AssertUsageError(bad, "is NaN");
        Assert.That(File.Exists(Path.Combine(_folder, "nan.png")), Is.False);
    }

    [Test]
    public void NanEmaStateCannotBeResumedIntoANewCheckpoint()
    {
        string run = Path.Combine(_folder, "ema-run");
        Directory.CreateDirectory(run);
        string shadow = Safetensors.Read(_checkpoint).Tensors.First(t => t.Name.StartsWith("ema/", StringComparison.Ordinal) && t.DType == TensorDType.F32).Name;
        string bad = EditedCheckpoint((_, tensors) => CheckpointEdits.SetElement(tensors, shadow, 1, float.NaN));
        string checkpoint = Path.Combine(run, JointTrainer.CheckpointFileName);
        File.Copy(bad, checkpoint);
        byte[] before = File.ReadAllBytes(checkpoint);

        Lzn("train", "--data", "synthetic", "--preset", "tiny", "--train-limit", "128", "--test-limit", "64", "--epochs", "2", "--device", "cpu", "--out", run, "--resume")
            .AssertUsageError(checkpoint, $"tensor '{shadow}' element [1] is NaN");
        Assert.That(File.ReadAllBytes(checkpoint), Is.EqualTo(before), "the checkpoint is left as it was");
    }

    [Test]
    public void ANpyHeaderNamingDescrTwiceIsRefused()
    {
        string bad = Write("two-descr.npy", NpyTestFiles.Build("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", NpyTestFiles.Doubles(1, 2, 3, 4)));
        var (anchors, _) = GoodInputs();
        Lzn("zones", "assign", "--latents", bad, "--anchors", anchors, "--device", "cpu", "--out", Path.Combine(_folder, "z.npy"))
            .AssertUsageError(bad, "the key 'descr' appears twice");
    }

    [Test]
    public void ATrainingLabelBeyondTheClassesIsRefused()
    {
        string data = Path.Combine(_folder, "label-200");
        byte[] labels = [.. Enumerable.Range(0, 64).Select(i => (byte)(i % 10))];
        labels[40] = 200;
        IdxTestFiles.WriteFolder(data, labels, [0, 1, 2, 3], height: 28, width: 28);
        string labelFile = Path.Combine(data, "train-labels-idx1-ubyte");
        Lzn("train", "--data", data, "--preset", "tiny", "--device", "cpu", "--out", Path.Combine(_folder, "label-run"))
            .AssertUsageError(labelFile, "label 200 (index 40) implies 201 classes, but class 10 has no image");
    }

    [Test]
    public void AnEmptyTestSplitIsRefusedRatherThanReportedAsZeroPercent()
    {
        string data = Path.Combine(_folder, "no-test");
        IdxTestFiles.WriteFolder(data, [.. Enumerable.Range(0, 64).Select(i => (byte)(i % 10))], [], height: 28, width: 28);
        string run = Path.Combine(_folder, "no-test-run");
        Lzn("train", "--data", data, "--preset", "tiny", "--device", "cpu", "--out", run)
            .AssertUsageError(Path.Combine(data, "t10k-images-idx3-ubyte"), "holds no images");
        Lzn("eval", "--checkpoint", _checkpoint, "--data", data, "--device", "cpu").AssertUsageError("holds no images");
    }

    [Test]
    public void AStepTheOptimiserNeverTookIsNotResumed()
    {
        string bad = EditedCheckpoint((metadata, _) => metadata["step"] = "99999999");
        Lzn("eval", "--checkpoint", bad, "--device", "cpu").AssertUsageError(bad, "__metadata__ step 99999999 does not match the optimiser's counters");
    }

    [TestCase("train", "--train-limit")]
    [TestCase("train", "--test-limit")]
    [TestCase("eval", "--test-limit")]
    public void ALimitOfZeroIsRefused(string command, string option)
    {
        string[] arguments = command == "train"
            ? ["train", "--data", "synthetic", "--preset", "tiny", option, "0", "--out", Path.Combine(_folder, "zero")]
            : ["eval", "--checkpoint", _checkpoint, option, "0"];
        Lzn(arguments).AssertUsageError($"{option} 0: expected a whole number >= 1");
    }

    [TestCase("x.jpg")]
    [TestCase("x")]
    public void SamplesAreOnlyWrittenToAPngName(string name)
    {
        string output = Path.Combine(_folder, name);
        Lzn("sample", "--checkpoint", _checkpoint, "--class", "1", "--device", "cpu", "--out", output)
            .AssertUsageError($"--out {output}: samples are written as a PNG grid; give a file name ending in .png");
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void ABitFlippedInACheckpointsBodyIsCaught()
    {
        string flipped = Path.Combine(_folder, "flipped.safetensors");
        byte[] bytes = File.ReadAllBytes(_checkpoint);
        bytes[^1000] ^= 0x01;
        File.WriteAllBytes(flipped, bytes);
        Lzn("eval", "--checkpoint", flipped, "--device", "cpu").AssertUsageError(flipped, "do not match the SHA-256");
    }
}
