using System.Globalization;
using System.Text.RegularExpressions;
using LZN.Native.Backends.Cuda;
using LZN.Native.Interop.Cuda;

namespace LZN.Native.Kernels;

/// <summary>
/// A static report of every kernel for a set of architectures, from NVRTC alone (no GPU): ptxas's resources
/// (registers, spills, stack frame, static shared memory), the launcher's block size and dynamic shared memory,
/// the resident blocks per SM they allow, and static counts of tensor-core products, FMAs, shared-memory loads
/// and barriers in the PTX of the kernel and of its tile loop (the outermost loop with a barrier). Static counts
/// are instructions in the code, not executions, and PTX, not the SASS a GPU runs.
/// </summary>
public static partial class KernelReport
{
    /// <summary>The architectures reported when none is named: every one the project plans tile configurations for.</summary>
    public static IReadOnlyList<int> DefaultArchitectures { get; } = [75, 80, 86, 89, 90];

    /// <summary>Compiles every kernel file for every architecture and reports each kernel, or why a file does not compile.</summary>
    public static KernelReportResult Build(IReadOnlyList<int> architectures)
    {
        var kernels = new List<KernelResources>();
        var failures = new List<KernelCompileFailure>();
        foreach (int architecture in architectures)
        {
            foreach (string file in KernelSources.SourceFiles)
            {
                KernelBuild build;
                try
                {
                    build = KernelCompiler.CompileVerbose(file, new KernelTarget(architecture, KernelImageKind.Cubin));
                }
                catch (NvrtcCompileException ex)
                {
                    failures.Add(new KernelCompileFailure(file, architecture, FirstError(ex.Log)));
                    continue;
                }
                kernels.AddRange(Describe(file, architecture, build));
            }
        }
        return new KernelReportResult(kernels, failures);
    }

    /// <summary>The kernels of one compiled file: ptxas's resources joined with the PTX counts and the launch shape.</summary>
    internal static IEnumerable<KernelResources> Describe(string file, int architecture, KernelBuild build)
    {
        var limits = GpuArchitectureLimits.For(architecture);
        var ptx = ParsePtx(build.Ptx);
        foreach (var resources in ParsePtxasLog(build.Log))
        {
            var (threads, dynamicShared) = CudaLaunchShapes.For(file, resources.Kernel);
            ptx.TryGetValue(resources.Kernel, out var counts);
            yield return resources with
            {
                File = file,
                Architecture = architecture,
                Threads = threads,
                DynamicSharedBytes = dynamicShared,
                BlocksPerMultiprocessor = limits.ResidentBlocks(threads, resources.Registers, resources.StaticSharedBytes + dynamicShared),
                WholeKernel = counts.Whole,
                TileLoop = counts.TileLoop,
            };
        }
    }

    /// <summary>One entry per kernel of a ptxas -v log (registers, spills, stack frame, static shared memory).</summary>
    internal static IReadOnlyList<KernelResources> ParsePtxasLog(string log)
    {
        var kernels = new List<KernelResources>();
        KernelResources? current = null;
        foreach (string line in log.Split('\n'))
        {
            var entry = EntryLine().Match(line);
            if (entry.Success)
            {
                if (current is not null)
                    kernels.Add(current);
                current = new KernelResources { Kernel = entry.Groups[1].Value };
                continue;
            }
            if (current is null)
                continue;
            var frame = FrameLine().Match(line);
            if (frame.Success)
                current = current with { StackFrameBytes = Number(frame, 1), SpillStoreBytes = Number(frame, 2), SpillLoadBytes = Number(frame, 3) };
            var used = UsedLine().Match(line);
            if (used.Success)
                current = current with { Registers = Number(used, 1), StaticSharedBytes = used.Groups[2].Success ? Number(used, 2) : 0 };
        }
        if (current is not null)
            kernels.Add(current);
        return kernels;
    }

    /// <summary>Static counts per .entry of a PTX file: the whole body, and its tile loop.</summary>
    internal static Dictionary<string, (StaticCounts Whole, StaticCounts TileLoop)> ParsePtx(string ptx)
    {
        var result = new Dictionary<string, (StaticCounts, StaticCounts)>(StringComparer.Ordinal);
        foreach (Match entry in EntryDirective().Matches(ptx))
        {
            int open = ptx.IndexOf('{', entry.Index);
            int close = MatchingBrace(ptx, open);
            string[] lines = ptx[(open + 1)..close].Split('\n');
            result[entry.Groups[1].Value] = (Count(lines), Count(TileLoop(lines)));
        }
        return result;
    }

    // The outermost loop (a label and the last backward branch to it) whose body holds a barrier; the largest
    // loop when none has one; nothing when the kernel has no loop.
    private static string[] TileLoop(string[] lines)
    {
        var labels = new Dictionary<string, int>(StringComparer.Ordinal);
        (int Begin, int End, bool Barrier)? best = null;
        for (int i = 0; i < lines.Length; i++)
        {
            var label = LabelLine().Match(lines[i]);
            if (label.Success)
                labels[label.Groups[1].Value] = i;
            var branch = BranchLine().Match(lines[i]);
            if (!branch.Success || !labels.TryGetValue(branch.Groups[1].Value, out int begin))
                continue;
            bool barrier = lines.Skip(begin).Take(i - begin).Any(line => line.Contains("bar.sync", StringComparison.Ordinal) || line.Contains("barrier.sync", StringComparison.Ordinal));
            bool better = best is not { } current || (barrier && !current.Barrier) || (barrier == current.Barrier && i - begin > current.End - current.Begin);
            if (better)
                best = (begin, i, barrier);
        }
        return best is { } loop ? lines[loop.Begin..(loop.End + 1)] : [];
    }

    private static StaticCounts Count(string[] lines)
    {
        int Instructions(string opcode) => lines.Count(line => Opcode(line).StartsWith(opcode, StringComparison.Ordinal));
        return new StaticCounts(
            Instructions("mma."),
            Instructions("fma.") + Instructions("mad."),
            Instructions("ld.shared") + Instructions("ldmatrix"),
            Instructions("bar.sync") + Instructions("barrier.sync"),
            Instructions("cp.async") - Instructions("cp.async.commit_group") - Instructions("cp.async.wait_group"),
            Instructions("shfl."));
    }

    // The opcode of a PTX instruction line (after an optional @predicate), or "" for labels, directives and braces.
    private static string Opcode(string line)
    {
        string text = line.Trim();
        if (text.StartsWith('@'))
            text = text[(text.IndexOf(' ', StringComparison.Ordinal) + 1)..].TrimStart();
        return text.Length == 0 || text[0] is '.' or '$' or '{' or '}' or '/' ? "" : text;
    }

    private static int MatchingBrace(string text, int open)
    {
        int depth = 0;
        for (int i = open; i < text.Length; i++)
        {
            if (text[i] == '{')
                depth++;
            else if (text[i] == '}' && --depth == 0)
                return i;
        }
        throw new FormatException("unbalanced braces in the PTX");
    }

    private static string FirstError(string log) =>
        log.Split('\n').Select(line => line.Trim()).FirstOrDefault(line => line.Contains("error", StringComparison.OrdinalIgnoreCase)) ?? log.Trim();

    private static int Number(Match match, int group) => int.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"Compiling entry function '([^']+)'")]
    private static partial Regex EntryLine();

    [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex FrameLine();

    [GeneratedRegex(@"Used (\d+) registers(?:, (\d+) bytes smem)?")]
    private static partial Regex UsedLine();

    [GeneratedRegex(@"\.entry\s+([A-Za-z_$][\w$]*)\s*\(")]
    private static partial Regex EntryDirective();

    [GeneratedRegex(@"^\s*(\$[\w$]+):")]
    private static partial Regex LabelLine();

    [GeneratedRegex(@"\bbra(?:\.uni)?\s+(\$[\w$]+);")]
    private static partial Regex BranchLine();
}

/// <summary>Static instruction counts in PTX (instructions in the code, not executions).</summary>
public readonly record struct StaticCounts(int Mma, int Fma, int SharedLoads, int Barriers, int AsyncCopies, int Shuffles);

/// <summary>One kernel on one architecture: what ptxas allotted, how the launcher runs it, what its PTX holds.</summary>
public sealed record KernelResources
{
    public string File { get; init; } = "";
    public string Kernel { get; init; } = "";
    public int Architecture { get; init; }
    public int Registers { get; init; }
    public int SpillStoreBytes { get; init; }
    public int SpillLoadBytes { get; init; }
    public int StackFrameBytes { get; init; }
    public int StaticSharedBytes { get; init; }
    public int DynamicSharedBytes { get; init; }
    public int Threads { get; init; }

    /// <summary>Blocks of this kernel one SM holds at once (0: the block does not fit at all).</summary>
    public int BlocksPerMultiprocessor { get; init; }

    public StaticCounts WholeKernel { get; init; }

    /// <summary>Counts in the outermost loop with a barrier (all zero when the kernel has no loop).</summary>
    public StaticCounts TileLoop { get; init; }
}

/// <summary>A kernel file NVRTC could not compile for an architecture, with the compiler's first error.</summary>
public sealed record KernelCompileFailure(string File, int Architecture, string Error);

public sealed record KernelReportResult(IReadOnlyList<KernelResources> Kernels, IReadOnlyList<KernelCompileFailure> Failures);
