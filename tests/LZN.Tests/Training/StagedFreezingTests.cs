using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>`--freeze-{encoder,decoder,labels}-after N`: a group trains on optimiser steps 0..N-1 and never after.</summary>
public class StagedFreezingTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = TrainingFixtures.TemporaryFolder("lzn-freeze-");

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void AFrozenGroupStopsAtItsStepWhileTheOthersTrainOn()
    {
        using var backend = new CpuBackend();
        var tiny = TrainingFixtures.Tiny();
        var config = tiny with { Optimizer = tiny.Optimizer with { FreezeDecoderAfter = 2, FreezeLabelsAfter = 0 } };
        using var trainer = new JointTrainer(backend, config, TrainingFixtures.Train(), null, _folder);
        float[][] Snapshot(IEnumerable<Native.Nn.Parameter> parameters) => [.. parameters.Select(parameter => parameter.Value.ToArray())];
        var labels = Snapshot([trainer.Model.LabelAnchors]);
        trainer.TrainStep();
        trainer.TrainStep();
        var decoderAtTwo = Snapshot(trainer.Model.Decoder.Parameters);
        var encoderAtTwo = Snapshot(trainer.Model.Encoder.Parameters);
        trainer.TrainStep();
        trainer.TrainStep();

        Assert.That(Snapshot(trainer.Model.Decoder.Parameters), Is.EqualTo(decoderAtTwo), "the decoder froze after 2 steps");
        Assert.That(Snapshot([trainer.Model.LabelAnchors]), Is.EqualTo(labels), "the label anchors never trained");
        Assert.That(Snapshot(trainer.Model.Encoder.Parameters), Is.Not.EqualTo(encoderAtTwo), "the encoder trains on");
    }

    [Test]
    public void TheFreezeStepsTravelInTheConfigAndOnlyWhenSet()
    {
        var tiny = TrainingFixtures.Tiny();
        var config = tiny with { Optimizer = tiny.Optimizer with { FreezeEncoderAfter = 7 } };
        var json = config.ToJson();
        Assert.That(json, Does.Contain("\"freeze_encoder_after\":7").And.Not.Contain("freeze_decoder_after"));
        Assert.That(TrainingConfig.FromJson(json).Optimizer.FreezeEncoderAfter, Is.EqualTo(7));
        Assert.That(TrainingConfig.FromJson(TrainingFixtures.Tiny().ToJson()).Optimizer.FreezeEncoderAfter, Is.Null);
        Assert.That(() => (config with { Optimizer = config.Optimizer with { FreezeEncoderAfter = -1 } }).Validate(),
            Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("freeze_encoder_after"));
        var repTiny = TrainingConfig.FromPreset("rep-tiny");
        Assert.That(() => (repTiny with { Optimizer = repTiny.Optimizer with { FreezeDecoderAfter = 3 } }).Validate(),
            Throws.InstanceOf<TrainingConfigException>().With.Property("Key").EqualTo("freeze_decoder_after"));
    }
}
