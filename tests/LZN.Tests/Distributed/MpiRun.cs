using System.Diagnostics;
using System.Globalization;
using LZN.Tests.Cli;

namespace LZN.Tests.Distributed;

/// <summary>
/// Starts the real `lzn` as R ranks under Open MPI's mpirun (as root mpirun needs --allow-run-as-root, and more ranks
/// than cores need --oversubscribe), one OpenBLAS thread per rank, niced so that the test's own clock (timeouts, the kill of a
/// rank) keeps running on a machine the ranks fill. mpirun is optional on a developer machine and
/// required where LZN_REQUIRE_MPI=1 (CI sets it), so a missing Open MPI fails there instead of skipping.
/// </summary>
internal static partial class MpiRun
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>kill -9: false when there was no such process.</summary>
    public static bool KillHard(int pid) => Kill(pid, 9) == 0;

    public static bool Required => Environment.GetEnvironmentVariable("LZN_REQUIRE_MPI") == "1";

    /// <summary>A bound on every distributed run in the tests, so a hang fails instead of stalling the suite.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(150);

    /// <summary>mpirun on PATH, or Assert.Fail / Assert.Ignore saying it is missing.</summary>
    public static string Launcher()
    {
        foreach (string folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(folder, "mpirun");
            if (File.Exists(candidate))
                return candidate;
        }
        if (Required)
            Assert.Fail("LZN_REQUIRE_MPI=1 but mpirun is not on PATH (Debian: openmpi-bin libopenmpi-dev).");
        Assert.Ignore("mpirun is not on PATH (Debian: openmpi-bin libopenmpi-dev)");
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>Runs `mpirun -n ranks lzn arguments` to the end; a run over <see cref="Timeout"/> is killed and fails the test.</summary>
    public static CliProcess.Result Run(int ranks, params string[] arguments) => Run(ranks, new Dictionary<string, string?>(), arguments);

    /// <summary><see cref="Run(int, string[])"/> with more variables in every rank's environment.</summary>
    public static CliProcess.Result Run(int ranks, IReadOnlyDictionary<string, string?> environment, params string[] arguments)
    {
        using var process = Start(ranks, environment, arguments);
        return CliProcess.Finish(process, Timeout)
            ?? throw new AssertionException($"mpirun -n {ranks} lzn {string.Join(' ', arguments)} did not finish within {Timeout.TotalSeconds:F0} s");
    }

    /// <summary>Starts `mpirun -n ranks lzn arguments` with redirected output and returns at once.</summary>
    public static Process Start(int ranks, params string[] arguments) => Start(ranks, new Dictionary<string, string?>(), arguments);

    /// <summary>Starts mpirun with more variables in its environment, which the ranks on this machine inherit.</summary>
    public static Process Start(int ranks, IReadOnlyDictionary<string, string?> environment, params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(environment);
        string lzn = Environment.GetEnvironmentVariable("LZN_TEST_CLI") is { Length: > 0 } other ? other : Path.Combine(AppContext.BaseDirectory, "lzn.dll");
        var start = new ProcessStartInfo(Launcher())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in (string[])["-n", ranks.ToString(CultureInfo.InvariantCulture), "--allow-run-as-root", "--oversubscribe",
            "-x", "OPENBLAS_NUM_THREADS=1", "nice", "-n", "5", "dotnet", "exec", lzn])
            start.ArgumentList.Add(argument);
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["OPENBLAS_NUM_THREADS"] = "1";
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        return Process.Start(start)!;
    }

    /// <summary>Waits until no running process names <paramref name="folder"/> on its command line (fails after <paramref name="timeout"/>).</summary>
    public static void WaitUntilNoProcessUses(string folder, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var users = Directory.GetDirectories("/proc").Select(Path.GetFileName)
                .Where(name => int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && IsRunning(pid) && CommandLine(pid).Contains(folder, StringComparison.Ordinal))
                .ToList();
            if (users.Count == 0)
                return;
            if (clock.Elapsed > timeout)
                Assert.Fail($"processes {string.Join(", ", users)} still use {folder} after {timeout.TotalSeconds:F0} s");
            Thread.Sleep(50);
        }
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>Whether a process exists and has not exited (a zombie, state Z in /proc/PID/stat, has exited).</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The process ids of the ranks mpirun <paramref name="launcher"/> started (its children, from /proc).</summary>
    public static IReadOnlyList<int> RankProcesses(Process launcher)
    {
        ArgumentNullException.ThrowIfNull(launcher);
        try
        {
            string children = File.ReadAllText($"/proc/{launcher.Id}/task/{launcher.Id}/children");
            return [.. children.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(pid => int.Parse(pid, CultureInfo.InvariantCulture))];
        }
        catch (IOException)
        {
            return [];
        }
    }
}
