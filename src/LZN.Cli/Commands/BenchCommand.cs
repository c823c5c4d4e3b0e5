using System.CommandLine;
using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.Diagnostics;

namespace LZN.Cli.Commands;

/// <summary>`lzn bench zones`: the quick zone benchmark for device runs (BenchmarkDotNet's suite lives in bench/).</summary>
internal static class BenchCommand
{
    /// <summary>The accuracy every benchmark size must keep: relative error of the encode latents vs float64.</summary>
    private const double AccuracyBound = 5e-4;

    public static Command Create() => new("bench", "Quick benchmarks (warm-up, median of 5; CUDA events on a GPU).")
    {
        Zones(),
    };

    private static Command Zones()
    {
        var device = CommonOptions.Device();
        var json = new Option<FileInfo?>("--json") { Description = "also write the results as JSON to this file" };
        var sizes = new Option<string[]>("--size")
        {
            Description = "B,N,d,K (repeatable; add ',fwd' for forward only); default: the issue's sizes for the backend",
            AllowMultipleArgumentsPerToken = true,
        };
        var runs = new Option<int>("--runs") { Description = "timed runs per operation (median reported, at least 5)", DefaultValueFactory = _ => 5 };
        var command = new Command("zones", "Encode forward, forward+backward, and encode + assign + assignment loss forward+backward.")
        {
            device, json, sizes, runs,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            string[] requested = result.GetValue(sizes) ?? [];
            var cases = requested.Length > 0
                ? requested.Select(ParseCase).ToList()
                : (backend.Kind == BackendKind.Cuda ? ZoneCase.GpuSizes : ZoneCase.CpuSizes).ToList();
            Console.WriteLine($"zones benchmark on {backend.Description}");
            Console.WriteLine($"{"B x N x d x K",-22} {"operation",-32} {"median ms",10} {"min ms",10} {"TFLOP/s",8} {"peak MiB",9}");
            var results = new List<ZoneBenchmarkResult>();
            foreach (var zoneCase in cases)
            {
                var measured = ZoneBenchmark.Run(backend, zoneCase, result.GetValue(runs));
                results.Add(measured);
                foreach (var m in measured.Measurements)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{zoneCase,-22} {m.Operation,-32} {m.MedianMilliseconds,10:F2} {m.MinMilliseconds,10:F2} {m.EffectiveTflops,8:F3} {m.PeakBytes / 1048576.0,9:F1}"));
                }
                string verdict = measured.EncodeRelativeError <= AccuracyBound ? "ok" : "FAIL";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{zoneCase,-22} {"encode rel. error vs float64",-32} {measured.EncodeRelativeError,10:0.00e+00} (bound {AccuracyBound:0e+00}) {verdict}"));
            }
            if (result.GetValue(json) is { } file)
                WriteJson(file.FullName, backend.Description, results);
            return results.All(r => r.EncodeRelativeError <= AccuracyBound) ? 0 : 1;
        }));
        return command;
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

    private static void WriteJson(string path, string backend, IReadOnlyList<ZoneBenchmarkResult> results) =>
        JsonFile.Write(path, writer =>
        {
            writer.WriteString("backend", backend);
            writer.WriteStartArray("results");
            foreach (var result in results)
            {
                foreach (var m in result.Measurements)
                {
                    writer.WriteStartObject();
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
