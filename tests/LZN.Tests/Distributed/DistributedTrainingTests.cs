using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LZN.Native.IO;
using LZN.Native.Training;
using LZN.Tests.Cli;
using LZN.Tests.Training;

namespace LZN.Tests.Distributed;

/// <summary>
/// `mpirun -n R lzn train` against the same command line without mpirun (docs/distributed.md): real ranks, real MPI.
/// Every joint-task run uses dropout, flips, shifts and the decoder's own latent flow, so every per-row random draw is
/// exercised; the generation and representation runs use their presets' draws (prior noise, rectified-flow times and
/// noise, the representation task's two augmented views).
/// </summary>
[Category("Distributed")]
public class DistributedTrainingTests
{
    private const int Steps = 20;

    /// <summary>OpenBLAS alone differs by ~2e-5 between thread counts; the bound for R ranks against one process.</summary>
    private const double Tolerance = 1e-4;

    private string _folder = "";

    [SetUp]
    public void SetUp()
    {
        MpiRun.Launcher();
        _folder = Directory.CreateTempSubdirectory("lzn-distributed-").FullName;
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_folder, recursive: true);

    private static string[] TrainArguments(string run, int batch, int steps, params string[] extra) =>
    [
        "train", "--task", "joint", "--data", "synthetic", "--preset", "tiny", "--device", "cpu", "--batch", batch.ToString(CultureInfo.InvariantCulture),
        "--train-limit", (batch * steps).ToString(CultureInfo.InvariantCulture), "--test-limit", "16", "--epochs", "1", "--log-every", "1",
        "--dropout", "0.2", "--flip", "true", "--shift", "2", "--decoder-latent-noise", "0.5", "--out", run, .. extra,
    ];

    /// <summary>The generation or representation task's `lzn train` on the synthetic set (<paramref name="solver"/> null: the preset's).</summary>
    private static string[] TaskArguments(string task, string preset, string? solver, string run, int batch, int steps, params string[] extra) =>
    [
        "train", "--task", task, "--data", "synthetic", "--preset", preset, "--device", "cpu", "--batch", batch.ToString(CultureInfo.InvariantCulture),
        "--train-limit", (batch * steps).ToString(CultureInfo.InvariantCulture), "--test-limit", "8", "--epochs", "1", "--log-every", "1", "--out", run,
        .. solver is null ? Array.Empty<string>() : ["--solver", solver], .. extra,
    ];

    /// <summary>R ranks with an uneven last shard train the model one process trains on the global batch.</summary>
    [TestCase(2, 7)]
    [TestCase(3, 10)]
    public void RanksTrainTheOneProcessModel(int ranks, int batch)
    {
        string single = Path.Combine(_folder, "single"), parallel = Path.Combine(_folder, "parallel");
        var one = CliProcess.Run(new Dictionary<string, string?> { ["OPENBLAS_NUM_THREADS"] = "1" }, TrainArguments(single, batch, Steps));
        Assert.That(one.ExitCode, Is.EqualTo(0), one.Output + one.Error);
        var many = MpiRun.Run(ranks, TrainArguments(parallel, batch, Steps));
        Assert.That(many.ExitCode, Is.EqualTo(0), many.Output + many.Error);
        Assert.That(many.Output, Does.Contain($"{ranks} ranks"));

        // The latents are invariant to a common shift of all anchors (the flow ends at the prior wherever the anchors
        // sit), so the gradient of the encoder's output bias is zero in exact arithmetic: what Adam feeds on there is
        // rounding noise, and one process differs from itself by ~0.3 there between OpenBLAS thread counts.
        var (worstLoss, parameters) = CompareRuns(single, parallel, ranks, batch, Steps, ["encoder.fc2.bias"], Tolerance);
        TestContext.Out.WriteLine($"{ranks} ranks, global batch {batch}: worst loss difference {worstLoss:E2}, {parameters} parameter tensors; "
            + $"1 process {one.Elapsed.TotalSeconds:F1} s, {ranks} ranks {many.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>
    /// `mpirun -n R lzn selftest`: every collective, and against finite differences across the ranks the gathered anchors'
    /// gradient through the Euler and the DPM-Solver++ flows and the representation task's zone loss gradient.
    /// </summary>
    [TestCase(2)]
    [TestCase(3)]
    public void SelftestChecksTheCollectivesAndTheGatheredGradientAcrossRanks(int ranks)
    {
        var result = MpiRun.Run(ranks, "selftest", "--device", "cpu");
        Assert.That(result.ExitCode, Is.EqualTo(0), result.Output + result.Error);
        Assert.That(result.Output, Does.Contain($"MPI (Open MPI").And.Contain($"{ranks} ranks").And.Contain("selftest (distributed): 7 passed, 0 failed"));
        string[] checks = ["gathered anchors grad vs finite differences", "gathered anchors grad, DPM-Solver++, vs finite differences",
            "representation zone loss grad vs finite differences"];
        using (Assert.EnterMultipleScope())
        {
            foreach (string check in checks)
            {
                var line = result.Output.Split('\n').Single(line => line.StartsWith(check, StringComparison.Ordinal));
                TestContext.Out.WriteLine(line);
                Assert.That(line, Does.EndWith("pass"));
            }
        }
    }

    /// <summary>An error on one rank (rank 0 refuses the run folder while the others wait for it) ends every rank with its message.</summary>
    [Test]
    public void AnErrorOnOneRankEndsEveryRankWithItsMessage()
    {
        string run = Path.Combine(_folder, "run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, JointTrainer.MetricsFileName), "");
        var result = MpiRun.Run(2, TrainArguments(run, 8, 4));
        Assert.That(result.ExitCode, Is.EqualTo(2), result.Output + result.Error);
        Assert.That(result.Error, Does.Contain("lzn: error: rank 0 of 2: ").And.Contain("--overwrite"));
        Assert.That(result.Elapsed, Is.LessThan(TimeSpan.FromSeconds(60)));
        Assert.That(File.ReadAllText(Path.Combine(run, JointTrainer.MetricsFileName)), Is.Empty, "nothing saved is lost");
    }

    /// <summary>
    /// The generation task (both latent-flow solvers) and the representation task on 2 ranks with an uneven split (3 + 4
    /// of a global batch of 7) train the model one process trains on the same batches.
    /// </summary>
    /// <param name="undetermined">Tensors whose gradient is (nearly) zero in exact arithmetic, so that Adam feeds on
    /// rounding noise there: the generation encoder's output bias (a common shift of the anchors, which the latents barely
    /// see, as in the joint task: DPM-Solver++ carries eps of the shift to its end at t = 1 - eps), the representation
    /// head's output bias (a common shift of both anchor sets) and the backbone's first convolution bias (removed by the
    /// group norm after it).</param>
    /// <param name="parameterTolerance">The bound on the parameters' relative norm differences: the generation encoder's
    /// gradient is small against the decoder's, so Adam's per-element normalisation lifts the rounding differences of its
    /// first bias in 6 steps to 4.7e-4 on OpenBLAS's AVX2 (Haswell) kernels and to 1.2e-3 on its AVX-512 (Cooperlake)
    /// ones, which round differently; every other tensor stays below 1.1e-4. Ranks that did not share their gradients
    /// would differ by percents.</param>
    [TestCase("generation", "gen-tiny", "euler", "encoder.fc2.bias", 3e-3)]
    [TestCase("generation", "gen-tiny", "dpm", "encoder.fc2.bias", 3e-3)]
    [TestCase("representation", "rep-tiny", null, "backbone.conv1.bias,head.fc2.bias", 1e-4)]
    public void RanksTrainTheOneProcessModelOfTheOtherTasks(string task, string preset, string? solver, string undetermined, double parameterTolerance)
    {
        const int ranks = 2, batch = 7, steps = 6;
        string single = Path.Combine(_folder, "single"), parallel = Path.Combine(_folder, "parallel");
        string[] Arguments(string run) => TaskArguments(task, preset, solver, run, batch, steps);
        var one = CliProcess.Run(new Dictionary<string, string?> { ["OPENBLAS_NUM_THREADS"] = "1" }, Arguments(single));
        Assert.That(one.ExitCode, Is.EqualTo(0), one.Output + one.Error);
        var many = MpiRun.Run(ranks, Arguments(parallel));
        Assert.That(many.ExitCode, Is.EqualTo(0), many.Output + many.Error);
        Assert.That(many.Output, Does.Contain($"{ranks} ranks"));
        var (worstLoss, parameters) = CompareRuns(single, parallel, ranks, batch, steps, undetermined.Split(',', StringSplitOptions.RemoveEmptyEntries), parameterTolerance);
        // The checkpoint records its ranks, so a resume without mpirun is refused.
        MpiRun.WaitUntilNoProcessUses(parallel, TimeSpan.FromSeconds(30));
        CliProcess.Run([.. Arguments(parallel), "--resume"]).AssertUsageError("written by a run of 2 rank(s) and this run has 1");
        TestContext.Out.WriteLine($"{task} {solver}: worst loss difference {worstLoss:E2}, {parameters} parameter tensors; "
            + $"1 process {one.Elapsed.TotalSeconds:F1} s, {ranks} ranks {many.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>
    /// kill -9 of one rank mid-run ends the other (and mpirun) within 60 s; --resume with the same ranks then finishes the run
    /// bit for bit as an uninterrupted one, and a resume with another number of ranks is refused.
    /// </summary>
    [Test]
    public void AKilledRankEndsTheJobAndResumeContinuesExactly()
    {
        const int batch = 9, steps = 200; // the synthetic set holds 2,048 training images
        KillARankAndResume((run, extra) => TrainArguments(run, batch, steps, extra), steps);
    }

    /// <summary>
    /// <see cref="AKilledRankEndsTheJobAndResumeContinuesExactly"/> for the generation task (both latent-flow solvers) and
    /// the representation task, whose trainer saves and restores its own parameter groups.
    /// </summary>
    [TestCase("generation", "gen-tiny", null)]
    [TestCase("generation", "gen-tiny", "dpm")]
    [TestCase("representation", "rep-tiny", null)]
    public void AKilledRankOfTheOtherTasksEndsTheJobAndResumeContinuesExactly(string task, string preset, string? solver)
    {
        // ~15 ms a step on 2 idle cores: the 70 steps after the first checkpoint leave the kill a second or more.
        const int batch = 7, steps = 80;
        KillARankAndResume((run, extra) => TaskArguments(task, preset, solver, run, batch, steps, extra), steps);
    }

    /// <summary>
    /// Runs <paramref name="arguments"/> (a run folder, extra options) on 2 ranks to the end; then again in another folder,
    /// killing one rank with kill -9 once the first checkpoint (every 10 steps) is written; asserts that the job ended
    /// within 60 s, that a resume with 3 ranks and one without mpirun are refused, and that a resume with 2 ranks ends
    /// with the uninterrupted run's checkpoint (every tensor bit for bit), metrics.jsonl and summary.json.
    /// </summary>
    private void KillARankAndResume(Func<string, string[], string[]> arguments, int steps)
    {
        string straight = Path.Combine(_folder, "straight"), killed = Path.Combine(_folder, "killed");
        string[] every10 = ["--checkpoint-every", "10"];
        var uninterrupted = MpiRun.Run(2, arguments(straight, every10));
        Assert.That(uninterrupted.ExitCode, Is.EqualTo(0), uninterrupted.Output + uninterrupted.Error);

        string checkpoint = Path.Combine(killed, JointTrainer.CheckpointFileName);
        var clock = Stopwatch.StartNew();
        using (var job = MpiRun.Start(2, arguments(killed, every10)))
        {
            var error = job.StandardError.ReadToEndAsync();
            var output = job.StandardOutput.ReadToEndAsync();
            var wait = Stopwatch.StartNew();
            while (!File.Exists(checkpoint) && !job.HasExited && wait.Elapsed < MpiRun.Timeout)
                Thread.Sleep(5);
            var ranks = MpiRun.RankProcesses(job);
            // (The output is read only once the job has ended: reading it now would wait for that.)
            Assert.That(job.HasExited, Is.False, "the run ended before its first checkpoint");
            Assert.That(ranks, Has.Count.EqualTo(2));
            Assert.That(MpiRun.KillHard(ranks[^1]), Is.True, $"kill -9 {ranks[^1]}");
            var killedAt = Stopwatch.StartNew();
            bool ended = job.WaitForExit(TimeSpan.FromSeconds(60));
            if (!ended)
                job.Kill(entireProcessTree: true);
            Assert.That(ended, Is.True, "mpirun was still running 60 s after a rank was killed");
            job.WaitForExit();
            // mpirun may return before its ranks are gone: every rank must have exited (or be a zombie) in the same 60 s,
            // and be reaped before the run folder's lock counts it as gone.
            while (ranks.Any(MpiRun.IsRunning) && killedAt.Elapsed < TimeSpan.FromSeconds(60))
                Thread.Sleep(20);
            Assert.That(ranks.Where(MpiRun.IsRunning), Is.Empty, "ranks still running 60 s after a rank was killed");
            double exited = killedAt.Elapsed.TotalSeconds;
            while (ranks.Any(pid => Directory.Exists($"/proc/{pid}")) && killedAt.Elapsed < TimeSpan.FromSeconds(90))
                Thread.Sleep(20);
            Assert.That(job.ExitCode, Is.Not.EqualTo(0), $"{output.Result}\n{error.Result}");
            Assert.That(error.Result + output.Result, Does.Contain("signal 9").Or.Contain("Killed").Or.Contain("killed"));
            TestContext.Out.WriteLine($"every rank had exited {exited:F1} s after kill -9 of one (checkpoint seen at {wait.Elapsed.TotalSeconds:F1} s)");
        }
        long stepAtKill = Checkpoint.Open(checkpoint).Step;
        Assert.That(stepAtKill, Is.InRange(10, steps - 1), "the kill came after a checkpoint and before the end");

        var otherRanks = MpiRun.Run(3, arguments(killed, ["--resume"]));
        otherRanks.AssertRankError(3, "written by a run of 2 rank(s) and this run has 3");
        // mpirun returns while the ranks it ended may still be on their way out, holding the run folder's lock.
        MpiRun.WaitUntilNoProcessUses(killed, TimeSpan.FromSeconds(30));
        var oneProcess = CliProcess.Run(arguments(killed, ["--resume"]));
        oneProcess.AssertUsageError("written by a run of 2 rank(s) and this run has 1");

        var resumed = MpiRun.Run(2, arguments(killed, ["--resume", .. every10]));
        Assert.That(resumed.ExitCode, Is.EqualTo(0), resumed.Output + resumed.Error);
        var expected = Safetensors.Read(Path.Combine(straight, JointTrainer.CheckpointFileName));
        var actual = Safetensors.Read(checkpoint);
        Assert.That(actual.Metadata["step"], Is.EqualTo(steps.ToString(CultureInfo.InvariantCulture)));
        Assert.That(actual.Tensors.Select(tensor => tensor.Name), Is.EqualTo(expected.Tensors.Select(tensor => tensor.Name)));
        Assert.That(actual.Tensors.Where(tensor => !tensor.Data.AsSpan().SequenceEqual(expected[tensor.Name].Data)).Select(tensor => tensor.Name), Is.Empty,
            "tensors (parameters, Adam, EMA) of the resumed run that differ from the uninterrupted run's");
        Assert.That(actual.Metadata, Is.EqualTo(expected.Metadata), "the checkpoints' metadata (config, step, ranks, SHA-256 of the tensors)");
        // Only the times differ: everything else of metrics.jsonl and summary.json, the epoch's mean losses included
        // (the checkpoint carries the epoch's sums), is the uninterrupted run's.
        string[] resumeDependent = ["items_per_second", "epoch_seconds", "wall_seconds"];
        Assert.That(MetricsLines(killed, "step", resumeDependent), Is.EqualTo(MetricsLines(straight, "step", resumeDependent)),
            "metrics.jsonl holds every step once, with the uninterrupted run's losses, gradient norms and learning rates");
        Assert.That(MetricsLines(killed, "epoch", resumeDependent), Is.EqualTo(MetricsLines(straight, "epoch", resumeDependent)), "metrics.jsonl's epoch lines");
        Assert.That(Fields(File.ReadAllText(Path.Combine(killed, RunOutputs.SummaryFileName)), resumeDependent),
            Is.EqualTo(Fields(File.ReadAllText(Path.Combine(straight, RunOutputs.SummaryFileName)), resumeDependent)), "summary.json");
        TestContext.Out.WriteLine($"killed at step {stepAtKill}; uninterrupted {uninterrupted.Elapsed.TotalSeconds:F1} s, killed run, refusals and resume "
            + $"{clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>
    /// Asserts that a run of <paramref name="ranks"/> ranks logged every step once with the one-process run's losses and
    /// ended with its parameters (relative norm differences below <paramref name="parameterTolerance"/>), except the tensors whose
    /// gradient is (nearly) zero in exact arithmetic, <paramref name="undetermined"/>: those with a gradient of rounding noise
    /// alone (Adam's second moment below 1e-14) must be among them.
    /// Returns the worst relative loss difference and the number of parameter tensors compared.
    /// </summary>
    private static (double WorstLoss, int Parameters) CompareRuns(string single, string parallel, int ranks, int batch, int steps, string[] undetermined, double parameterTolerance)
    {
        var expected = Losses(single);
        var actual = Losses(parallel);
        Assert.That(actual.Keys, Is.EqualTo(Enumerable.Range(1, steps)), "metrics.jsonl of rank 0 logs every step once");
        double worstLoss = expected.Max(step => Math.Abs(actual[step.Key] - step.Value) / Math.Abs(step.Value));
        Assert.That(worstLoss, Is.LessThan(Tolerance), "the worst relative loss difference over the steps");

        var reference = Safetensors.Read(Path.Combine(single, JointTrainer.CheckpointFileName));
        var trained = Checkpoint.Open(Path.Combine(parallel, JointTrainer.CheckpointFileName));
        Assert.That(trained.WorldSize, Is.EqualTo(ranks));
        var noise = reference.Tensors.Where(IsParameter)
            .Where(tensor => Math.Sqrt(reference[$"adam/v/{tensor.Name}"].ToFloat32().Max()) < 1e-7).Select(tensor => tensor.Name).ToList();
        Assert.That(noise, Is.SubsetOf(undetermined), "tensors whose gradient is rounding noise alone");
        var differences = reference.Tensors.Where(tensor => IsParameter(tensor) && !undetermined.Contains(tensor.Name))
            .ToDictionary(tensor => tensor.Name, tensor => TrainingFixtures.RelativeDifference(trained.File[tensor.Name].ToFloat32(), tensor.ToFloat32()));
        foreach (var (name, difference) in differences)
            TestContext.Out.WriteLine($"{name}: {difference:E2}");
        Assert.That(differences, Has.Count.GreaterThan(3));
        Assert.That(differences.Where(entry => !(entry.Value < parameterTolerance)), Is.Empty, "parameter tensors whose relative norm difference is not below the bound");
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(parallel, RunOutputs.SummaryFileName)));
        Assert.That(summary.RootElement.GetProperty("world_size").GetInt32(), Is.EqualTo(ranks));
        Assert.That(summary.RootElement.GetProperty("batch_size").GetInt32(), Is.EqualTo(batch));
        return (worstLoss, differences.Count);
    }

    private static bool IsParameter(SafeTensor tensor) =>
        tensor.DType == TensorDType.F32 && !tensor.Name.StartsWith("adam/", StringComparison.Ordinal) && !tensor.Name.StartsWith("ema/", StringComparison.Ordinal);

    /// <summary>The fields of every line of <paramref name="kind"/> of a run's metrics.jsonl but <paramref name="leftOut"/>.</summary>
    private static List<Dictionary<string, string>> MetricsLines(string run, string kind, string[] leftOut) =>
    [
        .. File.ReadAllLines(Path.Combine(run, JointTrainer.MetricsFileName)).Select(line => Fields(line, leftOut))
            .Where(fields => fields["kind"] == JsonSerializer.Serialize(kind)),
    ];

    /// <summary>The fields of a JSON object, each as its JSON text, but <paramref name="leftOut"/>.</summary>
    private static Dictionary<string, string> Fields(string json, string[] leftOut)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject().Where(property => !leftOut.Contains(property.Name))
            .ToDictionary(property => property.Name, property => property.Value.GetRawText());
    }

    /// <summary>The "loss" of every "step" line of a run's metrics.jsonl, by step.</summary>
    private static SortedDictionary<int, double> Losses(string run)
    {
        var losses = new SortedDictionary<int, double>();
        foreach (string line in File.ReadAllLines(Path.Combine(run, JointTrainer.MetricsFileName)))
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            if (root.GetProperty("kind").GetString() == "step")
                Assert.That(losses.TryAdd(root.GetProperty("step").GetInt32(), root.GetProperty("loss").GetDouble()), Is.True, $"{run}: step logged twice");
        }
        return losses;
    }
}

/// <summary>
/// Two ranks sharing CUDA device 0 (the emulated device in CI, any GPU elsewhere), their buffers staged through the host
/// for MPI, against one process on the same device: the same losses after 2 steps, and the same label anchors (joint
/// task) or the same Adam first moments, a fixed mix of the 2 steps' gradients (generation and representation tasks).
/// </summary>
[Category("GPU")]
[Category("Distributed")]
public class DistributedCudaTrainingTests
{
    private string _folder = "";

    [SetUp]
    public void SetUp()
    {
        MpiRun.Launcher();
        using (LZN.Tests.Cuda.CudaRequirement.CreateBackend())
        {
        }
        _folder = Directory.CreateTempSubdirectory("lzn-distributed-cuda-").FullName;
    }

    // Without a device SetUp ignores the test before the folder exists.
    [TearDown]
    public void TearDown()
    {
        if (_folder.Length > 0)
            Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public void TwoRanksOnOneCudaDeviceTrainTheOneProcessModel()
    {
        var (reference, trained) = TrainOnOneProcessAndTwoRanks("joint", "tiny");
        double difference = RelativeDifference(reference[JointModel.LabelAnchorsName], trained[JointModel.LabelAnchorsName]);
        Assert.That(difference, Is.LessThan(1e-4), "relative norm difference of the label anchors");
        TestContext.Out.WriteLine($"label anchors differ by {difference:E2}");
    }

    /// <param name="undetermined">The tensors whose gradient is (nearly) zero in exact arithmetic (see
    /// <see cref="DistributedTrainingTests.RanksTrainTheOneProcessModelOfTheOtherTasks"/>): their moments are rounding noise.</param>
    [TestCase("generation", "gen-tiny", "encoder.fc2.bias")]
    [TestCase("representation", "rep-tiny", "backbone.conv1.bias,head.fc2.bias")]
    public void TwoRanksOnOneCudaDeviceTrainTheOneProcessModelOfTheOtherTasks(string task, string preset, string undetermined)
    {
        var (reference, trained) = TrainOnOneProcessAndTwoRanks(task, preset);
        const string moment = "adam/m/";
        string[] leftOut = undetermined.Split(',');
        var differences = reference.Tensors.Where(tensor => tensor.Name.StartsWith(moment, StringComparison.Ordinal) && !leftOut.Contains(tensor.Name[moment.Length..]))
            .ToDictionary(tensor => tensor.Name, tensor => RelativeDifference(tensor, trained[tensor.Name]));
        Assert.That(differences, Has.Count.GreaterThan(3));
        double worst = differences.Values.Max();
        Assert.That(differences.Where(entry => !(entry.Value < 1e-3)), Is.Empty, "Adam first moments whose relative norm difference is not below 1e-3");
        TestContext.Out.WriteLine($"{differences.Count} first moments within {worst:E2}");
    }

    /// <summary>
    /// 2 steps of <paramref name="task"/> (global batch 7) on device 0 in one process and on 2 ranks; asserts both ran and
    /// logged the same losses; returns the two checkpoints.
    /// </summary>
    private (SafetensorsFile Reference, SafetensorsFile Trained) TrainOnOneProcessAndTwoRanks(string task, string preset)
    {
        string[] Arguments(string run) =>
        [
            "train", "--task", task, "--data", "synthetic", "--preset", preset, "--device", "cuda:0", "--batch", "7", "--train-limit", "14",
            "--test-limit", "4", "--epochs", "1", "--log-every", "1", "--out", Path.Combine(_folder, run),
        ];
        // The kernels' race check has its own tests; here it would only multiply the emulator's time several times over.
        var environment = new Dictionary<string, string?> { ["OPENBLAS_NUM_THREADS"] = "1", ["LZN_EMULATOR_RACECHECK"] = "off" };
        var one = CliProcess.Run(environment, Arguments("single"));
        Assert.That(one.ExitCode, Is.EqualTo(0), one.Output + one.Error);
        var two = MpiRun.Run(2, environment, Arguments("parallel"));
        Assert.That(two.ExitCode, Is.EqualTo(0), two.Output + two.Error);
        Assert.That(two.Output, Does.Contain("CUDA").And.Contain("2 ranks"));
        string Metrics(string run) => File.ReadAllText(Path.Combine(_folder, run, JointTrainer.MetricsFileName));
        var expected = Losses(Metrics("single"));
        var actual = Losses(Metrics("parallel"));
        Assert.That(actual, Has.Count.EqualTo(2));
        for (int i = 0; i < expected.Count; i++)
            Assert.That(Math.Abs(actual[i] - expected[i]) / Math.Abs(expected[i]), Is.LessThan(1e-4), $"loss of step {i + 1}");
        TestContext.Out.WriteLine($"{task}: 1 process {one.Elapsed.TotalSeconds:F1} s, 2 ranks {two.Elapsed.TotalSeconds:F1} s; worst relative loss difference "
            + $"{expected.Zip(actual, (e, a) => Math.Abs(a - e) / Math.Abs(e)).Max():E2}");
        return (Safetensors.Read(Path.Combine(_folder, "single", JointTrainer.CheckpointFileName)),
            Safetensors.Read(Path.Combine(_folder, "parallel", JointTrainer.CheckpointFileName)));
    }

    private static double RelativeDifference(SafeTensor expected, SafeTensor actual) =>
        TrainingFixtures.RelativeDifference(actual.ToFloat32(), expected.ToFloat32());

    private static List<double> Losses(string metrics)
    {
        var losses = new List<double>();
        foreach (string line in metrics.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.GetProperty("kind").GetString() == "step")
                losses.Add(document.RootElement.GetProperty("loss").GetDouble());
        }
        return losses;
    }
}
