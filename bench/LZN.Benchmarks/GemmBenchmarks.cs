using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Interop;

namespace LZN.Benchmarks;

/// <summary>
/// C = A B on the CPU at three shapes: raw cblas_sgemm on pinned plain arrays (the ceiling), the CPU
/// backend through OpenBLAS (target: at least 70% of raw at 1024^3), and the managed SIMD GEMM.
/// Run: dotnet run -c Release --project bench/LZN.Benchmarks -- --filter '*Gemm*' --job short
/// </summary>
[Config(typeof(GemmBenchmarkConfig))]
public class GemmBenchmarks
{
    private float[] _a = [];
    private float[] _b = [];
    private float[] _c = [];
    private CpuBackend? _openBlasBackend;
    private CpuBackend _managedBackend = null!;
    private GemmOperands _openBlasOperands;
    private GemmOperands _managedOperands;

    /// <summary>"m x n x k" of C[m, n] = A[m, k] B[k, n].</summary>
    [Params("256x256x256", "1024x1024x1024", "2048x2048x256")]
    public string Shape { get; set; } = "";

    private int M => GemmShape.Parse(Shape).M;

    private int N => GemmShape.Parse(Shape).N;

    private int K => GemmShape.Parse(Shape).K;

    [GlobalSetup]
    public void Setup()
    {
        var (m, n, k) = GemmShape.Parse(Shape);
        var random = new Random(1);
        _a = new float[m * k]; // [m, k]
        _b = new float[k * n]; // [k, n]
        _c = new float[m * n]; // [m, n]
        for (int i = 0; i < _a.Length; i++)
            _a[i] = random.NextSingle() - 0.5f;
        for (int i = 0; i < _b.Length; i++)
            _b[i] = random.NextSingle() - 0.5f;
        if (OpenBlasInfo.IsAvailable)
        {
            _openBlasBackend = new CpuBackend(CpuGemmProvider.OpenBlas);
            _openBlasOperands = GemmOperands.Create(_openBlasBackend, _a, _b, m * n);
        }
        _managedBackend = new CpuBackend(CpuGemmProvider.Managed);
        _managedOperands = GemmOperands.Create(_managedBackend, _a, _b, m * n);
        Console.WriteLine($"// {OpenBlasInfo.Describe()}");
        Console.WriteLine($"// {_managedBackend.Description}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _openBlasOperands.Dispose();
        _managedOperands.Dispose();
        _openBlasBackend?.Dispose();
        _managedBackend.Dispose();
    }

    [Benchmark(Baseline = true, Description = "raw cblas_sgemm")]
    public unsafe void RawCblas()
    {
        NativeLibraries.Require(NativeLibraries.OpenBlas);
        fixed (float* a = _a)
        fixed (float* b = _b)
        fixed (float* c = _c)
        {
            OpenBlas.cblas_sgemm(OpenBlas.CblasRowMajor, OpenBlas.CblasNoTrans, OpenBlas.CblasNoTrans, M, N, K,
                1f, a, K, b, N, 0f, c, N);
        }
    }

    [Benchmark(Description = "CpuBackend.Gemm (OpenBLAS)")]
    public void BackendOpenBlas() => Run(_openBlasBackend ?? throw new InvalidOperationException(OpenBlasInfo.Describe()), _openBlasOperands);

    [Benchmark(Description = "CpuBackend.Gemm (managed)")]
    public void BackendManaged() => Run(_managedBackend, _managedOperands);

    private void Run(IBackend backend, GemmOperands operands) =>
        backend.Gemm(false, false, M, N, K, 1f, operands.A, K, operands.B, N, 0f, operands.C, N);

    private readonly record struct GemmOperands(FloatBuffer A, FloatBuffer B, FloatBuffer C) : IDisposable
    {
        public static GemmOperands Create(IBackend backend, float[] a, float[] b, int cLength) =>
            new(backend.FromHost(a), backend.FromHost(b), backend.AllocateFloat(cLength));

        public void Dispose()
        {
            A?.Dispose();
            B?.Dispose();
            C?.Dispose();
        }
    }
}

/// <summary>Parses the benchmark's "m x n x k" parameter.</summary>
internal static class GemmShape
{
    public static (int M, int N, int K) Parse(string shape)
    {
        var parts = shape.Split('x');
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture),
            int.Parse(parts[2], CultureInfo.InvariantCulture));
    }
}

/// <summary>Adds the GFLOP/s column (2 m n k flops per GEMM over the mean time).</summary>
public sealed class GemmBenchmarkConfig : ManualConfig
{
    public GemmBenchmarkConfig() => AddColumn(new GflopsColumn());
}

/// <summary>Throughput of a GEMM benchmark: 2 m n k / mean time, in GFLOP/s.</summary>
public sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);

    public string ColumnName => "GFLOP/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Billions of floating-point operations per second: 2 m n k / mean time";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (statistics is null || benchmarkCase.Parameters["Shape"] is not string shape)
            return "-";
        var (m, n, k) = GemmShape.Parse(shape);
        double flops = 2.0 * m * n * k;
        return (flops / statistics.Mean).ToString("F1", CultureInfo.InvariantCulture);
    }

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}
