using LZN.Native.Backends.Cpu;
using LZN.Native.Data;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>
/// The joint task learns real data: the "tiny" preset on the first 3,000 Fashion-MNIST training images for two epochs
/// (CPU, ~30 s on 2 busy cores) classifies the first 1,000 test images far above chance (10%). The measured accuracy of
/// this exact run is 59.7% (4x chance); the bound 40% leaves room for other BLAS builds' rounding.
/// </summary>
public class FashionMnistTrainingTests
{
    private const double RequiredAccuracy = 0.4;

    [Test]
    public void AShortCpuRunOnASubsetClassifiesWellAboveChance()
    {
        var location = FashionMnist.Locator().Locate(null);
        var (train, test) = MnistFolder.Load(location.Folder);
        train = train.Take(3000);
        test = test.Take(1000);
        string folder = TrainingFixtures.TemporaryFolder("lzn-fashion-");
        try
        {
            using var backend = new CpuBackend();
            var tiny = TrainingConfig.FromPreset("tiny");
            var config = tiny with { Schedule = tiny.Schedule with { Epochs = 2, CheckpointEvery = 0 }, Data = tiny.Data with { Source = FashionMnist.Name, TrainLimit = 3000 } };
            using var trainer = new JointTrainer(backend, config, train, test, folder);
            var result = trainer.Run(CancellationToken.None);
            TestContext.Out.WriteLine($"test accuracy {result.TestAccuracy:F4} after {result.Step} steps, {result.WallSeconds:F1} s");
            Assert.That(result.Completed, Is.True);
            Assert.That(result.TestAccuracy, Is.GreaterThan(RequiredAccuracy));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
