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
        var tiny = TrainingConfig.FromPreset("tiny");
        yield return ("tiny+freezes", tiny with
        {
            Seed = ulong.MaxValue,
            Optimizer = tiny.Optimizer with { FreezeEncoderAfter = 7, FreezeDecoderAfter = 8, FreezeLabelsAfter = 9, WeightDecay = 1e-4 },
            Data = tiny.Data with { TrainLimit = 7, Source = "/some/folder" },
            Encoder = tiny.Encoder with { Dropout = 0.35f },
            Decoder = tiny.Decoder with { LatentNoiseScale = 0.45f },
        });
        var genTiny = TrainingConfig.FromPreset("gen-tiny");
        yield return ("gen-tiny+none", genTiny with { Decoder = genTiny.Decoder with { ZeroLatent = true }, Optimizer = genTiny.Optimizer with { FreezeEncoderAfter = 3 } });
        var repTiny = TrainingConfig.FromPreset("rep-tiny");
        yield return ("rep-tiny+noviews", repTiny with { Augmentation = repTiny.Augmentation with { Views = [] }, Representation = repTiny.Representation with { FeatureDim = 24 }, Data = repTiny.Data with { ClassCount = 3 } });
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

    /// <summary>The reader refuses JSON that does not fit the config with one line naming the key.</summary>
    [TestCase("latent_dim", "null", "'latent_dim'")]
    [TestCase("latent_dim", "\"16\"", "'latent_dim'")]
    [TestCase("checkpoint_every", "1099511627776", "'checkpoint_every'")]
    [TestCase("seed", "5", "'seed'")]
    [TestCase("seed", "\"-5\"", "'seed' is not an unsigned integer")]
    [TestCase("hidden_sizes", "[64, \"x\"]", "'hidden_sizes'")]
    [TestCase("encoder", "\"rnn\"", "unknown encoder 'rnn'")]
    [TestCase("lr_decay", "\"linear\"", "unknown lr_decay 'linear'")]
    [TestCase("augment_flip", "1", "'augment_flip'")]
    [TestCase("preset", "3", "'preset'")]
    public void AMistypedValueIsRefusedNamingItsKey(string key, string value, string expected)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(TrainingConfig.FromPreset("tiny").ToJson())!.AsObject();
        json[key] = System.Text.Json.Nodes.JsonNode.Parse(value);

        Assert.That(() => TrainingConfig.FromJson(json.ToJsonString()), Throws.TypeOf<FormatException>().With.Message.Contains(expected).And.Message.Not.Contains("\n"));
    }

    [Test]
    public void AMissingRequiredKeyIsRefusedNamingIt()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(TrainingConfig.FromPreset("tiny").ToJson())!.AsObject();
        json.Remove("eval_batch");

        Assert.That(() => TrainingConfig.FromJson(json.ToJsonString()), Throws.TypeOf<FormatException>().With.Message.Contains("'eval_batch'"));
    }

    [TestCase("[1]", "not a JSON object")]
    [TestCase("null", "not a JSON object")]
    [TestCase("{\"preset\": ", "not valid JSON")]
    public void JsonThatIsNoObjectIsRefused(string json, string expected) =>
        Assert.That(() => TrainingConfig.FromJson(json), Throws.TypeOf<FormatException>().With.Message.Contains(expected));

    [Test]
    public void KeysTheReaderDoesNotKnowAreSkipped()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(TrainingConfig.FromPreset("tiny").ToJson())!.AsObject();
        json["written_by_a_later_build"] = 1;

        Assert.That(TrainingConfig.FromJson(json.ToJsonString()).ToJson(), Is.EqualTo(TrainingConfig.FromPreset("tiny").ToJson()));
    }
}
