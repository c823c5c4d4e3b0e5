namespace LZN.Native.Data;

/// <summary>Which half of an MNIST-style folder to read.</summary>
public enum DatasetSplit
{
    Train,
    Test,
}

/// <summary>
/// Reads a folder of MNIST-style files: train-images-idx3-ubyte, train-labels-idx1-ubyte,
/// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or with a .gz suffix. Any image size works.
/// The classes are 0..K-1: K is given by the caller (the dataset's known class count, or a model's), and every label
/// must lie below it; when not given, K is the largest training label + 1 and every class must have a training image,
/// so one stray label (a corrupt byte) is refused instead of silently adding classes no image teaches.
/// </summary>
public static class MnistFolder
{
    public static readonly IReadOnlyList<string> FileStems =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>True when every one of the four files is present (raw or .gz).</summary>
    public static bool IsComplete(string folder) => FileStems.All(stem => FindFile(folder, stem) is not null);

    /// <summary>Loads both splits; the test split shares the training split's class count.</summary>
    public static (ImageDataset Train, ImageDataset Test) Load(string folder, int? classCount = null)
    {
        var train = Load(folder, DatasetSplit.Train, classCount);
        var test = Load(folder, DatasetSplit.Test, train.ClassCount);
        if (test.Shape != train.Shape)
            throw new IdxFormatException(folder, $"training images are {train.Shape} but test images are {test.Shape}.");
        return (train, test);
    }

    public static ImageDataset Load(string folder, DatasetSplit split, int? classCount = null)
    {
        string prefix = split == DatasetSplit.Train ? "train" : "t10k";
        string imagePath = RequireFile(folder, $"{prefix}-images-idx3-ubyte");
        string labelPath = RequireFile(folder, $"{prefix}-labels-idx1-ubyte");
        var images = IdxFile.ReadImages(imagePath);
        if (images.Count == 0)
            throw new IdxFormatException(imagePath, $"holds no images; the {split.ToString().ToLowerInvariant()} split needs at least one.");
        byte[] labels = IdxFile.ReadLabels(labelPath);
        if (labels.Length != images.Count)
            throw new IdxFormatException(labelPath, $"holds {labels.Length} labels but {imagePath} holds {images.Count} images.");
        if (classCount is int known)
        {
            int outside = Array.FindIndex(labels, label => label >= known);
            if (outside >= 0)
                throw new IdxFormatException(labelPath, $"label {labels[outside]} at index {outside} is outside the classes [0, {known}).");
        }
        else
        {
            RequireEveryClass(labels, labelPath);
        }
        var shape = new ImageShape(images.Height, images.Width, Channels: 1);
        return ImageDataset.FromBytes(imagePath, shape, images.Pixels, labels, classCount);
    }

    /// <summary>Every class below the largest label has a training image; else the largest label is probably damage.</summary>
    private static void RequireEveryClass(byte[] labels, string labelPath)
    {
        int largest = labels.Max();
        var seen = new bool[largest + 1];
        foreach (byte label in labels)
            seen[label] = true;
        int missing = Array.IndexOf(seen, false);
        if (missing >= 0)
        {
            int at = Array.IndexOf(labels, (byte)largest);
            throw new IdxFormatException(labelPath,
                $"label {largest} (index {at}) implies {largest + 1} classes, but class {missing} has no image; if the dataset really has {largest + 1} classes, say so (lzn train --classes {largest + 1}).");
        }
    }

    /// <summary>The raw file if present, else the .gz one, else null.</summary>
    public static string? FindFile(string folder, string stem)
    {
        string raw = Path.Combine(folder, stem);
        if (File.Exists(raw))
            return raw;
        string compressed = raw + ".gz";
        return File.Exists(compressed) ? compressed : null;
    }

    private static string RequireFile(string folder, string stem) =>
        FindFile(folder, stem) ?? throw new FileNotFoundException($"{folder}: neither {stem} nor {stem}.gz is there.", Path.Combine(folder, stem));
}
