using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using LZN.Native.Backends;
using LZN.Native.Nn;

namespace LZN.Benchmarks;

/// <summary>
/// One training step's network work at batch 128 on 28x28x1: the CNN and MLP encoders (forward + backward
/// to the parameters) and the U-Net decoder (forward + backward to parameters, image and latent), d = 64,
/// 10 classes. Run: dotnet run -c Release --project bench/LZN.Benchmarks -- --filter '*NnBenchmarks*' --job short
/// Quick median-of-5 check: dotnet run -c Release --project bench/LZN.Benchmarks -- nn-quick [batchSize [decoderBaseChannels]]
/// </summary>
public class NnBenchmarks
{
    private NnWorkload? _workload;

    [ParamsSource(nameof(Backends))]
    public string Backend { get; set; } = "";

    public static IEnumerable<string> Backends() => ZoneBackends.Available();

    [GlobalSetup]
    public void Setup() => _workload = new NnWorkload(ZoneBackends.Create(Backend), 128);

    [GlobalCleanup]
    public void Cleanup() => _workload?.Dispose();

    [Benchmark(Description = "MLP encoder fwd+bwd")]
    public void MlpEncoder() => _workload!.MlpStep();

    [Benchmark(Description = "CNN encoder fwd+bwd")]
    public void CnnEncoder() => _workload!.CnnStep();

    [Benchmark(Description = "U-Net decoder fwd+bwd")]
    public void Decoder() => _workload!.DecoderStep();
}

/// <summary>The default models and random inputs for one batch size; each step ends with a synchronisation.</summary>
internal sealed class NnWorkload : IDisposable
{
    private const int LatentSize = 64, ClassCount = 10;
    private readonly int _batchSize;
    private readonly MlpEncoder _mlp;
    private readonly CnnEncoder _cnn;
    private readonly UNetDecoder _decoder;
    private readonly FloatBuffer _images; // [batchSize, 784]
    private readonly FloatBuffer _latentGrad; // [batchSize, LatentSize]
    private readonly FloatBuffer _latent; // [batchSize, LatentSize]
    private readonly IntBuffer _labels; // [batchSize]
    private readonly FloatBuffer _times; // [batchSize]
    private readonly FloatBuffer _velocityGrad; // [batchSize, 784]

    /// <param name="decoderBaseChannels">The U-Net's base channels (the config's default is 32; the mlp-small preset uses 16).</param>
    public NnWorkload(IBackend backend, int batchSize, int decoderBaseChannels = 32)
    {
        Backend = backend;
        _batchSize = batchSize;
        _mlp = new MlpEncoder(backend, "mlp", 784, [512, 256], LatentSize, seed: 1);
        _cnn = new CnnEncoder(backend, "cnn", new CnnEncoderConfig(1, 28, 28, LatentSize), seed: 1);
        _decoder = new UNetDecoder(backend, "decoder", new UNetDecoderConfig(1, 28, 28, LatentSize, ClassCount) { BaseChannels = decoderBaseChannels }, seed: 1);
        _images = backend.AllocateFloat(batchSize * 784L);
        _latentGrad = backend.AllocateFloat((long)batchSize * LatentSize);
        _latent = backend.AllocateFloat((long)batchSize * LatentSize);
        _velocityGrad = backend.AllocateFloat(batchSize * 784L);
        _times = backend.AllocateFloat(batchSize);
        backend.FillUniform(_images, 1, 0, -1f, 1f);
        backend.FillNormal(_latentGrad, 2, 0, 0f, 1f);
        backend.FillNormal(_latent, 3, 0, 0f, 1f);
        backend.FillNormal(_velocityGrad, 4, 0, 0f, 1f);
        backend.FillUniform(_times, 5, 0, 0f, 1f);
        _labels = backend.FromHost(Enumerable.Range(0, batchSize).Select(i => i % ClassCount).ToArray());
    }

    public IBackend Backend { get; }

    public void MlpStep()
    {
        _mlp.Forward(_images, _batchSize);
        _mlp.Backward(_latentGrad);
        Backend.Synchronize();
    }

    public void CnnStep()
    {
        _cnn.Forward(_images, _batchSize);
        _cnn.Backward(_latentGrad);
        Backend.Synchronize();
    }

    public void DecoderStep()
    {
        _decoder.Forward(_images, _latent, _labels, _times, _batchSize);
        _decoder.Backward(_velocityGrad);
        Backend.Synchronize();
    }

    public void Dispose()
    {
        _mlp.Dispose();
        _cnn.Dispose();
        _decoder.Dispose();
        _images.Dispose();
        _latentGrad.Dispose();
        _latent.Dispose();
        _labels.Dispose();
        _times.Dispose();
        _velocityGrad.Dispose();
        Backend.Dispose();
    }
}

/// <summary>Median of five timed steps per model, after one warm-up step, plus the backend's peak memory.</summary>
internal static class NnQuickCheck
{
    public static void Run(string[] arguments)
    {
        int batchSize = arguments.Length > 0 ? int.Parse(arguments[0], CultureInfo.InvariantCulture) : 128;
        int baseChannels = arguments.Length > 1 ? int.Parse(arguments[1], CultureInfo.InvariantCulture) : 32;
        foreach (string name in NnBenchmarks.Backends())
        {
            using var workload = new NnWorkload(ZoneBackends.Create(name), batchSize, baseChannels);
            Console.WriteLine($"batch {batchSize}, decoder base channels {baseChannels}, on {workload.Backend.Description}");
            Measure("MLP encoder fwd+bwd", workload.MlpStep);
            Measure("CNN encoder fwd+bwd", workload.CnnStep);
            Measure("U-Net decoder fwd+bwd", workload.DecoderStep);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  peak backend memory {workload.Backend.Memory.PeakBytes / 1048576.0:F1} MiB"));
        }
    }

    private static void Measure(string name, Action step)
    {
        step();
        var times = new double[5];
        for (int i = 0; i < times.Length; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            step();
            times[i] = stopwatch.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-24} median {times[2],9:F1} ms (min {times[0]:F1}, max {times[^1]:F1})"));
    }
}
