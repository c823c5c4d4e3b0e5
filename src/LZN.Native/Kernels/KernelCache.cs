using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using LZN.Native.IO;

namespace LZN.Native.Kernels;

/// <summary>
/// A per-user on-disk cache of compiled kernel images. The key is the SHA-256 of everything that
/// decides the output (source, every header, options, NVRTC version, target); an entry is
/// [magic, format version, key, payload length, SHA-256 of payload, payload], written to a temporary
/// file and renamed into place. A read that fails any check is a miss: the caller recompiles and the
/// entry is rewritten, so a corrupt or stale file is never trusted.
/// </summary>
public sealed class KernelCache
{
    private static readonly byte[] Magic = "LZNKCACH"u8.ToArray();
    private const int FormatVersion = 1;
    private const int HeaderBytes = 8 + 4 + 32 + 8 + 32;

    private long _hits;
    private long _misses;
    private long _rejected;

    public KernelCache(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        Folder = folder;
    }

    public string Folder { get; }

    /// <summary>Reads that returned a valid entry.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Reads that found no usable entry (absent or rejected).</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Entries present on disk but failing validation (corrupt, truncated, or for another key).</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>
    /// The cache folder: LZN_KERNEL_CACHE, else $XDG_CACHE_HOME/lzn/kernels, else ~/.cache/lzn/kernels
    /// (LocalApplicationData\lzn\kernels on Windows).
    /// </summary>
    public static string DefaultFolder()
    {
        string? explicitFolder = Environment.GetEnvironmentVariable("LZN_KERNEL_CACHE");
        if (!string.IsNullOrWhiteSpace(explicitFolder))
            return explicitFolder;
        if (OperatingSystem.IsWindows())
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "lzn", "kernels");
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrWhiteSpace(xdg))
            return Path.Combine(xdg, "lzn", "kernels");
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "lzn", "kernels");
    }

    /// <summary>SHA-256 over length-prefixed fields, so no two inputs share a byte stream.</summary>
    public static byte[] Key(string fileName, string source, IReadOnlyDictionary<string, string> headers,
        IReadOnlyList<string> options, string nvrtcVersion, KernelTarget target)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string field)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(field);
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(length, bytes.Length);
            hash.AppendData(length);
            hash.AppendData(bytes);
        }

        Add($"lzn-kernel-cache/{FormatVersion}");
        Add(fileName);
        Add(source);
        foreach (var header in headers.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            Add(header.Key);
            Add(header.Value);
        }
        foreach (string option in options)
            Add(option);
        Add(nvrtcVersion);
        Add(target.ToString());
        return hash.GetHashAndReset();
    }

    /// <summary>Where the entry for a key lives.</summary>
    public string EntryPath(ReadOnlySpan<byte> key, KernelTarget target) =>
        Path.Combine(Folder, $"{Convert.ToHexStringLower(key)}.{(target.Kind == KernelImageKind.Cubin ? "cubin" : "ptx")}");

    /// <summary>The cached image for a key, or a fresh one from <paramref name="compile"/> (then stored).</summary>
    public byte[] GetOrAdd(byte[] key, KernelTarget target, Func<byte[]> compile)
    {
        string path = EntryPath(key, target);
        if (TryRead(path, key, out byte[]? payload))
        {
            Interlocked.Increment(ref _hits);
            return payload;
        }
        Interlocked.Increment(ref _misses);
        byte[] image = compile();
        TryWrite(path, key, image);
        return image;
    }

    private bool TryRead(string path, byte[] key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? payload)
    {
        payload = null;
        byte[] entry;
        try
        {
            if (!File.Exists(path))
                return false;
            entry = File.ReadAllBytes(path);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
        if (!IsValid(entry, key, out payload))
        {
            Interlocked.Increment(ref _rejected);
            payload = null;
            return false;
        }
        return true;
    }

    private static bool IsValid(byte[] entry, byte[] key, out byte[] payload)
    {
        payload = [];
        if (entry.Length < HeaderBytes)
            return false;
        var span = entry.AsSpan();
        if (!span[..8].SequenceEqual(Magic) || BinaryPrimitives.ReadInt32LittleEndian(span[8..12]) != FormatVersion)
            return false;
        if (!span[12..44].SequenceEqual(key))
            return false;
        long length = BinaryPrimitives.ReadInt64LittleEndian(span[44..52]);
        if (length != entry.Length - HeaderBytes)
            return false;
        var body = span[HeaderBytes..];
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(span[52..84]))
            return false;
        payload = body.ToArray();
        return true;
    }

    // A cache that cannot be written (read-only home, full disk) costs a recompile next time, nothing more.
    private static void TryWrite(string path, byte[] key, byte[] payload)
    {
        var entry = new byte[HeaderBytes + payload.Length];
        var span = entry.AsSpan();
        Magic.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..12], FormatVersion);
        key.CopyTo(span[12..44]);
        BinaryPrimitives.WriteInt64LittleEndian(span[44..52], payload.Length);
        SHA256.HashData(payload).CopyTo(span[52..84]);
        payload.CopyTo(span[HeaderBytes..]);
        try
        {
            AtomicFile.Write(path, stream => stream.Write(entry));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // AtomicFile removed its temporary file; the next run recompiles.
        }
    }
}
