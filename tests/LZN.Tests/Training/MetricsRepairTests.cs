using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>metrics.jsonl repair before a resume: lines past the checkpoint and a torn last line go, a bad middle line is named.</summary>
public class MetricsRepairTests
{
    private const string Step1 = "{\"kind\":\"step\",\"step\":1,\"loss\":2.5}\n";
    private const string Step2 = "{\"kind\":\"step\",\"step\":2,\"loss\":2.25}\n";
    private const string Epoch0 = "{\"kind\":\"epoch\",\"epoch\":0,\"step\":2,\"mean_loss\":2.4}\n";
    private const string Step3 = "{\"kind\":\"step\",\"step\":3,\"loss\":2.125}\n";
    private const string Step4 = "{\"kind\":\"step\",\"step\":4,\"loss\":2}\n";

    private string _folder = "";
    private string _path = "";

    [SetUp]
    public void CreateFolder()
    {
        _folder = TrainingFixtures.TemporaryFolder("lzn-metrics-");
        _path = Path.Combine(_folder, JointTrainer.MetricsFileName);
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void LinesPastTheStepAndATornLastLineAreDroppedAndTheRestKeptByteForByte()
    {
        File.WriteAllText(_path, Step1 + Step2 + Epoch0 + Step3 + Step4 + "{\"kind\":\"step\",\"st");

        var result = MetricsRepair.TrimToStep(_path, 2);

        Assert.That(result, Is.EqualTo(new MetricsRepairResult(KeptLines: 3, DroppedLines: 2, DroppedTornLine: true)));
        Assert.That(File.ReadAllText(_path), Is.EqualTo(Step1 + Step2 + Epoch0));
        Assert.That(Directory.GetFiles(_folder), Has.Length.EqualTo(1), "no temporary file is left behind");
    }

    [Test]
    public void AFileThatAlreadyEndsAtTheStepIsNotRewritten()
    {
        File.WriteAllText(_path, Step1 + Step2 + Epoch0);
        var written = new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(_path, written);

        var result = MetricsRepair.TrimToStep(_path, 2);

        Assert.That(result, Is.EqualTo(new MetricsRepairResult(KeptLines: 3, DroppedLines: 0, DroppedTornLine: false)));
        Assert.That(result.Changed, Is.False);
        Assert.That(File.GetLastWriteTimeUtc(_path), Is.EqualTo(written));
        Assert.That(File.ReadAllText(_path), Is.EqualTo(Step1 + Step2 + Epoch0));
    }

    [Test]
    public void AMissingFileStaysMissing()
    {
        Assert.That(MetricsRepair.TrimToStep(_path, 5), Is.EqualTo(default(MetricsRepairResult)));
        Assert.That(File.Exists(_path), Is.False);
    }

    [Test]
    public void InvalidJsonInTheMiddleIsAnErrorNamingTheFileAndLineAndChangesNothing()
    {
        string content = Step1 + "{\"kind\":\"step\",\"step\":2,\"lo\n" + Step3;
        File.WriteAllText(_path, content);

        var error = Assert.Throws<MetricsFormatException>(() => MetricsRepair.TrimToStep(_path, 1));

        Assert.That(error.Line, Is.EqualTo(2));
        Assert.That(error.FilePath, Is.EqualTo(_path));
        Assert.That(error.Message, Does.StartWith($"{_path}:2: not valid JSON"));
        Assert.That(File.ReadAllText(_path), Is.EqualTo(content));
    }

    [TestCase("[1,2]\n")]
    [TestCase("{\"kind\":\"step\",\"loss\":2}\n")]
    [TestCase("{\"kind\":\"step\",\"step\":\"3\"}\n")]
    [TestCase("{\"kind\":\"step\",\"step\":3.5}\n")]
    public void ALineWithoutAnIntegerStepIsAnError(string line)
    {
        File.WriteAllText(_path, Step1 + line);

        var error = Assert.Throws<MetricsFormatException>(() => MetricsRepair.TrimToStep(_path, 1));

        Assert.That(error.Message, Is.EqualTo($"{_path}:2: not a metrics object with an integer \"step\"."));
    }
}
