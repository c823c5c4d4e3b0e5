namespace LZN.Native.Data;

/// <summary>
/// Turns the value of a <c>--data</c> option into train and test splits: "fashion-mnist" (searched with
/// <see cref="DatasetLocator"/>, downloaded into the user cache when allowed and found nowhere),
/// "synthetic" (<see cref="SyntheticImages"/>: 28x28 grayscale, 10 classes, 2048 train + 512 test), or
/// any other value as a folder of MNIST-style files.
/// </summary>
public static class DataSources
{
    public const string Synthetic = "synthetic";

    public static readonly ImageShape SyntheticShape = new(28, 28, 1);

    /// <param name="data">"fashion-mnist", "synthetic" or a folder.</param>
    /// <param name="explicitFolder">For "fashion-mnist": a folder searched before all others (and required to be complete).</param>
    /// <param name="download">For "fashion-mnist": the downloader to use when the files are nowhere; null forbids downloading.</param>
    /// <param name="classCount">
    /// The classes labels must lie in (a model's): for a folder, null infers them from the training labels
    /// (<see cref="MnistFolder"/>); Fashion-MNIST and the synthetic data have 10, and a different count is refused.
    /// </param>
    public static async Task<(ImageDataset Train, ImageDataset Test)> LoadAsync(
        string data, string? explicitFolder = null, DatasetDownloader? download = null, int? classCount = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(data);
        if ((data == Synthetic || data == FashionMnist.Name) && classCount is int count && count != FashionMnist.ClassNames.Count)
            throw new ArgumentException($"{data} has {FashionMnist.ClassNames.Count} classes, not {count}.");
        if (data == Synthetic)
        {
            return (SyntheticImages.Generate(2048, classCount: 10, SyntheticShape, seed: 1),
                SyntheticImages.Generate(512, classCount: 10, SyntheticShape, seed: 2));
        }
        if (data == FashionMnist.Name)
        {
            var locator = FashionMnist.Locator();
            var location = download is null
                ? locator.Locate(explicitFolder)
                : await locator.LocateOrDownloadAsync(explicitFolder, download, FashionMnist.Files, cancellationToken).ConfigureAwait(false);
            return MnistFolder.Load(location.Folder, FashionMnist.ClassNames.Count);
        }
        if (!Directory.Exists(data))
            throw new DirectoryNotFoundException($"--data {data}: not '{FashionMnist.Name}', not '{Synthetic}', and no such folder.");
        if (!MnistFolder.IsComplete(data))
        {
            throw new DirectoryNotFoundException(
                $"{data}: not a complete MNIST-style folder; it needs {string.Join(", ", MnistFolder.FileStems)} (raw or .gz).");
        }
        return MnistFolder.Load(data, classCount);
    }
}
