using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LZN.Native.Interop;

/// <summary>
/// The one resolver for every native library the project binds. Each logical name maps to a list of
/// versioned file names tried in a fixed list of folders, then on the loader's own path; every
/// attempt is recorded, and a failure reports the whole trace.
/// </summary>
public static class NativeLibraries
{
    /// <summary>Logical names used in [LibraryImport]; the resolver maps them to real files.</summary>
    public const string Cuda = "lzn-cuda";
    public const string Nvrtc = "lzn-nvrtc";
    public const string Cublas = "lzn-cublas";
    public const string OpenBlas = "lzn-openblas";
    public const string Mpi = "lzn-mpi";
    public const string Nccl = "lzn-nccl";

    private static readonly ConcurrentDictionary<string, Lazy<LoadResult>> Results = new();

#pragma warning disable CA2255 // A library module initializer is the only hook that precedes every [LibraryImport] call.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Install() =>
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        IsKnown(libraryName) ? TryLoad(libraryName).Handle : IntPtr.Zero;

    private static bool IsKnown(string logicalName) =>
        logicalName is Cuda or Nvrtc or Cublas or OpenBlas or Mpi or Nccl;

    /// <summary>Loads (once) and returns the outcome, with the path that loaded or every failed attempt.</summary>
    public static LoadResult TryLoad(string logicalName)
    {
        if (!IsKnown(logicalName))
            throw new ArgumentException($"Unknown native library '{logicalName}'.", nameof(logicalName));
        return Results.GetOrAdd(logicalName, name => new Lazy<LoadResult>(() => Load(name))).Value;
    }

    /// <summary>Loads the library or throws <see cref="NativeLibraryNotFoundException"/> listing every attempt.</summary>
    public static LoadResult Require(string logicalName)
    {
        var result = TryLoad(logicalName);
        return result.Loaded ? result : throw new NativeLibraryNotFoundException(logicalName, result.Attempts);
    }

    /// <summary>Folders tried before the loader path, in order; environment variables are read at call time.</summary>
    public static IReadOnlyList<string> SearchFolders(string logicalName)
    {
        var folders = new List<string>();
        void AddFromVariable(string variable, string? subFolder = null)
        {
            string? value = Environment.GetEnvironmentVariable(variable);
            if (!string.IsNullOrWhiteSpace(value))
                folders.Add(subFolder is null ? value : Path.Combine(value, subFolder));
        }

        if (logicalName == OpenBlas)
        {
            AddFromVariable("LZN_OPENBLAS_LIB_DIR");
            return folders;
        }
        if (logicalName == Mpi)
        {
            AddFromVariable("LZN_MPI_LIB_DIR");
            return folders;
        }
        if (logicalName == Nccl)
            AddFromVariable("LZN_NCCL_LIB_DIR");
        AddFromVariable("LZN_CUDA_LIB_DIR");
        AddFromVariable("CUDA_PATH", OperatingSystem.IsWindows() ? "bin" : "lib64");
        if (!OperatingSystem.IsWindows())
        {
            folders.Add("/usr/local/cuda/lib64");
            folders.Add("/usr/local/cuda/targets/x86_64-linux/lib");
        }
        return folders;
    }

    /// <summary>File names for a logical library on this OS, newest version first.</summary>
    public static IReadOnlyList<string> FileNames(string logicalName)
    {
        if (OperatingSystem.IsWindows())
        {
            return logicalName switch
            {
                Cuda => ["nvcuda.dll"],
                Nvrtc => ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"],
                Cublas => ["cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll"],
                Mpi or Nccl => [],
                _ => ["libopenblas.dll", "openblas.dll"],
            };
        }
        if (OperatingSystem.IsMacOS())
            return logicalName == OpenBlas ? ["libopenblas.0.dylib", "libopenblas.dylib"] : [];
        return logicalName switch
        {
            Cuda => ["libcuda.so.1", "libcuda.so"],
            Nvrtc => ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"],
            Cublas => ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"],
            // Open MPI's ABI (its predefined handles are addresses of exported globals), not MPICH's.
            Mpi => ["libmpi.so.40"],
            Nccl => ["libnccl.so.2", "libnccl.so"],
            _ => ["libopenblas.so.0", "libopenblas.so"],
        };
    }

    /// <summary>
    /// One uncached load attempt of a logical library from the given folders (then, when asked, the
    /// loader path): the same search as <see cref="TryLoad"/>, for tests and diagnostics.
    /// </summary>
    internal static LoadResult Probe(string logicalName, IReadOnlyList<string> folders, bool includeLoaderPath)
    {
        if (!IsKnown(logicalName))
            throw new ArgumentException($"Unknown native library '{logicalName}'.", nameof(logicalName));
        return Load(logicalName, folders, includeLoaderPath);
    }

    private static LoadResult Load(string logicalName) => Load(logicalName, SearchFolders(logicalName), includeLoaderPath: true);

    private static LoadResult Load(string logicalName, IReadOnlyList<string> folders, bool includeLoaderPath)
    {
        var attempts = new List<string>();
        var fileNames = FileNames(logicalName);
        foreach (string folder in folders)
        {
            foreach (string fileName in fileNames)
            {
                string path = Path.Combine(folder, fileName);
                if (!File.Exists(path))
                {
                    attempts.Add($"{path}: not found");
                    continue;
                }
                if (TryLoadPath(path, attempts, out var handle))
                    return new LoadResult(logicalName, handle, path, attempts);
            }
        }
        foreach (string fileName in includeLoaderPath ? fileNames : [])
        {
            if (TryLoadPath(fileName, attempts, out var handle))
                return new LoadResult(logicalName, handle, fileName + " (loader path)", attempts);
        }
        return new LoadResult(logicalName, IntPtr.Zero, null, attempts);
    }

    private static bool TryLoadPath(string path, List<string> attempts, out IntPtr handle)
    {
        try
        {
            handle = NativeLibrary.Load(path);
            return true;
        }
        catch (DllNotFoundException ex)
        {
            attempts.Add($"{path}: {LoaderMessage(ex.Message)}");
        }
        catch (BadImageFormatException ex)
        {
            attempts.Add($"{path}: wrong format ({LoaderMessage(ex.Message)})");
        }
        handle = IntPtr.Zero;
        return false;
    }

    // .NET's message starts with generic advice; the loader's own error (dlerror) is its last line.
    private static string LoaderMessage(string message) =>
        message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? message;
}

/// <summary>Where a logical library loaded from, or why it did not.</summary>
public sealed record LoadResult(string LogicalName, IntPtr Handle, string? Path, IReadOnlyList<string> Attempts)
{
    public bool Loaded => Handle != IntPtr.Zero;
}

/// <summary>No candidate file for a native library could be loaded; the message lists every attempt.</summary>
public sealed class NativeLibraryNotFoundException(string logicalName, IReadOnlyList<string> attempts)
    : DllNotFoundException($"Could not load native library '{logicalName}'. Attempts:{Environment.NewLine}  "
        + string.Join(Environment.NewLine + "  ", attempts))
{
    public string LogicalName { get; } = logicalName;

    public IReadOnlyList<string> Attempts { get; } = attempts;
}
