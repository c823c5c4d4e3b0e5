using BenchmarkDotNet.Attributes;
using LZN.Native.Data;
using LZN.Native.IO;

namespace LZN.Benchmarks;

/// <summary>The per-epoch and per-step data costs of training: shuffling, batch gathering, checkpoint I/O.</summary>
[MemoryDiagnoser]
public class DataBenchmarks
{
    private const int BatchSize = 256;
    private ImageDataset _dataset = null!;
    private int[] _batch = null!; // [BatchSize]
    private float[] _batchImages = null!; // [BatchSize, 784]
    private int[] _batchLabels = null!; // [BatchSize]
    private SafeTensor[] _checkpoint = null!;
    private string _folder = "";

    [GlobalSetup]
    public void Setup()
    {
        _dataset = SyntheticImages.Generate(10_000, classCount: 10, new ImageShape(28, 28, 1), seed: 1);
        _batch = BatchSchedule.Permutation(_dataset.Count, seed: 2, epoch: 0)[..BatchSize];
        _batchImages = new float[BatchSize * _dataset.Shape.Size];
        _batchLabels = new int[BatchSize];
        // About 4 MB of parameters: a 784x1024 layer and its bias.
        _checkpoint = [SafeTensor.FromFloat32("layer.weight", new float[784 * 1024], 1024, 784), SafeTensor.FromFloat32("layer.bias", new float[1024], 1024)];
        _folder = Directory.CreateTempSubdirectory("lzn-bench-").FullName;
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_folder, recursive: true);

    [Benchmark]
    public int[] PermutationOf60000() => BatchSchedule.Permutation(60_000, seed: 3, epoch: 1);

    [Benchmark]
    public void GatherBatchOf256() => _dataset.Gather(_batch, _batchImages, _batchLabels);

    [Benchmark]
    public SafetensorsFile CheckpointWriteAndRead4MB()
    {
        string path = Path.Combine(_folder, "bench.safetensors");
        Safetensors.Write(path, _checkpoint);
        return Safetensors.Read(path);
    }
}
