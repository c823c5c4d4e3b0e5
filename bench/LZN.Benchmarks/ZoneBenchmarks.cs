using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Backends.Cuda;
using LZN.Native.Zones;

namespace LZN.Benchmarks;

/// <summary>
/// The latent flow at the case-study sizes: encode forward, encode forward + backward, and encode forward
/// (no gradients) followed by assign + cross-entropy assignment loss forward + backward. Columns: effective
/// TFLOP/s (2 * 2 B N d K flops of the forward velocities over the mean time) and the backend's peak memory.
/// Run: dotnet run -c Release --project bench/LZN.Benchmarks -- --filter '*ZoneBenchmarks*' --job short
/// Quick median-of-5 check: dotnet run -c Release --project bench/LZN.Benchmarks -- zones-quick [B N d K ...]
/// </summary>
[Config(typeof(ZoneBenchmarkConfig))]
public class ZoneBenchmarks
{
    private ZoneWorkload? _workload;

    [ParamsSource(nameof(Cases))]
    public ZoneCase Case { get; set; } = null!;

    /// <summary>CPU sizes always; device sizes only when that device's backend can be created here.</summary>
    public static IEnumerable<ZoneCase> Cases()
    {
        yield return new ZoneCase("Cpu", 256, 2048, 256, 20);
        yield return new ZoneCase("Cpu", 1024, 1024, 64, 20);
        yield return new ZoneCase("Cpu", 2048, 2048, 256, 20);
        foreach (var (name, _) in ZoneBackends.Devices)
        {
            if (!ZoneBackends.IsAvailable(name))
                continue;
            yield return new ZoneCase(name, 250, 2000, 200, 20);
            yield return new ZoneCase(name, 1024, 8192, 256, 20);
            yield return new ZoneCase(name, 8192, 8192, 256, 20);
            yield return new ZoneCase(name, 32768, 32768, 256, 20, ForwardOnly: true);
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        _workload = new ZoneWorkload(ZoneBackends.Create(Case.Backend), Case);
        Console.WriteLine($"// {_workload.Backend.Description}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_workload is null)
            return;
        PeakMemoryColumn.Record(Case, _workload.Backend.Memory.PeakBytes);
        _workload.Dispose();
    }

    [Benchmark(Description = "encode forward")]
    public void EncodeForward() => _workload!.EncodeForward();

    [Benchmark(Description = "encode forward+backward")]
    public void EncodeForwardBackward()
    {
        if (!Case.ForwardOnly)
            _workload!.EncodeForwardBackward();
    }

    [Benchmark(Description = "encode + assign + loss fwd+bwd")]
    public void EncodeAssignLoss()
    {
        if (!Case.ForwardOnly)
            _workload!.EncodeThenAssignLoss();
    }
}

/// <summary>One benchmark size: rows B, anchors N, dim d, steps K on a named backend.</summary>
public sealed record ZoneCase(string Backend, int Rows, int AnchorCount, int Dim, int Steps, bool ForwardOnly = false)
{
    /// <summary>2 * 2 B N d K: the logits and the weighted sum of every forward velocity.</summary>
    public double ForwardFlops => 4.0 * Rows * AnchorCount * Dim * Steps;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Backend} {Rows}x{AnchorCount}x{Dim}x{Steps}");
}

/// <summary>The backends the zone benchmarks can use.</summary>
internal static class ZoneBackends
{
    /// <summary>Device backends by name, each a factory that returns null without its device.</summary>
    public static IReadOnlyList<(string Name, Func<IBackend?> TryCreate)> Devices { get; } =
        [("Cuda", () => CudaBackend.TryCreate(0, out var cuda, out _) ? cuda : null)];

    public static bool IsAvailable(string name)
    {
        using var backend = Devices.Single(d => d.Name == name).TryCreate();
        return backend is not null;
    }

    public static IBackend Create(string name) => name == "Cpu"
        ? new CpuBackend()
        : Devices.Single(d => d.Name == name).TryCreate() ?? throw new InvalidOperationException($"No {name} device.");
}

/// <summary>Inputs and the three measured operations for one <see cref="ZoneCase"/>.</summary>
internal sealed class ZoneWorkload : IDisposable
{
    private readonly ZoneCase _case;
    private readonly FloatBuffer _anchors; // [anchorCount, dim]
    private readonly FloatBuffer _noise; // [rows, dim]
    private readonly FloatBuffer _latentsGrad; // [rows, dim]
    private readonly FloatBuffer _anchorsGrad; // [anchorCount, dim]
    private readonly FloatBuffer _lossGrad; // [steps, rows]
    private readonly IntBuffer _targets; // [rows]

    public ZoneWorkload(IBackend backend, ZoneCase zoneCase)
    {
        if (zoneCase.Rows > zoneCase.AnchorCount)
            throw new ArgumentException($"The queries are anchor rows, so B = {zoneCase.Rows} must not exceed N = {zoneCase.AnchorCount}.", nameof(zoneCase));
        Backend = backend;
        _case = zoneCase;
        _anchors = backend.AllocateFloat((long)zoneCase.AnchorCount * zoneCase.Dim);
        backend.FillNormal(_anchors, seed: 1, offset: 0, mean: 0f, std: 1f);
        _noise = backend.AllocateFloat((long)zoneCase.Rows * zoneCase.Dim);
        backend.FillNormal(_noise, seed: 2, offset: 0, mean: 0f, std: 1f);
        _latentsGrad = backend.AllocateFloat((long)zoneCase.Rows * zoneCase.Dim);
        backend.FillNormal(_latentsGrad, seed: 3, offset: 0, mean: 0f, std: 1f);
        _anchorsGrad = backend.AllocateFloat((long)zoneCase.AnchorCount * zoneCase.Dim);
        _lossGrad = backend.AllocateFloat((long)zoneCase.Steps * zoneCase.Rows);
        // Row i's target is anchor i mod N, as in representation learning (two views of one batch).
        _targets = backend.FromHost(Enumerable.Range(0, zoneCase.Rows).Select(i => i % zoneCase.AnchorCount).ToArray());
    }

    public IBackend Backend { get; }

    private ZoneAnchors Anchors => new(_anchors, _case.AnchorCount, _case.Dim);

    /// <summary>The queries are the first B anchors (every case has B &lt;= N).</summary>
    private EncodeResult Encode(bool keepTrajectory) => LatentEncoder.EncodeAnchorRows(Anchors, 0, _case.Rows, _noise,
        new EncodeOptions { Steps = _case.Steps, NoiseScale = 0.45f, KeepTrajectory = keepTrajectory });

    public void EncodeForward()
    {
        using var encoded = Encode(keepTrajectory: false);
        Backend.Synchronize();
    }

    public void EncodeForwardBackward()
    {
        using var encoded = Encode(keepTrajectory: true);
        LatentEncoder.Backward(encoded, _latentsGrad, new EncodeGradients(Anchors: _anchorsGrad));
        Backend.Synchronize();
    }

    public void EncodeThenAssignLoss()
    {
        using var encoded = Encode(keepTrajectory: false);
        using var assigned = ZoneAssigner.Assign(Anchors, encoded.Latents, _case.Rows, _targets,
            new AssignOptions { Steps = _case.Steps, KeepTrajectory = true });
        AssignmentLoss.Evaluate(assigned, AssignmentLossKind.CrossEntropy, _lossGrad);
        ZoneAssigner.Backward(assigned, null, _lossGrad, new AssignGradients(Latents: _latentsGrad, Anchors: _anchorsGrad));
        Backend.Synchronize();
    }

    public void Dispose()
    {
        _anchors.Dispose();
        _noise.Dispose();
        _latentsGrad.Dispose();
        _anchorsGrad.Dispose();
        _lossGrad.Dispose();
        _targets.Dispose();
        Backend.Dispose();
    }
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

    protected override string Value(Summary summary, BenchmarkCase benchmarkCase, ZoneCase zoneCase)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        return statistics is null ? "-" : (zoneCase.ForwardFlops / (statistics.Mean * 1e3)).ToString("F3", CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// The backend's peak buffer memory over a case's run, handed from the benchmark process to the host
/// through a file under the temp folder (BenchmarkDotNet measures in a child process).
/// </summary>
public sealed class PeakMemoryColumn : ZoneColumn
{
    public override string ColumnName => "Peak backend MiB";

    public override string Legend => "IBackend.Memory.PeakBytes over all benchmarks of the case, in MiB";

    internal static void Record(ZoneCase zoneCase, long peakBytes)
    {
        Directory.CreateDirectory(Folder);
        File.WriteAllText(PathOf(zoneCase), peakBytes.ToString(CultureInfo.InvariantCulture));
    }

    protected override string Value(Summary summary, BenchmarkCase benchmarkCase, ZoneCase zoneCase)
    {
        string path = PathOf(zoneCase);
        return File.Exists(path) && long.TryParse(File.ReadAllText(path), CultureInfo.InvariantCulture, out long bytes)
            ? (bytes / (1024.0 * 1024.0)).ToString("F1", CultureInfo.InvariantCulture)
            : "-";
    }

    private static string Folder => Path.Combine(Path.GetTempPath(), "lzn-zone-benchmarks");

    private static string PathOf(ZoneCase zoneCase) => Path.Combine(Folder, zoneCase.ToString().Replace(' ', '_') + ".txt");
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
        benchmarkCase.Parameters["Case"] is ZoneCase zoneCase ? Value(summary, benchmarkCase, zoneCase) : "-";

    protected abstract string Value(Summary summary, BenchmarkCase benchmarkCase, ZoneCase zoneCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}

/// <summary>A Stopwatch median-of-5 check of the encode forward, without BenchmarkDotNet's job machinery.</summary>
internal static class ZoneQuickCheck
{
    /// <summary>Arguments: groups of "B N d K"; defaults to the two CPU targets (2048^2 x 256 and 1024^2 x 64, K = 20).</summary>
    public static void Run(string[] arguments)
    {
        var sizes = arguments.Length >= 4
            ? arguments.Chunk(4).Select(g => new ZoneCase("Cpu", Parse(g[0]), Parse(g[1]), Parse(g[2]), Parse(g[3])))
            : [new ZoneCase("Cpu", 2048, 2048, 256, 20), new ZoneCase("Cpu", 1024, 1024, 64, 20)];
        foreach (var zoneCase in sizes)
        {
            using var workload = new ZoneWorkload(new CpuBackend(), zoneCase);
            workload.EncodeForward();
            var times = new double[5];
            for (int i = 0; i < times.Length; i++)
            {
                var stopwatch = Stopwatch.StartNew();
                workload.EncodeForward();
                times[i] = stopwatch.Elapsed.TotalMilliseconds;
            }
            Array.Sort(times);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{zoneCase}: encode forward median {times[2]:F1} ms (min {times[0]:F1}), {zoneCase.ForwardFlops / (times[2] * 1e9):F3} TFLOP/s, peak {workload.Backend.Memory.PeakBytes / 1048576.0:F1} MiB on {workload.Backend.Description}"));
        }
    }

    private static int Parse(string text) => int.Parse(text, CultureInfo.InvariantCulture);
}
