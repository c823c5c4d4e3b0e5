using System.CommandLine;
using LZN.Native.Backends;
using LZN.Native.IO;
using LZN.Native.Training;

namespace LZN.Cli.Commands;

/// <summary>Options shared by several commands, and the one place command errors become exit codes.</summary>
internal static class CommonOptions
{
    /// <summary>Exit code of every usage error: a bad option, a bad input file, an unavailable device.</summary>
    public const int UsageErrorExitCode = 2;

    /// <summary>--verbose, on every command: the details behind short notices (each CUDA library load attempt).</summary>
    public static Option<bool> Verbose { get; } = new("--verbose")
    {
        Description = "print details behind short notices, e.g. every place CUDA's libraries were looked for",
        Recursive = true,
    };

    public static Option<string?> Device() => new("--device")
    {
        Description = "auto | cpu | cuda[:N] (default: $LZN_DEVICE, else auto)",
    };

    /// <summary>Put after "lzn: error: " on every error line: "rank r of R: " in a data-parallel job (<see cref="DistributedRun"/>), else empty.</summary>
    public static string ErrorPrefix { get; set; } = "";

    /// <summary>Whether --verbose was given; set once from the parse result before any command runs.</summary>
    public static bool IsVerbose { get; set; }

    /// <summary>Creates the requested backend; notices (which device auto picked, and in short why) go to stderr.</summary>
    public static IBackend CreateBackend(string? device) =>
        DeviceSelection.Create(DeviceRequest.Resolve(device), Console.Error, IsVerbose);

    /// <summary>
    /// A parse error (unknown option, missing or malformed value) as one line naming the command's help, exit code 2;
    /// System.CommandLine's default prints the whole help and exits 1.
    /// </summary>
    public static int ReportUsageError(ParseResult parsed)
    {
        ArgumentNullException.ThrowIfNull(parsed);
        string command = string.Join(' ', CommandPath(parsed));
        var error = parsed.Errors[0];
        string message = ConversionError(error) ?? error.Message.TrimEnd('.');
        Console.Error.WriteLine($"lzn: error: {message} (see '{command} --help').");
        return UsageErrorExitCode;
    }

    /// <summary>
    /// "--steps abc: expected a whole number" for a value the option's type cannot hold (options built by
    /// <see cref="CliOptions"/> say so themselves); System.CommandLine's own message names the .NET type instead.
    /// </summary>
    private static string? ConversionError(System.CommandLine.Parsing.ParseError error)
    {
        var optionResult = error.SymbolResult as System.CommandLine.Parsing.OptionResult
            ?? error.SymbolResult?.Parent as System.CommandLine.Parsing.OptionResult;
        // Only System.CommandLine's own conversion message ("Cannot parse argument 'abc' for option '--steps' as expected
        // type 'System.Int32'"); the resources are English under the invariant globalization the app runs with.
        if (optionResult is not { Tokens.Count: 1 } || !error.Message.StartsWith("Cannot parse argument", StringComparison.Ordinal))
            return null;
        var type = Nullable.GetUnderlyingType(optionResult.Option.ValueType) ?? optionResult.Option.ValueType;
        string? expected = Type.GetTypeCode(type) switch
        {
            TypeCode.Int32 or TypeCode.Int64 or TypeCode.Int16 => "a whole number",
            TypeCode.UInt32 or TypeCode.UInt64 or TypeCode.UInt16 or TypeCode.Byte => "a whole number >= 0",
            TypeCode.Double or TypeCode.Single or TypeCode.Decimal => "a number",
            TypeCode.Boolean => "true or false",
            _ => null,
        };
        return expected is null ? null : $"{optionResult.Option.Name} {optionResult.Tokens[0].Value}: expected {expected}";
    }

    private static List<string> CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var result = parsed.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, result.Command is RootCommand ? "lzn" : result.Command.Name);
        return names;
    }

    /// <summary>
    /// Runs a command body: expected failures (bad input, unavailable device, a config value out of range) print one
    /// line and exit 2; anything else is a bug and keeps its stack trace. <paramref name="configOptions"/> maps a
    /// config field's key to the option that sets it, so a range error names the option the user typed.
    /// </summary>
    public static int Run(Func<int> body, IReadOnlyDictionary<string, string>? configOptions = null)
    {
        try
        {
            return body();
        }
        catch (TrainingConfigException ex) when (configOptions is not null && configOptions.TryGetValue(ex.Key, out string? option))
        {
            return Fail($"{option} {ex.Value}: {ex.Problem}.");
        }
        catch (OutOfMemoryException)
        {
            return Fail("not enough memory for this input; use smaller inputs or a smaller model.");
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            // A library guard's "(Parameter 'x')" names a C# parameter, not anything the user typed.
            string message = ex is ArgumentException { ParamName: string name } ? ex.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : ex.Message;
            return Fail(message.ReplaceLineEndings(" "));
        }
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"lzn: error: {ErrorPrefix}{message}");
        return UsageErrorExitCode;
    }
}
