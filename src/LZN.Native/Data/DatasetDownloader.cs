using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using LZN.Native.IO;

namespace LZN.Native.Data;

/// <summary>One file of a published dataset and the MD5 sum its publisher lists.</summary>
public sealed record DatasetFile(string FileName, string Md5);

/// <summary>A download that failed or did not match its published checksum; names the URL and the fault.</summary>
public sealed class DatasetDownloadException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// Downloads dataset files into a folder. Each file streams into a temporary file beside its target while its
/// MD5 is computed; only a file whose sum matches the published one is renamed into place, so an interrupted
/// or corrupt download leaves nothing behind. Files already present with the right sum are kept.
/// </summary>
public sealed class DatasetDownloader(HttpClient client, Uri baseUri, Action<string>? log = null)
{
    public Uri BaseUri { get; } = baseUri;

    public async Task DownloadAsync(IReadOnlyList<DatasetFile> files, string folder, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(files);
        Directory.CreateDirectory(folder);
        foreach (var file in files)
        {
            string target = Path.Combine(folder, file.FileName);
            if (File.Exists(target) && string.Equals(await Md5OfFileAsync(target, cancellationToken).ConfigureAwait(false), file.Md5, StringComparison.OrdinalIgnoreCase))
            {
                log?.Invoke($"{target}: present, MD5 verified.");
                continue;
            }
            var url = new Uri(BaseUri, file.FileName);
            log?.Invoke($"Downloading {url} -> {target}");
            await AtomicFile.WriteAsync(target, (stream, token) => CopyVerifiedAsync(url, file.Md5, stream, token), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task CopyVerifiedAsync(Uri url, string expectedMd5, Stream destination, CancellationToken cancellationToken)
    {
        using var hash = CreateMd5();
        try
        {
            using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw new DatasetDownloadException($"{url}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}.");
            var source = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (source.ConfigureAwait(false))
            {
                var buffer = new byte[1 << 16];
                int read;
                while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (HttpRequestException ex)
        {
            throw new DatasetDownloadException($"{url}: download failed ({ex.Message}).", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // HttpClient reports its own timeout as a cancellation nobody asked for.
            throw new DatasetDownloadException($"{url}: no complete answer within {client.Timeout.TotalSeconds:0.#} s.", ex);
        }
        string actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (!string.Equals(actual, expectedMd5, StringComparison.OrdinalIgnoreCase))
            throw new DatasetDownloadException($"{url}: MD5 mismatch (expected {expectedMd5}, got {actual}); the file was discarded.");
    }

    /// <summary>The lowercase hex MD5 of a file.</summary>
    public static async Task<string> Md5OfFileAsync(string path, CancellationToken cancellationToken = default)
    {
        var stream = File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            using var hash = CreateMd5();
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                hash.AppendData(buffer, 0, read);
            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }
    }

    [SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Primitives",
        Justification = "MD5 checks integrity against the sums the dataset publishers list; it guards against corruption, not tampering.")]
    private static IncrementalHash CreateMd5() => IncrementalHash.CreateHash(HashAlgorithmName.MD5);
}
