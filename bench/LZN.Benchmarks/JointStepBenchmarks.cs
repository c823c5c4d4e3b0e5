using BenchmarkDotNet.Attributes;
using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Training;

namespace LZN.Benchmarks;

/// <summary>
/// One whole joint training step (data, encoder, latent flow, label flow, U-Net decoder, backward, clip + AdamW +
/// EMA) per preset at its batch size on synthetic 28x28x1 images; x 468 is the 60k-image epoch. The GPU
/// target is <= 5 s per epoch, about 10.7 ms per step at batch 128. `lzn bench train` gives the same numbers with
/// a per-phase split in one command. Run: dotnet run -c Release --project bench/LZN.Benchmarks -- --filter '*JointStep*' --job short
/// </summary>
public class JointStepBenchmarks
{
    private IBackend? _backend;
    private JointTrainer? _trainer;
    private string _folder = "";

    [ParamsSource(nameof(Backends))]
    public string Backend { get; set; } = "";

    [Params("mlp-small", "cnn")]
    public string Preset { get; set; } = "";

    public static IEnumerable<string> Backends() => ZoneBackends.Available();

    [GlobalSetup]
    public void Setup()
    {
        _backend = ZoneBackends.Create(Backend);
        var preset = TrainingConfig.FromPreset(Preset);
        var config = preset with { Schedule = preset.Schedule with { CheckpointEvery = 0 } };
        var images = SyntheticImages.Generate(8 * config.Schedule.BatchSize, config.Data.ClassCount, DataSources.SyntheticShape, config.Seed);
        _folder = Directory.CreateTempSubdirectory("lzn-bench-joint-").FullName;
        _trainer = new JointTrainer(_backend, config, images, null, _folder);
        _trainer.TrainStep();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _trainer?.Dispose();
        _backend?.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Benchmark(Description = "joint training step")]
    public void Step()
    {
        _trainer!.TrainStep();
        _backend!.Synchronize();
    }
}
