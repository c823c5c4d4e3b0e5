using System.Diagnostics;
using LZN.Native.Backends;
using LZN.Native.Backends.Cuda;

namespace LZN.Native.Diagnostics;

/// <summary>One timed zone operation: median and minimum over the timed runs, throughput, and peak backend memory.</summary>
public sealed record ZoneMeasurement(ZoneCase Case, string Operation, double MedianMilliseconds, double MinMilliseconds,
    int Runs, long PeakBytes)
{
    /// <summary>2 * 2 B N d K forward flops over the median time (the "effective TFLOP/s").</summary>
    public double EffectiveTflops => Case.ForwardFlops / (MedianMilliseconds * 1e9);
}

/// <summary>A size's measurements and its encode accuracy against the float64 oracle.</summary>
public sealed record ZoneBenchmarkResult(ZoneCase Case, IReadOnlyList<ZoneMeasurement> Measurements, double EncodeRelativeError);

/// <summary>
/// The quick zone benchmark behind `lzn bench zones` (BenchmarkDotNet's suite in bench/ measures the same
/// workloads): one warm-up, then the median of at least five runs, timed with CUDA events on a GPU and a
/// stopwatch (after a synchronise) on the CPU; peak memory is the backend's high-water mark during the op.
/// </summary>
public static class ZoneBenchmark
{
    public const string EncodeForward = "encode fwd";
    public const string EncodeForwardBackward = "encode fwd+bwd";
    public const string EncodeAssignLoss = "encode + assign + loss fwd+bwd";

    public static ZoneBenchmarkResult Run(IBackend backend, ZoneCase zoneCase, int runs = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 5);
        using var workload = new ZoneWorkload(backend, zoneCase);
        var measurements = new List<ZoneMeasurement> { Measure(workload, EncodeForward, workload.EncodeForward, runs) };
        if (!zoneCase.ForwardOnly)
        {
            measurements.Add(Measure(workload, EncodeForwardBackward, workload.EncodeForwardBackward, runs));
            measurements.Add(Measure(workload, EncodeAssignLoss, workload.EncodeThenAssignLoss, runs));
        }
        return new ZoneBenchmarkResult(zoneCase, measurements, workload.EncodeRelativeError());
    }

    private static ZoneMeasurement Measure(ZoneWorkload workload, string operation, Action work, int runs)
    {
        var backend = workload.Backend;
        work();
        backend.Synchronize();
        backend.ResetPeakMemory();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
            times[i] = TimeMilliseconds(backend, work);
        long peak = backend.Memory.PeakBytes;
        Array.Sort(times);
        return new ZoneMeasurement(workload.Case, operation, times[runs / 2], times[0], runs, peak);
    }

    private static double TimeMilliseconds(IBackend backend, Action work)
    {
        if (backend is CudaBackend cuda)
            return cuda.TimeMilliseconds(work);
        backend.Synchronize();
        var stopwatch = Stopwatch.StartNew();
        work();
        backend.Synchronize();
        return stopwatch.Elapsed.TotalMilliseconds;
    }
}
