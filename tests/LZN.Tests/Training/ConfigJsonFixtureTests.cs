using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// The config JSON every preset (and a few variants that exercise the optional keys) writes, byte for byte as the
/// hand-written writer before source generation wrote it: Fixtures/training-configs.txt holds one "name TAB json" line
/// each. Checkpoints store this text, so a change here is a format change.
/// </summary>
public class ConfigJsonFixtureTests
{
    private static string ExpectedPath => Path.Combine(AppContext.BaseDirectory, "Fixtures", "training-configs.txt");

    /// <summary>Every preset as it is, and variants that write the keys the presets leave out or set otherwise.</summary>
    public static IEnumerable<(string Name, TrainingConfig Config)> Configs()
    {
        foreach (string preset in TrainingConfig.Presets.Keys)
            yield return (preset, TrainingConfig.FromPreset(preset));
        yield return ("tiny+freezes", TrainingConfig.FromPreset("tiny") with
        {
            FreezeEncoderAfter = 7, FreezeDecoderAfter = 8, FreezeLabelsAfter = 9, Seed = ulong.MaxValue, TrainLimit = 7, EncoderDropout = 0.35f,
            DecoderLatentNoiseScale = 0.45f, WeightDecay = 1e-4, Data = "/some/folder",
        });
        yield return ("gen-tiny+none", TrainingConfig.FromPreset("gen-tiny") with { ZeroLatent = true, FreezeEncoderAfter = 3 });
        yield return ("rep-tiny+noviews", TrainingConfig.FromPreset("rep-tiny") with { Views = [], FeatureDim = 24, ClassCount = 3 });
    }

    private static Dictionary<string, string> Expected() => File.ReadAllLines(ExpectedPath)
        .Select(line => line.Split('\t', 2))
        .ToDictionary(parts => parts[0], parts => parts[1], StringComparer.Ordinal);

    [Test]
    public void EveryConfigWritesTheJsonTheOldWriterWrote()
    {
        var expected = Expected();
        var configs = Configs().ToList();

        Assert.That(configs.Select(entry => entry.Name), Is.EquivalentTo(expected.Keys), "one expected line per config");
        foreach (var (name, config) in configs)
            Assert.That(config.ToJson(), Is.EqualTo(expected[name]), name);
    }

    [Test]
    public void EveryExpectedJsonReadsBackToItsConfig()
    {
        var expected = Expected();
        foreach (var (name, config) in Configs())
            Assert.That(TrainingConfig.FromJson(expected[name]), Is.EqualTo(config).Using<TrainingConfig>((a, b) => a.ToJson() == b.ToJson()), name);
    }
}
