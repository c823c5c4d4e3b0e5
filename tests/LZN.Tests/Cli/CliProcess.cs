using System.Diagnostics;

namespace LZN.Tests.Cli;

/// <summary>Runs the real `lzn` (lzn.dll, copied beside the tests) in a child process.</summary>
internal static class CliProcess
{
    /// <summary>How long a run may take before the test fails as a hang.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    public sealed record Result(int ExitCode, string Output, string Error, TimeSpan Elapsed)
    {
        /// <summary>
        /// The run was refused the way every bad input must be: exit code 2, one "lzn: error:" line on stderr holding
        /// every fragment, and nothing a user should not see (no stack trace, no help text, no .NET parameter names).
        /// </summary>
        public void AssertUsageError(params string[] fragments)
        {
            string context = $"stdout: {Output}\nstderr: {Error}";
            Assert.That(ExitCode, Is.EqualTo(2), context);
            var errors = Error.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(line => line.StartsWith("lzn: error:", StringComparison.Ordinal)).ToList();
            Assert.That(errors, Has.Count.EqualTo(1), context);
            foreach (string fragment in fragments)
                Assert.That(errors[0], Does.Contain(fragment), context);
            Assert.That(Error + Output, Does.Not.Contain("Unhandled exception").And.Not.Contain("   at ").And.Not.Contain("(Parameter '")
                .And.Not.Contain("Actual value was").And.Not.Contain("Usage:"), context);
        }

        /// <summary>
        /// A data-parallel job ended by one rank's refusal: exit code 2 (the rank's, through MPI_Abort), and that rank's
        /// "lzn: error: rank r of R: " line holding every fragment, the only error message.
        /// </summary>
        public void AssertRankError(int worldSize, params string[] fragments)
        {
            string context = $"stdout: {Output}\nstderr: {Error}";
            Assert.That(ExitCode, Is.EqualTo(2), context);
            // Every rank that refuses before the first refusal's MPI_Abort ends it prints its line: one message, from 1 to R ranks.
            var errors = Error.Split('\n').Where(line => line.StartsWith("lzn: error:", StringComparison.Ordinal)).ToList();
            var messages = errors.Select(line => System.Text.RegularExpressions.Regex.Match(line, $@"^lzn: error: rank \d+ of {worldSize}: (.*)$"))
                .Select(match => match.Success ? match.Groups[1].Value : null).Distinct().ToList();
            Assert.That(errors, Is.Not.Empty, context);
            Assert.That(messages, Has.None.Null, $"an error line that is not a rank's of {worldSize}\n{context}");
            Assert.That(messages, Has.Count.EqualTo(1), context);
            foreach (string fragment in fragments)
                Assert.That(errors[0], Does.Contain(fragment), context);
            Assert.That(Error + Output, Does.Not.Contain("Unhandled exception").And.Not.Contain("   at "), context);
        }
    }

    public static Result Run(params string[] arguments) => Run(new Dictionary<string, string?>(), arguments);

    public static Result Run(IReadOnlyDictionary<string, string?> environment, params string[] arguments) =>
        Run(DefaultTimeout, environment, arguments);

    /// <summary>Runs lzn; a run longer than <paramref name="timeout"/> is killed and fails the test as a hang.</summary>
    public static Result Run(TimeSpan timeout, IReadOnlyDictionary<string, string?> environment, params string[] arguments) =>
        TryRun(timeout, environment, arguments)
        ?? throw new AssertionException($"lzn {string.Join(' ', arguments)} did not finish within {timeout.TotalSeconds:F0} s");

    /// <summary>Runs lzn; null when it ran longer than <paramref name="timeout"/> (it is then killed).</summary>
    public static Result? TryRun(TimeSpan timeout, IReadOnlyDictionary<string, string?> environment, params string[] arguments)
    {
        using var process = Start(environment, arguments);
        return Finish(process, timeout);
    }

    /// <summary>Reads a started process's output to its end; null when it ran longer than <paramref name="timeout"/> (it is then killed).</summary>
    public static Result? Finish(Process process, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(process);
        var clock = Stopwatch.StartNew();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return null;
        }
        process.WaitForExit();
        return new Result(process.ExitCode, output.Result, error.Result, clock.Elapsed);
    }

    /// <summary>Starts lzn with redirected output and returns at once (the caller reads and waits).</summary>
    public static Process Start(IReadOnlyDictionary<string, string?> environment, params string[] arguments)
    {
        // LZN_TEST_CLI points the CLI tests (and the fuzz suite) at another build of lzn.dll, e.g. an older one to compare.
        string lzn = Environment.GetEnvironmentVariable("LZN_TEST_CLI") is { Length: > 0 } other ? other : Path.Combine(AppContext.BaseDirectory, "lzn.dll");
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
        return Process.Start(start)!;
    }
}
