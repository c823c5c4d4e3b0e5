using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Backends.Cuda;
using LZN.Native.Diagnostics;

namespace LZN.Benchmarks;

/// <summary>
/// The latent flow at the case-study sizes: encode forward, encode forward + backward, and encode forward
/// (no gradients) followed by assign + cross-entropy assignment loss forward + backward. Columns: effective
/// TFLOP/s (2 * 2 B N d K flops of the forward velocities over the mean time) and the backend's peak memory.
/// Run: dotnet run -c Release --project bench/LZN.Benchmarks -- --filter '*ZoneBenchmarks*' --job short
/// The quick median-of-5 form for device runs is `lzn bench zones` (the same ZoneWorkload from the library).
/// </summary>
[Config(typeof(ZoneBenchmarkConfig))]
public class ZoneBenchmarks
{
    private ZoneWorkload? _workload;
    private string _method = "";

    [ParamsSource(nameof(Cases))]
    public ZoneBenchCase Case { get; set; } = null!;

    /// <summary>CPU sizes always; device sizes only when that device's backend can be created here.</summary>
    public static IEnumerable<ZoneBenchCase> Cases()
    {
        foreach (var size in ZoneCase.CpuSizes)
            yield return new ZoneBenchCase("Cpu", size);
        foreach (var (name, _) in ZoneBackends.Devices)
        {
            if (!ZoneBackends.IsAvailable(name))
                continue;
            foreach (var size in ZoneCase.GpuSizes)
                yield return new ZoneBenchCase(name, size);
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        _workload = new ZoneWorkload(ZoneBackends.Create(Case.Backend), Case.Size);
        Console.WriteLine($"// {_workload.Backend.Description}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_workload is null)
            return;
        PeakMemoryColumn.Record(Case, _method, _workload.Backend.Memory.PeakBytes);
        _workload.Dispose();
    }

    [Benchmark(Description = "encode forward")]
    public void EncodeForward()
    {
        _method = nameof(EncodeForward);
        _workload!.EncodeForward();
    }

    [Benchmark(Description = "encode forward+backward")]
    public void EncodeForwardBackward()
    {
        _method = nameof(EncodeForwardBackward);
        if (!Case.Size.ForwardOnly)
            _workload!.EncodeForwardBackward();
    }

    [Benchmark(Description = "encode + assign + loss fwd+bwd")]
    public void EncodeAssignLoss()
    {
        _method = nameof(EncodeAssignLoss);
        if (!Case.Size.ForwardOnly)
            _workload!.EncodeThenAssignLoss();
    }
}

/// <summary>A benchmark size on a named backend ("Cpu" or a device such as "Cuda").</summary>
public sealed record ZoneBenchCase(string Backend, ZoneCase Size)
{
    public override string ToString() => $"{Backend} {Size}";
}

/// <summary>The backends the zone benchmarks can use.</summary>
internal static class ZoneBackends
{
    /// <summary>Device backends by name, each a factory that returns null without its device.</summary>
    public static IReadOnlyList<(string Name, Func<IBackend?> TryCreate)> Devices { get; } =
        [("Cuda", () => CudaBackend.TryCreate(0, out var cuda, out _) ? cuda : null)];

    /// <summary>"Cpu", then every device backend whose device is present: the Backend parameter of the suites.</summary>
    public static IEnumerable<string> Available() =>
        Devices.Select(device => device.Name).Where(IsAvailable).Prepend("Cpu");

    public static bool IsAvailable(string name)
    {
        using var backend = Devices.Single(d => d.Name == name).TryCreate();
        return backend is not null;
    }

    public static IBackend Create(string name) => name == "Cpu"
        ? new CpuBackend()
        : Devices.Single(d => d.Name == name).TryCreate() ?? throw new InvalidOperationException($"No {name} device.");
}

/// <summary>Adds the effective TFLOP/s and peak backend memory columns.</summary>
public sealed class ZoneBenchmarkConfig : ManualConfig
{
    public ZoneBenchmarkConfig()
    {
        AddColumn(new TflopsColumn());
        AddColumn(new PeakMemoryColumn());
    }
}

/// <summary>Effective throughput: 2 * 2 B N d K / mean time, in TFLOP/s (the forward count for every benchmark).</summary>
public sealed class TflopsColumn : ZoneColumn
{
    public override string ColumnName => "TFLOP/s (eff.)";

    public override string Legend => "2 * 2 B N d K forward velocity flops over the mean time, in TFLOP/s";

    protected override string Value(Summary summary, BenchmarkCase benchmarkCase, ZoneBenchCase zoneCase)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        return statistics is null ? "-" : (zoneCase.Size.ForwardFlops / (statistics.Mean * 1e3)).ToString("F3", CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// The backend's peak buffer memory over a case's run, handed from the benchmark process to the host
/// through a file under the temp folder (BenchmarkDotNet measures in a child process).
/// </summary>
public sealed class PeakMemoryColumn : ZoneColumn
{
    public override string ColumnName => "Peak backend MiB";

    public override string Legend => "IBackend.Memory.PeakBytes over the benchmark's process (inputs included), in MiB";

    internal static void Record(ZoneBenchCase zoneCase, string method, long peakBytes)
    {
        Directory.CreateDirectory(Folder);
        File.WriteAllText(PathOf(zoneCase, method), peakBytes.ToString(CultureInfo.InvariantCulture));
    }

    protected override string Value(Summary summary, BenchmarkCase benchmarkCase, ZoneBenchCase zoneCase)
    {
        string path = PathOf(zoneCase, benchmarkCase.Descriptor.WorkloadMethod.Name);
        return File.Exists(path) && long.TryParse(File.ReadAllText(path), CultureInfo.InvariantCulture, out long bytes)
            ? (bytes / (1024.0 * 1024.0)).ToString("F1", CultureInfo.InvariantCulture)
            : "-";
    }

    private static string Folder => Path.Combine(Path.GetTempPath(), "lzn-zone-benchmarks");

    private static string PathOf(ZoneBenchCase zoneCase, string method) => Path.Combine(Folder, $"{zoneCase.ToString().Replace(' ', '_')}_{method}.txt");
}

/// <summary>The parts of a custom column that do not depend on what it shows.</summary>
public abstract class ZoneColumn : IColumn
{
    public string Id => GetType().Name;

    public abstract string ColumnName { get; }

    public abstract string Legend { get; }

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        benchmarkCase.Parameters["Case"] is ZoneBenchCase zoneCase ? Value(summary, benchmarkCase, zoneCase) : "-";

    protected abstract string Value(Summary summary, BenchmarkCase benchmarkCase, ZoneBenchCase zoneCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}
