using System.CommandLine;
using LZN.Native.Backends;
using LZN.Native.IO;

namespace LZN.Cli.Commands;

/// <summary>Options shared by several commands, and the one place command errors become exit codes.</summary>
internal static class CommonOptions
{
    public static Option<string?> Device() => new("--device")
    {
        Description = "auto | cpu | cuda[:N] (default: $LZN_DEVICE, else auto)",
    };

    /// <summary>Creates the requested backend; notices (which device auto picked) go to stderr.</summary>
    public static IBackend CreateBackend(string? device) =>
        DeviceSelection.Create(DeviceRequest.Resolve(device), Console.Error);

    /// <summary>
    /// Runs a command body: expected failures (bad input, unavailable device) print one clear line and
    /// exit 2; anything else is a bug and keeps its stack trace.
    /// </summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception ex) when (ex is NpyFormatException or FormatException or ArgumentException
            or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"lzn: error: {ex.Message}");
            return 2;
        }
    }
}
