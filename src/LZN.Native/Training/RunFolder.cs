using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using LZN.Native.IO;

namespace LZN.Native.Training;

/// <summary>How <see cref="RunFolder.Open"/> treats a folder that already holds a run.</summary>
public enum RunFolderMode
{
    /// <summary>Start a run; a folder that holds one (finished or not) is refused.</summary>
    New,

    /// <summary>Continue the run whose checkpoint the folder holds; a folder without one is refused.</summary>
    Resume,

    /// <summary>Start a run, first deleting the files of the one the folder holds.</summary>
    Overwrite,
}

/// <summary>Raised when a run folder cannot be used as asked (held by another run, holds a run, has no checkpoint).</summary>
public sealed class RunFolderException(string message) : IOException(message);

/// <summary>
/// A run folder held by this process for one training run. <see cref="Open"/> takes the folder's lock file
/// (<see cref="LockFileName"/>: the holder's PID, host and process start time), so a second run into the same folder
/// is refused while the first lives; a lock whose process is gone (killed, crashed) is taken over with a notice.
/// It then removes temporaries that killed writers left behind, and applies <see cref="RunFolderMode"/>: a folder
/// holding a run is never overwritten unless asked. Disposing releases the lock.
/// </summary>
public sealed class RunFolder : IDisposable
{
    public const string LockFileName = "lzn.lock";

    /// <summary>The files a run writes: a folder holding any of them holds a run.</summary>
    public static IReadOnlyList<string> RunFiles { get; } =
        [JointTrainer.CheckpointFileName, JointTrainer.MetricsFileName, RunOutputs.SummaryFileName, RunOutputs.SamplesFileName];

    private readonly string _lockContent;
    private bool _disposed;

    private RunFolder(string path, string lockContent)
    {
        Path = path;
        _lockContent = lockContent;
    }

    public string Path { get; }

    public string LockPath => System.IO.Path.Combine(Path, LockFileName);

    /// <summary>
    /// Creates the folder if needed, locks it, removes abandoned temporaries, and checks it against
    /// <paramref name="mode"/> (deleting the previous run's files for <see cref="RunFolderMode.Overwrite"/>).
    /// <paramref name="notices"/> gets one line per thing done that the user should know of.
    /// </summary>
    public static RunFolder Open(string path, RunFolderMode mode, Action<string>? notices = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Directory.CreateDirectory(path);
        var folder = Acquire(path, notices);
        try
        {
            int removed = AtomicFile.RemoveAbandonedTemporariesIn(path);
            if (removed > 0)
                notices?.Invoke($"{path}: removed {removed} temporary file(s) left by an interrupted write.");
            folder.Apply(mode, notices);
            return folder;
        }
        catch
        {
            folder.Dispose();
            throw;
        }
    }

    /// <summary>What the folder holds, in a few words ("a finished run: summary.json, checkpoint.safetensors"); null when no run.</summary>
    public static string? DescribeRun(string path)
    {
        var present = RunFiles.Where(name => File.Exists(System.IO.Path.Combine(path, name))).ToList();
        if (present.Count == 0)
            return null;
        string state = present.Contains(RunOutputs.SummaryFileName) ? "a finished run" : "a started run";
        return $"{state} ({string.Join(", ", present)})";
    }

    private void Apply(RunFolderMode mode, Action<string>? notices)
    {
        string checkpoint = System.IO.Path.Combine(Path, JointTrainer.CheckpointFileName);
        switch (mode)
        {
            case RunFolderMode.Resume:
                if (!File.Exists(checkpoint))
                    throw new RunFolderException($"{Path}: there is no {JointTrainer.CheckpointFileName} to resume from; start the run without --resume.");
                break;
            case RunFolderMode.New:
                if (DescribeRun(Path) is string run)
                {
                    throw new RunFolderException(
                        $"{Path} already holds {run}; continue it with --resume, replace it with --overwrite, or choose another folder with --out.");
                }
                break;
            case RunFolderMode.Overwrite:
                if (DescribeRun(Path) is string previous)
                {
                    foreach (string name in RunFiles)
                        File.Delete(System.IO.Path.Combine(Path, name));
                    notices?.Invoke($"{Path}: --overwrite removed {previous}.");
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, null);
        }
    }

    /// <summary>
    /// Publishes a complete lock file under the lock's name in one step (a hard link that fails if the name exists), so
    /// every lock file a reader sees is complete. An existing lock of a live process refuses; one of a dead process on
    /// this host is moved aside and the acquisition retried.
    /// </summary>
    private static RunFolder Acquire(string path, Action<string>? notices)
    {
        string lockPath = System.IO.Path.Combine(path, LockFileName);
        string content = LockContent();
        for (int attempt = 0; attempt < 5; attempt++)
        {
            string temporary = $"{lockPath}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
            File.WriteAllText(temporary, content);
            try
            {
                File.Move(temporary, lockPath, overwrite: false);
                return new RunFolder(path, content);
            }
            catch (IOException) when (File.Exists(lockPath))
            {
                File.Delete(temporary);
            }
            string existing;
            try
            {
                existing = File.ReadAllText(lockPath);
            }
            catch (FileNotFoundException)
            {
                continue; // released between our attempt and the read
            }
            var holder = LockHolder.Parse(existing)
                ?? throw new RunFolderException($"{lockPath} is not a lock file lzn wrote; delete it if no run is using {path}.");
            if (!holder.IsThisHost)
            {
                throw new RunFolderException(
                    $"{path} is locked by process {holder.ProcessId} on host {holder.Host} (since {holder.Started}); if no run is active there, delete {lockPath}.");
            }
            if (holder.IsAlive())
                throw new RunFolderException($"{path} is in use by another run (process {holder.ProcessId}, since {holder.Started}); wait for it to end or choose another folder with --out.");
            if (TakeOver(lockPath, existing))
                notices?.Invoke($"{path}: took over the lock of process {holder.ProcessId} (started {holder.Started}), which is no longer running.");
        }
        throw new RunFolderException($"{path}: could not lock the folder; other runs keep starting in it.");
    }

    /// <summary>Moves a stale lock aside; true when the moved file was the stale lock judged (not a new one that replaced it).</summary>
    private static bool TakeOver(string lockPath, string staleContent)
    {
        string aside = $"{lockPath}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            File.Move(lockPath, aside, overwrite: false);
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        if (File.ReadAllText(aside) == staleContent)
        {
            File.Delete(aside);
            return true;
        }
        // Another process took the stale lock over first and this moved its live lock: put it back.
        File.Move(aside, lockPath, overwrite: false);
        return false;
    }

    private static string LockContent()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("pid", Environment.ProcessId);
            writer.WriteString("host", Environment.MachineName);
            writer.WriteString("started", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture));
            writer.WriteNumber("process_start_ticks", LockHolder.ProcessStartTicks(Environment.ProcessId) ?? 0);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>Releases the lock (deletes the lock file if it is still this process's).</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        try
        {
            if (File.ReadAllText(LockPath) == _lockContent)
                File.Delete(LockPath);
        }
        catch (IOException)
        {
            // Already gone or unreadable: nothing of ours to release.
        }
    }

    /// <summary>The process a lock file names.</summary>
    private sealed record LockHolder(int ProcessId, string Host, string Started, long StartTicks)
    {
        public bool IsThisHost => string.Equals(Host, Environment.MachineName, StringComparison.Ordinal);

        public static LockHolder? Parse(string content)
        {
            try
            {
                using var document = JsonDocument.Parse(content);
                var root = document.RootElement;
                return new LockHolder(root.GetProperty("pid").GetInt32(), root.GetProperty("host").GetString() ?? "",
                    root.GetProperty("started").GetString() ?? "", root.GetProperty("process_start_ticks").GetInt64());
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                return null;
            }
        }

        /// <summary>The PID runs and started when the lock's process did (a reused PID is another process).</summary>
        public bool IsAlive() => ProcessStartTicks(ProcessId) is long ticks
            && (StartTicks == 0 || Math.Abs(ticks - StartTicks) < TimeSpan.TicksPerSecond);

        /// <summary>When process <paramref name="processId"/> started (UTC ticks); null when no such process runs.</summary>
        public static long? ProcessStartTicks(int processId)
        {
            try
            {
                using var process = Process.GetProcessById(processId);
                return process.HasExited || IsZombie(processId) ? null : process.StartTime.ToUniversalTime().Ticks;
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
            {
                return null;
            }
        }

        /// <summary>
        /// Linux: the process has exited and waits to be reaped (state Z in /proc/PID/stat). A rank that mpirun killed
        /// stays so until init reaps it, and must not keep its run folder locked meanwhile.
        /// </summary>
        private static bool IsZombie(int processId)
        {
            try
            {
                string stat = File.ReadAllText($"/proc/{processId}/stat");
                int end = stat.LastIndexOf(')');
                return end > 0 && end + 2 < stat.Length && stat[end + 2] is 'Z' or 'X';
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        }
    }
}
