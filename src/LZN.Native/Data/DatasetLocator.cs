namespace LZN.Native.Data;

/// <summary>Where a dataset folder was found.</summary>
public enum DatasetOrigin
{
    ExplicitPath,
    EnvironmentVariable,
    UserCache,
    SystemFolder,
    Downloaded,
}

public sealed record DatasetLocation(string Folder, DatasetOrigin Origin);

/// <summary>
/// Finds an MNIST-style dataset folder by name. Search order: an explicit path (authoritative: if given it
/// must hold the files), then $LZN_DATA/&lt;name&gt; and $LZN_DATA itself, then the per-user cache
/// ($XDG_CACHE_HOME/lzn/datasets/&lt;name&gt;, else ~/.cache/lzn/datasets/&lt;name&gt;), then a system folder
/// (/usr/share/datasets/&lt;name&gt;, where Debian's dataset packages install). A folder counts only when all
/// four MNIST-style files are in it.
/// </summary>
public sealed class DatasetLocator
{
    public const string DataEnvironmentVariable = "LZN_DATA";

    private readonly Func<string, string?> _environment;

    /// <param name="datasetName">Folder name under the data roots, e.g. "fashion-mnist".</param>
    /// <param name="systemFolder">The system-wide folder, or null for none.</param>
    /// <param name="environment">Reads environment variables (tests pass their own).</param>
    public DatasetLocator(string datasetName, string? systemFolder, Func<string, string?>? environment = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(datasetName);
        DatasetName = datasetName;
        SystemFolder = systemFolder;
        _environment = environment ?? Environment.GetEnvironmentVariable;
        UserCacheFolder = Path.Combine(UserCacheRoot(), "lzn", "datasets", datasetName);
    }

    public string DatasetName { get; }

    public string? SystemFolder { get; }

    /// <summary>The per-user cache folder, where downloads go.</summary>
    public string UserCacheFolder { get; }

    /// <summary>Every folder searched, in order.</summary>
    public IReadOnlyList<DatasetLocation> Candidates(string? explicitPath)
    {
        var candidates = new List<DatasetLocation>();
        if (!string.IsNullOrEmpty(explicitPath))
            candidates.Add(new DatasetLocation(Path.GetFullPath(explicitPath), DatasetOrigin.ExplicitPath));
        string? dataRoot = _environment(DataEnvironmentVariable);
        if (!string.IsNullOrEmpty(dataRoot))
        {
            candidates.Add(new DatasetLocation(Path.GetFullPath(Path.Combine(dataRoot, DatasetName)), DatasetOrigin.EnvironmentVariable));
            candidates.Add(new DatasetLocation(Path.GetFullPath(dataRoot), DatasetOrigin.EnvironmentVariable));
        }
        candidates.Add(new DatasetLocation(UserCacheFolder, DatasetOrigin.UserCache));
        if (!string.IsNullOrEmpty(SystemFolder))
            candidates.Add(new DatasetLocation(SystemFolder, DatasetOrigin.SystemFolder));
        return candidates;
    }

    /// <summary>The first complete folder, or null; an explicit path that is incomplete is an error, not skipped.</summary>
    public DatasetLocation? Find(string? explicitPath)
    {
        foreach (var candidate in Candidates(explicitPath))
        {
            if (MnistFolder.IsComplete(candidate.Folder))
                return candidate;
            if (candidate.Origin == DatasetOrigin.ExplicitPath)
                throw new DirectoryNotFoundException(MissingFilesMessage(candidate.Folder));
        }
        return null;
    }

    /// <summary>Like <see cref="Find"/>, but a missing dataset is an error that lists every place searched.</summary>
    public DatasetLocation Locate(string? explicitPath) =>
        Find(explicitPath) ?? throw new DirectoryNotFoundException(NotFoundMessage(explicitPath));

    /// <summary>Finds the dataset, or downloads it into the per-user cache when it is nowhere.</summary>
    public async Task<DatasetLocation> LocateOrDownloadAsync(
        string? explicitPath, DatasetDownloader downloader, IReadOnlyList<DatasetFile> files, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(downloader);
        if (Find(explicitPath) is { } found)
            return found;
        await downloader.DownloadAsync(files, UserCacheFolder, cancellationToken).ConfigureAwait(false);
        return new DatasetLocation(UserCacheFolder, DatasetOrigin.Downloaded);
    }

    private string UserCacheRoot()
    {
        string? xdg = _environment("XDG_CACHE_HOME");
        // The XDG spec says a relative value is invalid and must be ignored.
        if (!string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg))
            return xdg;
        if (OperatingSystem.IsWindows())
            return Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        string? home = _environment("HOME");
        if (string.IsNullOrEmpty(home))
            home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".cache");
    }

    private static string MissingFilesMessage(string folder)
    {
        var missing = MnistFolder.FileStems.Where(stem => MnistFolder.FindFile(folder, stem) is null);
        return $"{folder}: not a complete MNIST-style folder; missing {string.Join(", ", missing)} (raw or .gz).";
    }

    private string NotFoundMessage(string? explicitPath)
    {
        var searched = Candidates(explicitPath).Select(c => $"  {c.Folder} ({c.Origin})");
        return $"The {DatasetName} dataset was not found. Searched:{Environment.NewLine}{string.Join(Environment.NewLine, searched)}"
            + $"{Environment.NewLine}Set ${DataEnvironmentVariable}, pass a folder, or allow the download into {UserCacheFolder}.";
    }
}
