using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using LZN.Native.Backends;
using LZN.Native.Data;

namespace LZN.Native.Metrics;

/// <summary>
/// Trained feature classifiers kept on disk so Frechet-distance runs reuse one network: the file
/// "{folder}/{id}.safetensors", where id = "{datasetId}-" + the first 16 hex digits of SHA-256 over the architecture,
/// the recipe, the seed and a SHA-256 of the training images and labels. Any change to one of them trains a new
/// network under a new id. Files are written atomically (a temporary file, then a rename).
/// </summary>
public static class FeatureClassifierCache
{
    /// <summary>$XDG_CACHE_HOME/lzn/classifiers when XDG_CACHE_HOME is absolute, else ~/.cache/lzn/classifiers (%LOCALAPPDATA%\lzn\classifiers on Windows).</summary>
    public static string DefaultFolder(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        string? xdg = environment("XDG_CACHE_HOME");
        string root;
        if (!string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg))
            root = xdg;
        else if (OperatingSystem.IsWindows())
            root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        else
            root = Path.Combine(environment("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "lzn", "classifiers");
    }

    /// <summary>The id (and file stem) of the classifier these inputs train.</summary>
    public static string Key(string datasetId, ImageDataset dataset, FeatureClassifierOptions options, ulong seed)
    {
        ArgumentException.ThrowIfNullOrEmpty(datasetId);
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        if (datasetId.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw new ArgumentException($"dataset id '{datasetId}' may hold only ASCII letters, digits, '-', '_' and '.'.", nameof(datasetId));
        using var dataHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        dataHash.AppendData(MemoryMarshal.AsBytes(dataset.Images.AsSpan()));
        dataHash.AppendData(MemoryMarshal.AsBytes(dataset.Labels.AsSpan()));
        string data = Convert.ToHexStringLower(dataHash.GetHashAndReset());
        string description = $"{FeatureClassifier.FormatTag};{options.ConfigFor(dataset).Describe()};{options.DescribeRecipe()};seed={seed};data={data}";
        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(description));
        return $"{datasetId}-{Convert.ToHexStringLower(digest.AsSpan(0, 8))}";
    }

    /// <summary>
    /// The cached classifier for these inputs, or a newly trained one (then saved into <paramref name="folder"/>,
    /// the default folder when null). A cached file whose id does not match its name is an error, not retrained over.
    /// </summary>
    public static FeatureClassifier GetOrTrain(IBackend backend, string datasetId, ImageDataset dataset, FeatureClassifierOptions options, ulong seed,
        string? folder = null, IProgress<EpochSummary>? progress = null)
    {
        string id = Key(datasetId, dataset, options, seed);
        string path = Path.Combine(folder ?? DefaultFolder(), id + ".safetensors");
        if (File.Exists(path))
        {
            var cached = FeatureClassifier.Load(backend, path);
            if (cached.Id == id)
                return cached;
            cached.Dispose();
            throw new InvalidDataException($"{path}: holds classifier '{cached.Id}', not '{id}'.");
        }
        var trained = FeatureClassifier.Train(backend, dataset, options, seed, datasetId, progress);
        try
        {
            trained.Save(path, FeatureClassifier.Provenance(dataset, options, seed));
            return trained;
        }
        catch
        {
            trained.Dispose();
            throw;
        }
    }
}
