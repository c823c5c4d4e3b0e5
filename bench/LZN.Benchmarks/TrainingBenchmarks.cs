using BenchmarkDotNet.Attributes;
using LZN.Native.Backends;

namespace LZN.Benchmarks;

/// <summary>
/// The per-iteration training kernels at the reference's CIFAR scale: Adam and EMA over 16 Mi parameters
/// (28 and 12 bytes of traffic per parameter: memory bound, so the target is the machine's bandwidth), and the
/// rectified-flow pair and loss over a 2000 x 3 x 32 x 32 batch. Every method synchronises before returning.
/// Run: dotnet run -c Release --project bench/LZN.Benchmarks -- --filter '*Training*' --job short
/// </summary>
public class TrainingBenchmarks
{
    private const int ParameterCount = 16 << 20;
    private const int Rows = 2000, RowLength = 3 * 32 * 32;

    private IBackend _backend = null!;
    private FloatBuffer _values = null!; // [ParameterCount]
    private FloatBuffer _grads = null!; // [ParameterCount]
    private FloatBuffer _first = null!; // [ParameterCount]
    private FloatBuffer _second = null!; // [ParameterCount]
    private FloatBuffer _shadow = null!; // [ParameterCount]
    private FloatBuffer _data = null!; // [Rows, RowLength]
    private FloatBuffer _noise = null!; // [Rows, RowLength]
    private FloatBuffer _times = null!; // [Rows]
    private FloatBuffer _noisy = null!; // [Rows, RowLength]
    private FloatBuffer _target = null!; // [Rows, RowLength]
    private FloatBuffer _predictionGrad = null!; // [Rows, RowLength]
    private FloatBuffer _loss = null!; // [1]
    private long _step;

    /// <summary>Cpu always; Cuda when a device is present.</summary>
    [ParamsSource(nameof(Backends))]
    public string Backend { get; set; } = "";

    public static IEnumerable<string> Backends() => ZoneBackends.Available();

    [GlobalSetup]
    public void Setup()
    {
        _backend = ZoneBackends.Create(Backend);
        Console.WriteLine($"// {_backend.Description}");
        FloatBuffer Normal(long length, ulong seed)
        {
            var buffer = _backend.AllocateFloat(length);
            _backend.FillNormal(buffer, seed, 0, 0f, 1f);
            return buffer;
        }
        _values = Normal(ParameterCount, 1);
        _grads = Normal(ParameterCount, 2);
        _first = _backend.AllocateFloat(ParameterCount);
        _second = _backend.AllocateFloat(ParameterCount);
        _shadow = Normal(ParameterCount, 3);
        _data = Normal((long)Rows * RowLength, 4);
        _noise = Normal((long)Rows * RowLength, 5);
        _times = _backend.AllocateFloat(Rows);
        _backend.FillUniform(_times, 6, 0, 1e-3f, 1f);
        _noisy = _backend.AllocateFloat((long)Rows * RowLength);
        _target = _backend.AllocateFloat((long)Rows * RowLength);
        _predictionGrad = _backend.AllocateFloat((long)Rows * RowLength);
        _loss = _backend.AllocateFloat(1);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var buffer in new[] { _values, _grads, _first, _second, _shadow, _data, _noise, _times, _noisy, _target, _predictionGrad, _loss })
            buffer.Dispose();
        _backend.Dispose();
    }

    [Benchmark(Description = "adamw step 16Mi")]
    public void AdamStep()
    {
        _backend.Optimizer.AdamStep(new AdamStepArgs
        {
            Parameters = _values, Gradients = _grads, FirstMoments = _first, SecondMoments = _second,
            LearningRate = 1e-4, Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8, WeightDecay = 0.01,
            DecoupledWeightDecay = true, Step = ++_step,
        });
        _backend.Synchronize();
    }

    [Benchmark(Description = "ema update 16Mi")]
    public void EmaUpdate()
    {
        _backend.Optimizer.EmaUpdate(_shadow, _values, 0.9999);
        _backend.Synchronize();
    }

    [Benchmark(Description = "rf training pair 2000x3072")]
    public void TrainingPair()
    {
        _backend.FlowMatching.BuildTrainingPair(Rows, RowLength, _data, _noise, _times, _noisy, _target);
        _backend.Synchronize();
    }

    [Benchmark(Description = "rf mse + gradient 2000x3072")]
    public void MeanSquaredError()
    {
        _backend.FlowMatching.MeanSquaredError(_noisy, _target, _loss, _predictionGrad);
        _backend.Synchronize();
    }
}
