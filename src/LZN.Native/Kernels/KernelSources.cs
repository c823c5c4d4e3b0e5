using System.Reflection;

namespace LZN.Native.Kernels;

/// <summary>
/// The kernel sources embedded in this assembly (kernels/*.cu and kernels/*.cuh, resource names
/// <c>kernels/&lt;file&gt;</c>): .cu files are compilation units, .cuh files are handed to NVRTC as headers.
/// </summary>
public static class KernelSources
{
    private const string Prefix = "kernels/";

    private static readonly Lazy<IReadOnlyDictionary<string, string>> All = new(Load);

    /// <summary>Every embedded compilation unit (*.cu), sorted by name.</summary>
    public static IReadOnlyList<string> SourceFiles { get; } =
        [.. All.Value.Keys.Where(name => name.EndsWith(".cu", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];

    /// <summary>Every embedded header (*.cuh) by file name, as NVRTC sees them for <c>#include "name"</c>.</summary>
    public static IReadOnlyDictionary<string, string> Headers { get; } =
        All.Value.Where(pair => pair.Key.EndsWith(".cuh", StringComparison.Ordinal)).ToDictionary(pair => pair.Key, pair => pair.Value);

    /// <summary>The text of one embedded file, e.g. <c>Read("elementwise.cu")</c>.</summary>
    public static string Read(string fileName) =>
        All.Value.TryGetValue(fileName, out string? text)
            ? text
            : throw new ArgumentException($"No embedded kernel file '{fileName}'. Embedded: {string.Join(", ", All.Value.Keys.Order(StringComparer.Ordinal))}.", nameof(fileName));

    private static IReadOnlyDictionary<string, string> Load()
    {
        var assembly = typeof(KernelSources).Assembly;
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(Prefix, StringComparison.Ordinal))
                continue;
            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"Resource {resource} is listed but cannot be opened.");
            using var reader = new StreamReader(stream);
            files[resource[Prefix.Length..]] = reader.ReadToEnd();
        }
        return files;
    }
}
