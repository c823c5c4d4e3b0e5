using System.CommandLine;
using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.Backends.Cuda;
using LZN.Native.Diagnostics;
using LZN.Native.Training;

namespace LZN.Cli.Commands;

/// <summary>`lzn bench zones|train`: the quick benchmarks for device runs (BenchmarkDotNet's suite lives in bench/).</summary>
internal static class BenchCommand
{
    /// <summary>The accuracy every benchmark size must keep: relative error of the encode latents vs float64.</summary>
    private const double AccuracyBound = 5e-4;

    public static Command Create() => new("bench", "Quick benchmarks (warm-up, median of 5; CUDA events on a GPU).")
    {
        Zones(),
        Train(),
    };

    private static Command Train()
    {
        var device = CommonOptions.Device();
        var json = new Option<FileInfo?>("--json") { Description = "also write the results as JSON to this file" };
        var presets = new Option<string[]>("--preset")
        {
            Description = $"preset to time (repeatable; default: {string.Join(", ", BenchPresets)})",
            AllowMultipleArgumentsPerToken = true,
        };
        var batch = new Option<int?>("--batch") { Description = "batch size (default: the preset's)" };
        var steps = new Option<int>("--steps") { Description = "timed steps, and as many profiled ones (medians reported)", DefaultValueFactory = _ => 5 };
        var command = new Command("train", "One training step per preset (any task): median step time, the per-phase split, and the implied 60k-image epoch time.")
        {
            device, json, presets, batch, steps,
        };
        command.SetAction(result => DistributedRun.Run(collective =>
        {
            int stepCount = result.GetValue(steps);
            if (stepCount < 1)
                throw new ArgumentException($"--steps {stepCount}: must be at least 1.");
            string[] names = result.GetValue(presets) is { Length: > 0 } requested ? requested : BenchPresets;
            var configs = names.Select(name =>
            {
                var config = TrainingConfig.FromPreset(name);
                return result.GetValue(batch) is int size ? config with { Schedule = config.Schedule with { BatchSize = size } } : config;
            }).ToList();
            using var backend = CommonOptions.CreateBackend(DistributedRun.DeviceOfRank(result.GetValue(device), collective));
            bool ranks = collective.WorldSize > 1;
            Console.WriteLine($"training-step benchmark on {backend.Description}; synthetic 28x28 images, 10 classes; "
                + $"epoch = {TrainingBenchmark.FashionMnistTrainImages:N0} images, training steps only (no evaluation)"
                + (ranks ? $"; {collective.Description}, --batch is the global batch, times are rank 0's" : ""));
            Console.WriteLine($"{"preset",-10} {"batch",6} {"step median ms",15} {"step min ms",12} {"epoch s",9}" + (ranks ? $" {"comm ms",8} {"comm %",7}" : ""));
            var results = new List<TrainingBenchmarkResult>();
            foreach (var config in configs)
            {
                var measured = TrainingBenchmark.Run(backend, config, stepCount, collective: ranks ? collective : null);
                results.Add(measured);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{measured.Preset,-10} {measured.BatchSize,6} {measured.MedianStepMilliseconds,15:F2} {measured.MinStepMilliseconds,12:F2} {measured.EpochSeconds,9:F1}")
                    + (ranks ? string.Create(CultureInfo.InvariantCulture, $" {measured.MedianCommunicationMilliseconds,8:F2} {measured.CommunicationShare,7:P1}") : ""));
                foreach (var phase in measured.Phases)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {phase.Phase,-34} {phase.MedianMilliseconds,10:F2} ms"));
            }
            if (result.GetValue(json) is { } file)
                WriteTrainingJson(file.FullName, backend.Description, results);
            return 0;
        }));
        return command;
    }

    /// <summary>The presets `bench train` times by default (tiny is for tests).</summary>
    private static readonly string[] BenchPresets = ["mlp-small", "mlp", "cnn"];

    private static void WriteTrainingJson(string path, string backend, IReadOnlyList<TrainingBenchmarkResult> results) =>
        JsonFile.Write(path, writer =>
        {
            writer.WriteString("backend", backend);
            writer.WriteStartArray("results");
            foreach (var result in results)
            {
                writer.WriteStartObject();
                writer.WriteString("preset", result.Preset);
                writer.WriteNumber("batch", result.BatchSize);
                writer.WriteNumber("steps", result.Steps);
                writer.WriteNumber("step_median_ms", result.MedianStepMilliseconds);
                writer.WriteNumber("step_min_ms", result.MinStepMilliseconds);
                writer.WriteNumber("epoch_images", result.EpochImages);
                writer.WriteNumber("epoch_seconds", result.EpochSeconds);
                writer.WriteNumber("world_size", result.WorldSize);
                writer.WriteNumber("communication_median_ms", result.MedianCommunicationMilliseconds);
                writer.WriteStartObject("phases_median_ms");
                foreach (var phase in result.Phases)
                    writer.WriteNumber(phase.Phase, phase.MedianMilliseconds);
                writer.WriteEndObject();
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        });

    private static Command Zones()
    {
        var device = CommonOptions.Device();
        var json = new Option<FileInfo?>("--json") { Description = "also write the results as JSON to this file" };
        var sizes = new Option<string[]>("--size")
        {
            Description = "B,N,d,K (repeatable; add ',fwd' for forward only); default: the sizes docs/kernels.md sets for the backend",
            AllowMultipleArgumentsPerToken = true,
        };
        var runs = new Option<int>("--runs") { Description = "timed runs per operation (median reported, at least 5)", DefaultValueFactory = _ => 5 };
        var kernels = new Option<string?>("--kernels")
        {
            Description = "CUDA only: auto, v1, v2, gemm, gemm-dense (gemm without skipping zeros), gemm-3xtf32 (gemm with 3xTF32 tensor-core logits), or a comma list of them (measured side by side in one run); default: LZN_ZONE_KERNELS, else auto",
        };
        var command = new Command("zones", "Encode forward, forward+backward, and encode + assign + assignment loss forward+backward.")
        {
            device, json, sizes, runs, kernels,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            string[] requested = result.GetValue(sizes) ?? [];
            var cases = requested.Length > 0
                ? requested.Select(ParseCase).ToList()
                : (backend.Kind == BackendKind.Cuda ? ZoneCase.GpuSizes : ZoneCase.CpuSizes).ToList();
            var versions = ParseKernels(result.GetValue(kernels), backend);
            Console.WriteLine($"zones benchmark on {backend.Description}");
            Console.WriteLine($"{"B x N x d x K",-22} {"kernels",-12} {"operation",-32} {"median ms",10} {"min ms",10} {"TFLOP/s",8} {"peak MiB",9}");
            var results = new List<(string Kernels, ZoneBenchmarkResult Result)>();
            foreach (var zoneCase in cases)
            {
                // Versions alternate per size, so both are measured under the same conditions.
                foreach (var version in versions)
                {
                    string label = SelectKernels(backend, version);
                    var chunksBefore = GemmChunks(backend);
                    var measured = ZoneBenchmark.Run(backend, zoneCase, result.GetValue(runs));
                    results.Add((label, measured));
                    foreach (var m in measured.Measurements)
                    {
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{zoneCase,-22} {label,-12} {m.Operation,-32} {m.MedianMilliseconds,10:F2} {m.MinMilliseconds,10:F2} {m.EffectiveTflops,8:F3} {m.PeakBytes / 1048576.0,9:F1}"));
                    }
                    string verdict = measured.EncodeRelativeError <= AccuracyBound ? "ok" : "FAIL";
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{zoneCase,-22} {label,-12} {"encode rel. error vs float64",-32} {measured.EncodeRelativeError,10:0.00e+00} (bound {AccuracyBound:0e+00}) {verdict}"));
                    if (GemmChunks(backend) is { } after && chunksBefore is { } before && after.Forward.All > before.Forward.All)
                    {
                        Console.WriteLine($"{zoneCase,-22} {label,-12} {"gemm chunks skipping zeros",-32} "
                            + $"forward {after.Forward.Sparse - before.Forward.Sparse} of {after.Forward.All - before.Forward.All}, "
                            + $"backward {after.Backward.Sparse - before.Backward.Sparse} of {after.Backward.All - before.Backward.All}");
                    }
                }
            }
            if (result.GetValue(json) is { } file)
                WriteJson(file.FullName, backend.Description, results);
            return results.All(r => r.Result.EncodeRelativeError <= AccuracyBound) ? 0 : 1;
        }));
        return command;
    }

    // The zone kernel versions to measure: null (the backend's own) for the CPU, or the --kernels list on CUDA.
    private static List<ZoneKernelVersion?> ParseKernels(string? text, IBackend backend)
    {
        if (string.IsNullOrWhiteSpace(text))
            return [null];
        if (backend is not CudaBackend)
            throw new ArgumentException("--kernels chooses CUDA zone kernels; the CPU backend has one implementation.");
        return [.. text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(version =>
            ZoneKernelVersions.TryParse(version, out var parsed)
                ? (ZoneKernelVersion?)parsed
                : throw new ArgumentException($"--kernels {text}: '{version}' is not a zone kernel version ({ZoneKernelVersions.Names})."))];
    }

    // The CUDA zone kernels' gemm chunks so far (all, skipping zeros), or null on the CPU.
    private static ((long All, long Sparse) Forward, (long All, long Sparse) Backward)? GemmChunks(IBackend backend) =>
        backend is CudaBackend { Zones: CudaZoneKernels zones } ? (zones.ForwardChunks, zones.BackwardChunks) : null;

    private static string SelectKernels(IBackend backend, ZoneKernelVersion? version)
    {
        if (backend is not CudaBackend cuda)
            return "cpu";
        if (version is { } chosen)
            cuda.UseZoneKernels(chosen);
        return ZoneKernelVersions.Name(cuda.ZoneKernels);
    }

    private static ZoneCase ParseCase(string text)
    {
        string[] parts = text.Split([',', 'x'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        bool forwardOnly = parts.Length == 5 && parts[4] == "fwd";
        if ((parts.Length != 4 && !forwardOnly)
            || !parts.Take(4).All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0))
            throw new FormatException($"--size '{text}': expected B,N,d,K with positive integers (optionally ',fwd').");
        int[] v = parts.Take(4).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        return new ZoneCase(v[0], v[1], v[2], v[3], forwardOnly);
    }

    private static void WriteJson(string path, string backend, IReadOnlyList<(string Kernels, ZoneBenchmarkResult Result)> results) =>
        JsonFile.Write(path, writer =>
        {
            writer.WriteString("backend", backend);
            writer.WriteStartArray("results");
            foreach (var (kernels, result) in results)
            {
                foreach (var m in result.Measurements)
                {
                    writer.WriteStartObject();
                    writer.WriteString("kernels", kernels);
                    writer.WriteNumber("rows", m.Case.Rows);
                    writer.WriteNumber("anchors", m.Case.AnchorCount);
                    writer.WriteNumber("dim", m.Case.Dim);
                    writer.WriteNumber("steps", m.Case.Steps);
                    writer.WriteString("operation", m.Operation);
                    writer.WriteNumber("median_ms", m.MedianMilliseconds);
                    writer.WriteNumber("min_ms", m.MinMilliseconds);
                    writer.WriteNumber("runs", m.Runs);
                    writer.WriteNumber("effective_tflops", m.EffectiveTflops);
                    writer.WriteNumber("peak_bytes", m.PeakBytes);
                    JsonFile.WriteNumberOrNull(writer, "encode_relative_error", result.EncodeRelativeError);
                    writer.WriteEndObject();
                }
            }
            writer.WriteEndArray();
        });
}
