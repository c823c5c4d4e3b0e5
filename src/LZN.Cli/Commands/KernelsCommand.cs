using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LZN.Native.Kernels;

namespace LZN.Cli.Commands;

/// <summary>`lzn kernels`: the static kernel report (NVRTC only, no GPU) per kernel and architecture.</summary>
internal static class KernelsCommand
{
    public static Command Create()
    {
        var architectures = new Option<string[]>("--arch")
        {
            Description = "sm_XY to report, repeatable (default: sm_75, sm_80, sm_86, sm_89, sm_90)",
            AllowMultipleArgumentsPerToken = false,
        };
        var json = new Option<FileInfo?>("--json") { Description = "also write the report as JSON to this file" };
        var command = new Command("kernels",
            "Report every kernel's registers, spills, shared memory, blocks per SM and static PTX instruction counts per architecture (NVRTC only, no GPU).")
        {
            architectures, json,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var targets = ParseArchitectures(result.GetValue(architectures) ?? []);
            var report = KernelReport.Build(targets);
            Print(report, targets);
            if (result.GetValue(json) is { } file)
                JsonFile.Write(file.FullName, writer => WriteJson(writer, report));
            return 0;
        }));
        return command;
    }

    private static List<int> ParseArchitectures(string[] values)
    {
        if (values.Length == 0)
            return [.. KernelReport.DefaultArchitectures];
        var result = new List<int>();
        foreach (string value in values)
        {
            string digits = value.StartsWith("sm_", StringComparison.OrdinalIgnoreCase) ? value[3..] : value;
            if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int architecture))
                throw new ArgumentException($"--arch {value}: expected sm_XY, e.g. sm_90.");
            if (!GpuArchitectureLimits.Architectures.Contains(architecture))
                throw new ArgumentException($"--arch {value}: sm_{architecture} has no limits table; known: sm_{string.Join(", sm_", GpuArchitectureLimits.Architectures)}.");
            result.Add(architecture);
        }
        return result;
    }

    private static void Print(KernelReportResult report, IReadOnlyList<int> architectures)
    {
        Console.WriteLine("Static report (NVRTC's ptxas -v and PTX; counts are instructions in the code, not executions, and PTX, not SASS).");
        Console.WriteLine("tile loop: the outermost loop with a barrier; shared: static + the launcher's dynamic bytes.");
        foreach (int architecture in architectures)
        {
            Console.WriteLine();
            Console.WriteLine($"sm_{architecture}");
            var kernels = report.Kernels.Where(kernel => kernel.Architecture == architecture).ToList();
            if (kernels.Count > 0)
            {
                int width = kernels.Max(kernel => kernel.Kernel.Length);
                Console.WriteLine($"  {"kernel".PadRight(width)}  regs  spill st/ld  stack  shared (static+dyn)  threads  blocks/SM  | tile loop: mma  fma  ld.shared  bar  cp.async  shfl");
                foreach (var kernel in kernels)
                {
                    var loop = kernel.TileLoop;
                    Console.WriteLine($"  {kernel.Kernel.PadRight(width)}  {kernel.Registers,4}  {kernel.SpillStoreBytes,5}/{kernel.SpillLoadBytes,-5}  {kernel.StackFrameBytes,5}  "
                        + $"{kernel.StaticSharedBytes + "+" + kernel.DynamicSharedBytes,19}  {kernel.Threads,7}  {kernel.BlocksPerMultiprocessor,9}  "
                        + $"| {loop.Mma,14}  {loop.Fma,3}  {loop.SharedLoads,9}  {loop.Barriers,3}  {loop.AsyncCopies,8}  {loop.Shuffles,4}");
                }
            }
            foreach (var failure in report.Failures.Where(failure => failure.Architecture == architecture))
                Console.WriteLine($"  {failure.File} does not compile for sm_{architecture}: {failure.Error}");
        }
    }

    private static void WriteJson(Utf8JsonWriter writer, KernelReportResult report)
    {
        writer.WriteString("note", "static counts: instructions in the PTX, not executions; tile loop: the outermost loop with a barrier");
        writer.WriteStartArray("kernels");
        foreach (var kernel in report.Kernels)
        {
            writer.WriteStartObject();
            writer.WriteString("file", kernel.File);
            writer.WriteString("kernel", kernel.Kernel);
            writer.WriteString("arch", $"sm_{kernel.Architecture}");
            writer.WriteNumber("registers", kernel.Registers);
            writer.WriteNumber("spill_store_bytes", kernel.SpillStoreBytes);
            writer.WriteNumber("spill_load_bytes", kernel.SpillLoadBytes);
            writer.WriteNumber("stack_frame_bytes", kernel.StackFrameBytes);
            writer.WriteNumber("static_shared_bytes", kernel.StaticSharedBytes);
            writer.WriteNumber("dynamic_shared_bytes", kernel.DynamicSharedBytes);
            writer.WriteNumber("threads", kernel.Threads);
            writer.WriteNumber("blocks_per_sm", kernel.BlocksPerMultiprocessor);
            WriteCounts(writer, "kernel_counts", kernel.WholeKernel);
            WriteCounts(writer, "tile_loop_counts", kernel.TileLoop);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        writer.WriteStartArray("failures");
        foreach (var failure in report.Failures)
        {
            writer.WriteStartObject();
            writer.WriteString("file", failure.File);
            writer.WriteString("arch", $"sm_{failure.Architecture}");
            writer.WriteString("error", failure.Error);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
    }

    private static void WriteCounts(Utf8JsonWriter writer, string name, StaticCounts counts)
    {
        writer.WriteStartObject(name);
        writer.WriteNumber("mma", counts.Mma);
        writer.WriteNumber("fma", counts.Fma);
        writer.WriteNumber("shared_loads", counts.SharedLoads);
        writer.WriteNumber("barriers", counts.Barriers);
        writer.WriteNumber("async_copies", counts.AsyncCopies);
        writer.WriteNumber("shuffles", counts.Shuffles);
        writer.WriteEndObject();
    }
}
