using System.Text.Json;
using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// The representation task: its gradient (zone loss through the view-2 reverse flow, the view-1 latent flow, head and
/// backbone) against central differences of the same step's loss, exact resume, its checkpoints and config.
/// </summary>
public class RepresentationTests
{
    // As in JointGradientTests: the max-over-steps log probability curves strongly, so the step is small.
    private const float Epsilon = 5e-4f;

    /// <summary>rep-tiny at batch 8 on synthetic images (4 steps per epoch with 32 images).</summary>
    private static TrainingConfig Small(int epochs = 1)
    {
        var repTiny = TrainingConfig.FromPreset("rep-tiny");
        return repTiny with
        {
            Schedule = repTiny.Schedule with { BatchSize = 8, Epochs = epochs, CheckpointEvery = 0, LogEvery = 1, EvalBatch = 16 },
            Data = repTiny.Data with { Source = DataSources.Synthetic },
        };
    }

    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = TrainingFixtures.TemporaryFolder("lzn-representation-");

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [TestCase("backbone.conv1.weight", "crop,flip,affine,jitter,erase")]
    [TestCase("backbone.fc.weight", "crop,flip,affine,jitter,erase")]
    [TestCase("head.fc1.weight", "crop,flip,affine,jitter,erase")]
    [TestCase("head.fc2.weight", "crop,flip,affine,jitter,erase")]
    [TestCase("head.fc2.weight", "noise")]
    [TestCase("backbone.norm2.weight", "noise")]
    public void TheGradientMatchesCentralDifferences(string parameterName, string views)
    {
        using var backend = new CpuBackend();
        var small = Small();
        using var model = new RepresentationModel(backend, small with { Augmentation = small.Augmentation with { Views = views.Split(',') } });
        var images = SyntheticImages.Generate(8, 10, DataSources.SyntheticShape, seed: 3).Images; // [8, imageSize]
        var parameter = model.Parameters.Single(p => p.Name == parameterName);

        model.Backbone.ZeroGrad();
        model.Head.ZeroGrad();
        model.Backward(images, step: 3);
        CentralDifferences.AssertMatches(backend, parameter, parameter.Grad.ToArray(), () =>
        {
            model.Backbone.ZeroGrad();
            model.Head.ZeroGrad();
            return model.Backward(images, step: 3);
        }, Epsilon);
    }

    [Test]
    public void TheTwoViewsDifferAndARowsViewsDependOnlyOnItsGlobalIndex()
    {
        using var backend = new CpuBackend();
        using var model = new RepresentationModel(backend, Small());
        var images = SyntheticImages.Generate(8, 10, DataSources.SyntheticShape, seed: 3).Images; // [8, imageSize]
        int size = DataSources.SyntheticShape.Size;
        var views = new float[2 * images.Length]; // [16, imageSize]
        model.MakeViews(images, views, step: 5);
        Assert.That(views.AsSpan(0, size).SequenceEqual(views.AsSpan(8 * size, size)), Is.False, "view 1 and view 2 of an image differ");
        Assert.That(views.AsSpan(0, size).SequenceEqual(images.AsSpan(0, size)), Is.False, "a view is augmented");

        // Step 5 of batch 8 holds global rows 40..47; step 11 of batch 4 holds rows 44..47, the same rows.
        var half = new float[2 * 4 * size]; // [8, imageSize]
        model.MakeViews(images.AsSpan(4 * size), half, step: 11);
        Assert.That(half.AsSpan(0, 4 * size).SequenceEqual(views.AsSpan(4 * size, 4 * size)), "view 1 of rows 44..47");
        Assert.That(half.AsSpan(4 * size).SequenceEqual(views.AsSpan(12 * size, 4 * size)), "view 2 of rows 44..47");
    }

    [Test]
    public void AnInterruptedAndResumedRunRepeatsTheUninterruptedOneExactly()
    {
        using var backend = new CpuBackend();
        var config = Small(epochs: 3);
        var train = TrainingFixtures.Train(32);
        var test = TrainingFixtures.Test(32);
        var straightLosses = new List<JointLosses>();
        float[][] straightParameters;
        TrainingResult straight;
        using (var trainer = new RepresentationTrainer(backend, config, train, test, Path.Combine(_folder, "straight")))
        {
            straight = trainer.Run(CancellationToken.None, progress => straightLosses.Add(progress.Losses));
            straightParameters = [.. trainer.Parameters.Select(parameter => parameter.Value.ToArray())];
        }
        Assert.That(straightLosses, Has.Count.EqualTo(12));
        Assert.That(straightLosses.Select(losses => losses.Label), Has.All.GreaterThan(0.0));

        string split = Path.Combine(_folder, "split");
        var splitLosses = new List<JointLosses>();
        using (var cancellation = new CancellationTokenSource())
        using (var first = new RepresentationTrainer(backend, config, train, test, split))
        {
            var interrupted = first.Run(cancellation.Token, progress =>
            {
                splitLosses.Add(progress.Losses);
                if (progress.Step == 6)
                    cancellation.Cancel();
            });
            Assert.That((interrupted.Completed, interrupted.Step), Is.EqualTo((false, 6L)));
        }
        TrainingResult resumed;
        float[][] resumedParameters;
        using (var second = new RepresentationTrainer(backend, config, train, test, split))
        {
            second.Resume(Checkpoint.Open(second.CheckpointPath));
            resumed = second.Run(CancellationToken.None, progress => splitLosses.Add(progress.Losses));
            resumedParameters = [.. second.Parameters.Select(parameter => parameter.Value.ToArray())];
        }

        Assert.That(splitLosses, Is.EqualTo(straightLosses));
        for (int i = 0; i < straightParameters.Length; i++)
            Assert.That(resumedParameters[i], Is.EqualTo(straightParameters[i]), $"parameter {i}");
        Assert.That(resumed.TestAccuracy, Is.EqualTo(straight.TestAccuracy));
        Assert.That(straight.TestAccuracy, Is.InRange(0.0, 1.0), "the epoch's k-NN accuracy");
        // Epoch 1 began before the interruption at step 6: its means cover its steps on both sides of it.
        Assert.That(TrainingFixtures.WithoutTimes(resumed.Epochs), Is.EqualTo(TrainingFixtures.WithoutTimes(straight.Epochs.Skip(1))));
    }

    [Test]
    public void TheCheckpointRecordsTheTaskAndOnlyAModelOfThatTaskLoadsIt()
    {
        using var backend = new CpuBackend();
        var small = Small();
        var config = small with { Representation = small.Representation with { FeatureDim = 24 }, Augmentation = small.Augmentation with { Views = ["crop", "noise"] } };
        using (var trainer = new RepresentationTrainer(backend, config, TrainingFixtures.Train(32), null, _folder))
        {
            trainer.TrainStep();
            trainer.SaveCheckpoint();
        }
        var info = Checkpoint.Open(Path.Combine(_folder, JointTrainer.CheckpointFileName));
        Assert.That(info.Config, Is.EqualTo(config).Using<TrainingConfig>((a, b) => a.ToJson() == b.ToJson()));
        Assert.That(info.Step, Is.EqualTo(1));
        using (var document = JsonDocument.Parse(info.File.Metadata["config"]))
        {
            Assert.That(document.RootElement.GetProperty("task").GetString(), Is.EqualTo("representation"));
            Assert.That(document.RootElement.GetProperty("views").EnumerateArray().Select(view => view.GetString()), Is.EqualTo(new[] { "crop", "noise" }));
        }
        Assert.That(() => Checkpoint.RequireTask(info, "lzn eval", TrainingTask.Joint),
            Throws.InstanceOf<Native.IO.SafetensorsFormatException>().With.Message.Contains("a representation-task checkpoint; lzn eval takes joint-task checkpoints"));
        Assert.That(() => new JointModel(backend, info.Config), Throws.InstanceOf<ArgumentException>());
        Assert.That(TrainingConfig.FromPreset("tiny").ToJson(), Does.Not.Contain("\"task\""), "a joint config reads as it did before tasks existed");
    }

    [Test]
    public void TheConfigRefusesWhatTheRepresentationTaskDoesNotHave()
    {
        var small = Small();
        Assert.That(() => (small with { Encoder = small.Encoder with { Kind = EncoderKind.Mlp } }).Validate(), Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("encoder"));
        Assert.That(() => (small with { Augmentation = small.Augmentation with { Flip = true } }).Validate(), Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("augment_flip"));
        Assert.That(() => (small with { Augmentation = small.Augmentation with { Views = ["crop", "crop"] } }).Validate(), Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("views"));
        Assert.That(() => (small with { Augmentation = small.Augmentation with { Views = ["blur"] } }).Validate(), Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("views"));
        Assert.That(() => (small with { Representation = small.Representation with { FeatureDim = 0 } }).Validate(), Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("feature_dim"));
        Assert.That(TrainingConfig.FromJson((small with { Augmentation = small.Augmentation with { Views = [] } }).ToJson()).Augmentation.Views, Is.Empty, "no augmentation at all is a valid ablation");
        Assert.That(() => (small with { Representation = small.Representation with { ProbeFeatures = (ProbeFeatures)4 } }).Validate(),
            Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("probe_features"));
        Assert.That(() => TrainingConfig.FromJson(small.ToJson().Replace("\"projection_hidden\":32", "\"projection_hidden\":32,\"probe_features\":\"conv\"", StringComparison.Ordinal)),
            Throws.InstanceOf<FormatException>().With.Message.Contains("probe_features 'conv'"));
    }

    [Test]
    public void TheProbeReadsTheBackboneOutputTheLastConvolutionsPooledChannelsBothOrTheWholeMap()
    {
        using var backend = new CpuBackend();
        var small = Small();
        var images = TrainingFixtures.Train(5);
        RepresentationModel Model(ProbeFeatures features) =>
            new(backend, small with { Representation = small.Representation with { ProbeFeatures = features } });
        using var backbone = Model(ProbeFeatures.Backbone);
        using var pooled = Model(ProbeFeatures.Pooled);
        using var both = Model(ProbeFeatures.Both);
        using var map = Model(ProbeFeatures.Map);
        int featureDim = small.Representation.FeatureDim, channels = small.Encoder.Channels[^1], mapSize = pooled.Backbone.ForwardConvolutionsSize;
        Assert.That((backbone.FeatureWidth, pooled.FeatureWidth, both.FeatureWidth, map.FeatureWidth), Is.EqualTo((featureDim, channels, featureDim + channels, mapSize)));

        var backboneFeatures = backbone.Features(images.Images, images.Count);
        var pooledFeatures = pooled.Features(images.Images, images.Count);
        var bothFeatures = both.Features(images.Images, images.Count);
        var mapFeatures = map.Features(images.Images, images.Count);
        // The four models share their weights (same seed); evaluation groups of 16 cover the 5 images at once.
        using var input = backend.FromHost(images.Images);
        var maps = new float[images.Count * mapSize];
        backend.Download(pooled.Backbone.ForwardConvolutions(input, images.Count), maps);
        Assert.That(mapFeatures, Is.EqualTo(maps), "the map is the last convolution's activations, channel-major");
        int pixels = mapSize / channels;
        for (int row = 0; row < images.Count; row++)
        {
            for (int channel = 0; channel < channels; channel++)
            {
                float mean = maps.AsSpan((row * channels + channel) * pixels, pixels).ToArray().Average();
                Assert.That(pooledFeatures[row * channels + channel], Is.EqualTo(mean).Within(1e-5f), $"image {row}, channel {channel}");
            }
            Assert.That(bothFeatures.AsSpan(row * (featureDim + channels), featureDim).ToArray(), Is.EqualTo(backboneFeatures.AsSpan(row * featureDim, featureDim).ToArray()));
            Assert.That(bothFeatures.AsSpan(row * (featureDim + channels) + featureDim, channels).ToArray(), Is.EqualTo(pooledFeatures.AsSpan(row * channels, channels).ToArray()));
        }

        Assert.That(small.ToJson(), Does.Not.Contain("probe_features"), "the default is left out, so older configs read byte for byte");
        Assert.That(TrainingConfig.FromJson(both.Config.ToJson()).Representation.ProbeFeatures, Is.EqualTo(ProbeFeatures.Both));
        Assert.That(both.Config.ToJson(), Does.Contain("\"probe_features\":\"both\""));
    }
}
