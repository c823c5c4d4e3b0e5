using System.Globalization;
using LZN.Native.Backends.Cpu;
using LZN.Native.Backends.Cuda;

namespace LZN.Native.Backends;

/// <summary>What the user asked for: <c>auto</c>, <c>cpu</c>, or <c>cuda[:N]</c>.</summary>
public readonly record struct DeviceRequest(DeviceRequestKind Kind, int Ordinal)
{
    /// <summary>The environment variable consulted when no --device option is given.</summary>
    public const string EnvironmentVariable = "LZN_DEVICE";

    public static DeviceRequest Auto => new(DeviceRequestKind.Auto, 0);

    /// <summary>Parses <c>auto|cpu|cuda|cuda:N</c> (case-insensitive); null or empty means <c>auto</c>.</summary>
    public static DeviceRequest Parse(string? text)
    {
        string value = (text ?? "").Trim().ToLowerInvariant();
        if (value is "" or "auto")
            return Auto;
        if (value == "cpu")
            return new(DeviceRequestKind.Cpu, 0);
        if (value == "cuda")
            return new(DeviceRequestKind.Cuda, 0);
        if (value.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(value.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int ordinal))
            return new(DeviceRequestKind.Cuda, ordinal);
        throw new FormatException($"Unknown device '{text}'; expected auto, cpu, cuda or cuda:N.");
    }

    /// <summary>The explicit option if given, else LZN_DEVICE, else auto.</summary>
    public static DeviceRequest Resolve(string? option) =>
        Parse(string.IsNullOrWhiteSpace(option) ? Environment.GetEnvironmentVariable(EnvironmentVariable) : option);

    public override string ToString() => Kind switch
    {
        DeviceRequestKind.Auto => "auto",
        DeviceRequestKind.Cpu => "cpu",
        _ => $"cuda:{Ordinal}",
    };
}

public enum DeviceRequestKind
{
    Auto,
    Cpu,
    Cuda,
}

/// <summary>Creates the backend a <see cref="DeviceRequest"/> names.</summary>
public static class DeviceSelection
{
    /// <summary>
    /// <c>cpu</c> gives the CPU backend; <c>cuda[:N]</c> gives that device or throws saying why not;
    /// <c>auto</c> picks CUDA device 0 when a driver and device exist, otherwise the CPU, and writes one
    /// line to <paramref name="notices"/> saying which and, in short, why (every library load attempt only when
    /// <paramref name="verbose"/>: on a machine without CUDA that list is long and the same every time).
    /// </summary>
    public static IBackend Create(DeviceRequest request, TextWriter? notices = null, bool verbose = false)
    {
        switch (request.Kind)
        {
            case DeviceRequestKind.Cpu:
                return new CpuBackend();
            case DeviceRequestKind.Cuda:
                return CudaBackend.TryCreateWithProblem(request.Ordinal, out var cuda, out CudaProblem? problem)
                    ? cuda
                    : throw new InvalidOperationException($"CUDA device {request.Ordinal} is unavailable: {Describe(problem, verbose)}");
            default:
                if (CudaBackend.TryCreateWithProblem(0, out var automatic, out CudaProblem? why))
                {
                    notices?.WriteLine($"device: auto -> {automatic.Description}");
                    return automatic;
                }
                var cpu = new CpuBackend();
                notices?.WriteLine($"device: auto -> {cpu.Description} (CUDA unavailable: {Describe(why, verbose)})");
                return cpu;
        }
    }

    private static string Describe(CudaProblem? problem, bool verbose) => problem switch
    {
        null => "unknown reason",
        { Details: null } => problem.Summary,
        _ when verbose => problem.ToString(),
        _ => $"{problem.Summary}; `lzn info` or --verbose lists where it was looked for",
    };
}
