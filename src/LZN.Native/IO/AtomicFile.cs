using System.Diagnostics;
using System.Globalization;

namespace LZN.Native.IO;

/// <summary>
/// Writes a file through a temporary sibling and a rename, so a reader (or a crash) sees either the old
/// complete file or the new complete file, never a half-written one. A failed write removes its temporary
/// file and leaves any existing file untouched.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> writeContent)
    {
        ArgumentNullException.ThrowIfNull(writeContent);
        string fullPath = Path.GetFullPath(path);
        string temporary = TemporaryPath(fullPath);
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                writeContent(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    public static async Task WriteAsync(string path, Func<Stream, CancellationToken, Task> writeContent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(writeContent);
        string fullPath = Path.GetFullPath(path);
        string temporary = TemporaryPath(fullPath);
        try
        {
            var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16, useAsync: true);
            await using (stream.ConfigureAwait(false))
            {
                await writeContent(stream, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// Deletes the temporary siblings of <paramref name="path"/> whose writer process is gone: a process killed
    /// mid-write (a second Ctrl-C, SIGKILL) never runs its cleanup. Temporaries of live processes are kept, since
    /// they may still be writing. Returns the number deleted.
    /// </summary>
    public static int RemoveAbandonedTemporaries(string path)
    {
        string fullPath = Path.GetFullPath(path);
        string? folder = Path.GetDirectoryName(fullPath);
        return string.IsNullOrEmpty(folder) ? 0 : RemoveAbandonedTemporariesIn(folder, Path.GetFileName(fullPath));
    }

    /// <summary>
    /// Deletes every temporary file in <paramref name="folder"/> (of any target whose name starts with
    /// <paramref name="namePrefix"/>) whose writer process is gone; returns the number deleted.
    /// </summary>
    public static int RemoveAbandonedTemporariesIn(string folder, string namePrefix = "")
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!Directory.Exists(folder))
            return 0;
        int removed = 0;
        foreach (string candidate in Directory.EnumerateFiles(folder, namePrefix + "*.tmp-*"))
        {
            string name = Path.GetFileName(candidate);
            int marker = name.LastIndexOf(".tmp-", StringComparison.Ordinal);
            if (WriterProcessId(name.AsSpan(marker + ".tmp-".Length)) is int writer && !IsRunning(writer))
            {
                File.Delete(candidate);
                removed++;
            }
        }
        return removed;
    }

    /// <summary>The PID in a "PID-GUID" suffix written by <see cref="TemporaryPath"/>; null for any other name.</summary>
    private static int? WriterProcessId(ReadOnlySpan<char> suffix)
    {
        int dash = suffix.IndexOf('-');
        return dash > 0 && suffix.Length - dash - 1 == 32 && Guid.TryParseExact(suffix[(dash + 1)..], "N", out _)
            && int.TryParse(suffix[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out int processId)
            ? processId
            : null;
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>A unique name beside the target (same folder, so the rename stays on one file system).</summary>
    private static string TemporaryPath(string fullPath)
    {
        string? folder = Path.GetDirectoryName(fullPath);
        if (!string.IsNullOrEmpty(folder))
            Directory.CreateDirectory(folder);
        string suffix = string.Create(CultureInfo.InvariantCulture, $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        return fullPath + suffix;
    }
}
