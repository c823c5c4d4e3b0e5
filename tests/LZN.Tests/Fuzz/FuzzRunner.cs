using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using LZN.Native.Backends.Cpu;
using LZN.Native.Training;
using LZN.Tests.Cli;
using LZN.Tests.Training;

namespace LZN.Tests.Fuzz;

/// <summary>The corpus: case i is generated from (seed, i) alone, so any subset is the same cases as in the full run.</summary>
internal static class FuzzCorpus
{
    public const int Seed = 20_251_203;

    /// <summary>
    /// The full corpus (run locally by the explicit test): 1,200 cases, a quarter per input family (.npy, the checkpoint
    /// container, the config in a checkpoint's metadata, IDX folders), in turn.
    /// </summary>
    public const int FullCount = 1200;

    /// <summary>Every sixth run of four consecutive cases (one per family): 200 of the full corpus, the same mix (CI runs these).</summary>
    public static IEnumerable<int> CiSubset => Enumerable.Range(0, FullCount).Where(i => i / 4 % 6 == 0);

    /// <summary>
    /// The seed of case <paramref name="index"/>: SplitMix64 of (seed, index), the same in every process (HashCode is
    /// randomised per process, so it cannot serve).
    /// </summary>
    public static int CaseSeed(int index)
    {
        ulong z = ((ulong)Seed << 32 | (uint)index) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)((z ^ (z >> 31)) & int.MaxValue);
    }

    public static FuzzCase Generate(int index, byte[] baseCheckpoint)
    {
        var random = new Random(CaseSeed(index));
        return (index % 4) switch
        {
            0 => NpyFuzz.Generate(index, random),
            1 => CheckpointFuzz.Container(index, random, baseCheckpoint),
            2 => CheckpointFuzz.Config(index, random, baseCheckpoint),
            _ => IdxFuzz.Generate(index, random),
        };
    }
}

/// <summary>
/// Runs fuzz cases through the real lzn, two at a time, each in its own folder, and judges each against its expected
/// outcome: a stack trace or an exit code other than 0 and 2 is a crash, more than <see cref="HangLimit"/> a hang, exit 0
/// on an invalid input silent garbage, a refusal of a valid one a false rejection.
/// </summary>
internal sealed class FuzzRunner : IDisposable
{
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(10);

    private readonly string _folder;

    public FuzzRunner()
    {
        _folder = Directory.CreateTempSubdirectory("lzn-fuzz-").FullName;
        SharedFolder = Path.Combine(_folder, "shared");
        Directory.CreateDirectory(SharedFolder);
        BaseCheckpoint = TrainBaseCheckpoint(SharedFolder);
    }

    /// <summary>The unmutated bases: the checkpoint the IDX cases evaluate with.</summary>
    public string SharedFolder { get; }

    /// <summary>The bytes of a real checkpoint: the tiny preset after two steps on synthetic images.</summary>
    public byte[] BaseCheckpoint { get; }

    private static byte[] TrainBaseCheckpoint(string folder)
    {
        using var backend = new CpuBackend();
        var tiny = TrainingFixtures.Tiny();
        using var trainer = new JointTrainer(backend, tiny with { Latent = tiny.Latent with { Steps = 8, LabelSteps = 20 } }, TrainingFixtures.Train(), null, folder);
        trainer.TrainStep();
        trainer.TrainStep();
        trainer.SaveCheckpoint();
        return File.ReadAllBytes(trainer.CheckpointPath);
    }

    public IReadOnlyList<FuzzResult> Run(IEnumerable<int> indices)
    {
        var results = new ConcurrentBag<FuzzResult>();
        Parallel.ForEach(indices, new ParallelOptions { MaxDegreeOfParallelism = 2 }, index =>
            results.Add(Run(FuzzCorpus.Generate(index, BaseCheckpoint))));
        return [.. results.OrderBy(result => result.Case.Index)];
    }

    private FuzzResult Run(FuzzCase fuzzCase)
    {
        string folder = Path.Combine(_folder, $"case-{fuzzCase.Index:D4}");
        Directory.CreateDirectory(folder);
        try
        {
            foreach (var (name, bytes) in fuzzCase.Files)
                File.WriteAllBytes(Path.Combine(folder, name), bytes);
            string[] arguments = [.. fuzzCase.Arguments.Select(a => a.Replace("{case}", folder, StringComparison.Ordinal).Replace("{shared}", SharedFolder, StringComparison.Ordinal))];
            var result = CliProcess.TryRun(HangLimit, new Dictionary<string, string?>(), arguments);
            return result is null
                ? new FuzzResult(fuzzCase, Verdict.Hang, null, HangLimit, "")
                : new FuzzResult(fuzzCase, Judge(fuzzCase.Expected, result), result.ExitCode, result.Elapsed, result.Error);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static Verdict Judge(Expectation expected, CliProcess.Result result)
    {
        bool stackTrace = result.Error.Contains("Unhandled exception", StringComparison.Ordinal)
            || result.Error.Split('\n').Any(line => line.StartsWith("   at ", StringComparison.Ordinal));
        if (stackTrace || result.ExitCode is not (0 or 2))
            return Verdict.Crash;
        if (expected == Expectation.Rejected && result.ExitCode == 0)
            return Verdict.SilentGarbage;
        if (expected == Expectation.Valid && result.ExitCode != 0)
            return Verdict.FalseRejection;
        int errorLines = result.Error.Split('\n').Count(line => line.StartsWith("lzn: error:", StringComparison.Ordinal));
        return expected == Expectation.Rejected && errorLines != 1 ? Verdict.UnclearRejection : Verdict.Pass;
    }

    /// <summary>Counts per family and outcome, the slowest case, and every failure with its command and stderr.</summary>
    public static string Report(IReadOnlyList<FuzzResult> results, TimeSpan elapsed)
    {
        var text = new StringBuilder();
        string verdicts = string.Join(", ", Enum.GetValues<Verdict>().Select(v => $"{results.Count(r => r.Verdict == v)} {v}"));
        text.AppendLine(CultureInfo.InvariantCulture, $"fuzz: {results.Count} cases (seed {FuzzCorpus.Seed}) in {elapsed.TotalSeconds:F0} s; {verdicts}");
        foreach (var family in results.GroupBy(r => r.Case.Family).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            int valid = family.Count(r => r.Case.Expected == Expectation.Valid), failed = family.Count(r => r.Verdict != Verdict.Pass);
            int kinds = family.Select(r => r.Case.Mutation.Split(' ')[0].Split(':')[0]).Distinct().Count();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"  {family.Key}: {family.Count()} cases, {valid} valid / {family.Count() - valid} invalid, {failed} failed, {kinds} kinds of mutation");
        }
        var slowest = results.MaxBy(r => r.Elapsed);
        if (slowest is not null)
            text.AppendLine(CultureInfo.InvariantCulture, $"  slowest: {slowest.Elapsed.TotalSeconds:F1} s ({slowest.Case})");
        foreach (var failure in results.Where(r => r.Verdict != Verdict.Pass))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {failure.Verdict}: {failure.Case} -> exit {failure.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}");
            foreach (string line in failure.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(6))
                text.AppendLine(CultureInfo.InvariantCulture, $"      {line}");
        }
        return text.ToString();
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
