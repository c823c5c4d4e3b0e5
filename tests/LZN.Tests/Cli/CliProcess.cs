using System.Diagnostics;

namespace LZN.Tests.Cli;

/// <summary>Runs the real `lzn` (lzn.dll, copied beside the tests) in a child process.</summary>
internal static class CliProcess
{
    public sealed record Result(int ExitCode, string Output, string Error);

    public static Result Run(params string[] arguments) => Run(new Dictionary<string, string?>(), arguments);

    public static Result Run(IReadOnlyDictionary<string, string?> environment, params string[] arguments)
    {
        string lzn = Path.Combine(AppContext.BaseDirectory, "lzn.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(lzn);
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"lzn {string.Join(' ', arguments)} did not finish within 5 minutes");
        }
        return new Result(process.ExitCode, output.Result, error.Result);
    }
}
