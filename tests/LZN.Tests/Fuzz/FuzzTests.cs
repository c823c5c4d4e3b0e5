using System.Diagnostics;

namespace LZN.Tests.Fuzz;

/// <summary>
/// The fuzz suite: mutated .npy files, checkpoints (container and the config in __metadata__) and IDX folders, generated
/// from a fixed seed, each with its expected outcome, through the real lzn. It fails on any crash, hang (more than
/// 10 s), exit 0 on invalid input, refused valid input, or refusal not in one line. CI runs every sixth case (200, within
/// 5 minutes); <see cref="TheFullCorpus"/> runs all 1,200 (by name: dotnet test --filter Name=TheFullCorpus).
/// </summary>
[NonParallelizable]
public class FuzzTests
{
    [Test]
    public void EveryCaseHasItsFamilyAndTheCorpusMixesValidAndInvalidInputs()
    {
        var cases = Enumerable.Range(0, FuzzCorpus.FullCount).Select(i => FuzzCorpus.Generate(i, Base.Value)).ToList();
        Assert.That(cases.Select(c => c.Index), Is.EqualTo(Enumerable.Range(0, FuzzCorpus.FullCount)));
        foreach (var family in cases.GroupBy(c => c.Family.Split(' ')[0]))
        {
            Assert.That(family.Count(c => c.Expected == Expectation.Valid), Is.GreaterThan(family.Count() / 10), family.Key);
            Assert.That(family.Count(c => c.Expected == Expectation.Rejected), Is.GreaterThan(family.Count() / 3), family.Key);
        }
        var again = FuzzCorpus.Generate(777, Base.Value);
        Assert.That(again.Files.Values.Single(), Is.EqualTo(cases[777].Files.Values.Single()), "a case depends only on the seed and its index");
        // Fixed across processes and machines, so a failure's case number names the same input everywhere.
        Assert.That(new[] { FuzzCorpus.CaseSeed(0), FuzzCorpus.CaseSeed(1), FuzzCorpus.CaseSeed(1199) }, Is.EqualTo(ExpectedSeeds));
    }

    /// <summary>SplitMix64 of (20251203, i) for i = 0, 1, 1199, computed outside .NET; a change here changes every case.</summary>
    private static readonly int[] ExpectedSeeds = [1_270_084_382, 1_934_918_384, 745_202_377];

    [Test]
    public void TheCiSubsetPassesWithinFiveMinutes() => Run(FuzzCorpus.CiSubset.ToList(), TimeSpan.FromMinutes(5));

    [Test]
    [Explicit("1,200 cases, 3-6 minutes on 2 cores: dotnet test --filter Name=TheFullCorpus")]
    public void TheFullCorpus() => Run(Enumerable.Range(0, FuzzCorpus.FullCount).ToList(), TimeSpan.FromMinutes(30));

    private static readonly Lazy<byte[]> Base = new(() =>
    {
        using var runner = new FuzzRunner();
        return runner.BaseCheckpoint;
    });

    private static void Run(IReadOnlyList<int> indices, TimeSpan budget)
    {
        using var runner = new FuzzRunner();
        var clock = Stopwatch.StartNew();
        var results = runner.Run(indices);
        string report = FuzzRunner.Report(results, clock.Elapsed);
        TestContext.Out.WriteLine(report);
        string? artifacts = Environment.GetEnvironmentVariable("LZN_FUZZ_REPORT");
        if (!string.IsNullOrEmpty(artifacts))
            File.WriteAllText(artifacts, report);
        Assert.That(results, Has.Count.EqualTo(indices.Count));
        Assert.That(results.Where(r => r.Verdict != Verdict.Pass), Is.Empty, report);
        Assert.That(clock.Elapsed, Is.LessThan(budget), report);
    }
}
