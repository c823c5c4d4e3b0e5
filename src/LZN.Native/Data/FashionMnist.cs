namespace LZN.Native.Data;

/// <summary>
/// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60,000 training and 10,000 test images, 28x28 grayscale,
/// 10 classes. Files and MD5 sums as published in the zalandoresearch/fashion-mnist README.
/// </summary>
public static class FashionMnist
{
    public const string Name = "fashion-mnist";

    /// <summary>Where Debian's dataset-fashion-mnist package installs the files.</summary>
    public const string SystemFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>The official mirror listed in the dataset's README.</summary>
    public static readonly Uri OfficialMirror = new("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/");

    /// <summary>
    /// The published gzip files and their MD5 sums. Only downloads are checked against these: repackaged
    /// copies (Debian's files are recompressed) carry other sums for their .gz bytes.
    /// </summary>
    public static readonly IReadOnlyList<DatasetFile> Files =
    [
        new("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        new("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        new("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        new("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ];

    public static readonly IReadOnlyList<string> ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>A locator for Fashion-MNIST with the standard search order.</summary>
    public static DatasetLocator Locator(Func<string, string?>? environment = null) => new(Name, SystemFolder, environment);
}
