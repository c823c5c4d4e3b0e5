using System.Diagnostics;
using System.Text.Json;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// Run folders: one run at a time (a lock file naming PID and host; a dead holder's lock is taken over), a folder
/// holding a run is never overwritten unless asked, and temporaries killed writers left are removed on start.
/// </summary>
public class RunFolderTests
{
    private string _folder = "";
    private readonly List<string> _notices = [];

    [SetUp]
    public void CreateFolder()
    {
        _folder = Path.Combine(TrainingFixtures.TemporaryFolder("lzn-runfolder-"), "run");
        _notices.Clear();
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(Path.GetDirectoryName(_folder)!, recursive: true);

    private RunFolder Open(RunFolderMode mode = RunFolderMode.New) => RunFolder.Open(_folder, mode, _notices.Add);

    private string LockPath => Path.Combine(_folder, RunFolder.LockFileName);

    /// <summary>The PID of a process that has exited (a real one: started, waited for).</summary>
    private static int DeadProcessId()
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.Id;
    }

    private void WriteLock(int processId, string host, long startTicks)
    {
        Directory.CreateDirectory(_folder);
        File.WriteAllText(LockPath, LockJson(processId, host, startTicks));
    }

    private static string LockJson(int processId, string host, long startTicks)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteNumber("pid", processId);
            writer.WriteString("host", host);
            writer.WriteString("started", "2025-01-01 00:00:00 UTC");
            writer.WriteNumber("process_start_ticks", startTicks);
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    [Test]
    public void TheLockNamesThisProcessAndIsReleasedOnDispose()
    {
        using (var folder = Open())
        {
            using var document = JsonDocument.Parse(File.ReadAllText(LockPath));
            Assert.That(document.RootElement.GetProperty("pid").GetInt32(), Is.EqualTo(Environment.ProcessId));
            Assert.That(document.RootElement.GetProperty("host").GetString(), Is.EqualTo(Environment.MachineName));
        }
        Assert.That(File.Exists(LockPath), Is.False);
    }

    [Test]
    public void ASecondRunIntoAHeldFolderIsRefused()
    {
        using var first = Open();
        var error = Assert.Throws<RunFolderException>(() => Open());
        Assert.That(error!.Message, Does.StartWith(_folder).And.Contain($"in use by another run (process {Environment.ProcessId}"));
        Assert.That(File.Exists(LockPath), Is.True, "the refused run leaves the holder's lock alone");
    }

    [Test]
    public void TheLockOfADeadProcessIsTakenOverWithANotice()
    {
        int dead = DeadProcessId();
        WriteLock(dead, Environment.MachineName, DateTime.UtcNow.Ticks);

        using var folder = Open();

        Assert.That(_notices, Has.One.Contains($"took over the lock of process {dead}").And.Contains("no longer running"));
        Assert.That(File.ReadAllText(LockPath), Does.Contain($"\"pid\": {Environment.ProcessId}"));
    }

    [Test]
    public void ALiveProcessIdThatStartedAtAnotherTimeIsAReusedIdAndStale()
    {
        WriteLock(Environment.ProcessId, Environment.MachineName, new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks);

        using var folder = Open();

        Assert.That(_notices, Has.One.Contains("took over the lock"));
    }

    [Test]
    public void ALockFromAnotherHostIsRefusedWithWhatToDo()
    {
        WriteLock(12345, "another-host", 1);
        var error = Assert.Throws<RunFolderException>(() => Open());
        Assert.That(error!.Message, Does.Contain("locked by process 12345 on host another-host").And.Contain($"delete {LockPath}"));
    }

    [Test]
    public void ALockFileLznDidNotWriteIsRefused()
    {
        Directory.CreateDirectory(_folder);
        File.WriteAllText(LockPath, "mine");
        Assert.That(() => Open(), Throws.TypeOf<RunFolderException>().With.Message.Contains("is not a lock file lzn wrote"));
    }

    [Test]
    public void AFolderHoldingARunIsRefusedUnlessResumedOrOverwritten()
    {
        Directory.CreateDirectory(_folder);
        string metrics = Path.Combine(_folder, JointTrainer.MetricsFileName), summary = Path.Combine(_folder, RunOutputs.SummaryFileName);
        File.WriteAllText(metrics, "{\"kind\":\"step\",\"step\":1}\n");
        File.WriteAllText(summary, "{}");
        string unrelated = Path.Combine(_folder, "notes.txt");
        File.WriteAllText(unrelated, "mine");

        var error = Assert.Throws<RunFolderException>(() => Open());
        Assert.That(error!.Message, Does.Contain("already holds a finished run (metrics.jsonl, summary.json)").And.Contain("--resume").And.Contain("--overwrite"));
        Assert.That(File.ReadAllText(metrics), Does.Contain("\"step\":1"), "a refused run changes nothing");
        Assert.That(File.Exists(LockPath), Is.False, "a refused run releases its lock");

        Assert.That(() => Open(RunFolderMode.Resume), Throws.TypeOf<RunFolderException>().With.Message.Contains("no checkpoint.safetensors to resume from"));

        using (Open(RunFolderMode.Overwrite))
        {
            Assert.That(File.Exists(metrics) || File.Exists(summary), Is.False);
            Assert.That(File.ReadAllText(unrelated), Is.EqualTo("mine"), "only the run's own files go");
            Assert.That(_notices, Has.One.Contains("--overwrite removed a finished run"));
        }
    }

    [Test]
    public void TemporariesOfDeadWritersAreRemovedAndLiveOnesKept()
    {
        Directory.CreateDirectory(_folder);
        int dead = DeadProcessId();
        string abandoned = Path.Combine(_folder, $"samples.png.tmp-{dead}-{Guid.NewGuid():N}");
        string abandonedCheckpoint = Path.Combine(_folder, $"checkpoint.safetensors.tmp-{dead}-{Guid.NewGuid():N}");
        string live = Path.Combine(_folder, $"summary.json.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        foreach (string path in new[] { abandoned, abandonedCheckpoint, live })
            File.WriteAllBytes(path, [1]);

        using var folder = Open();

        Assert.That((File.Exists(abandoned), File.Exists(abandonedCheckpoint), File.Exists(live)), Is.EqualTo((false, false, true)));
        Assert.That(_notices, Has.One.Contains("removed 2 temporary file(s)"));
    }
}
