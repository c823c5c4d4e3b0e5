using System.Runtime.InteropServices;
using System.Text;
using LZN.Native.Interop;
using LZN.Native.Interop.Cuda;

namespace LZN.Native.Kernels;

/// <summary>
/// Compiles kernel sources with NVRTC: embedded headers are passed as NVRTC headers, so
/// <c>#include "common.cuh"</c> resolves without a file system. Results go through an optional
/// <see cref="KernelCache"/>. Options are the target architecture and <c>-std=c++17</c>; no fast math.
/// </summary>
public sealed class KernelCompiler(KernelCache? cache)
{
    private static readonly Lazy<(int Major, int Minor)> Version = new(QueryVersion);
    private static readonly Lazy<IReadOnlyList<int>> Architectures = new(QueryArchitectures);

    public KernelCache? Cache { get; } = cache;

    /// <summary>NVRTC's version, e.g. (13, 0); loads NVRTC (throws with the resolver trace when it is missing).</summary>
    public static (int Major, int Minor) NvrtcVersion => Version.Value;

    /// <summary>Real architectures this NVRTC can target (e.g. 90 for sm_90), ascending.</summary>
    public static IReadOnlyList<int> SupportedArchitectures => Architectures.Value;

    /// <summary>Every option passed to NVRTC for a target.</summary>
    public static IReadOnlyList<string> Options(KernelTarget target) => [target.ArchitectureOption, "-std=c++17"];

    /// <summary>Compiles an embedded kernel file (e.g. "elementwise.cu") with the embedded headers.</summary>
    public byte[] Compile(string fileName, KernelTarget target) =>
        Compile(fileName, KernelSources.Read(fileName), KernelSources.Headers, target);

    /// <summary>Compiles a source with the given headers; a cache hit skips NVRTC entirely.</summary>
    public byte[] Compile(string fileName, string source, IReadOnlyDictionary<string, string> headers, KernelTarget target)
    {
        var options = Options(target);
        if (Cache is null)
            return CompileUncached(fileName, source, headers, options, target);
        var (major, minor) = NvrtcVersion;
        byte[] key = KernelCache.Key(fileName, source, headers, options, $"{major}.{minor}", target);
        return Cache.GetOrAdd(key, target, () => CompileUncached(fileName, source, headers, options, target));
    }

    /// <summary>
    /// Compiles an embedded kernel file uncached with ptxas's resource report (<c>--ptxas-options=-v</c>): the image,
    /// its PTX and the log, for <see cref="KernelReport"/>.
    /// </summary>
    public static KernelBuild CompileVerbose(string fileName, KernelTarget target) =>
        Build(fileName, KernelSources.Read(fileName), KernelSources.Headers, [.. Options(target), "--ptxas-options=-v"], target, withPtxAndLog: true);

    private static byte[] CompileUncached(string fileName, string source, IReadOnlyDictionary<string, string> headers,
        IReadOnlyList<string> options, KernelTarget target) =>
        Build(fileName, source, headers, options, target, withPtxAndLog: false).Image;

    private static unsafe KernelBuild Build(string fileName, string source, IReadOnlyDictionary<string, string> headers,
        IReadOnlyList<string> options, KernelTarget target, bool withPtxAndLog)
    {
        NativeLibraries.Require(NativeLibraries.Nvrtc);
        var headerNames = headers.Keys.Order(StringComparer.Ordinal).ToArray();
        using var sourceText = new Utf8Strings([source, fileName]);
        using var headerTexts = new Utf8Strings([.. headerNames.Select(name => headers[name])]);
        using var includeNames = new Utf8Strings(headerNames);
        using var optionTexts = new Utf8Strings(options);
        Nvrtc.ThrowIfFailed(Nvrtc.nvrtcCreateProgram(out IntPtr program, sourceText.Pointers[0], sourceText.Pointers[1],
            headerNames.Length, headerTexts.Pointers, includeNames.Pointers));
        try
        {
            var result = Nvrtc.nvrtcCompileProgram(program, options.Count, optionTexts.Pointers);
            if (result == nvrtcResult.NVRTC_ERROR_COMPILATION)
                throw new NvrtcCompileException(fileName, options, ReadLog(program));
            Nvrtc.ThrowIfFailed(result, $"nvrtcCompileProgram({fileName}, [{string.Join(' ', options)}])");
            byte[] image = target.Kind == KernelImageKind.Cubin ? ReadCubin(program) : ReadPtx(program);
            if (!withPtxAndLog)
                return new KernelBuild(image, "", "");
            byte[] ptx = target.Kind == KernelImageKind.Cubin ? ReadPtx(program) : image;
            return new KernelBuild(image, Encoding.UTF8.GetString(ptx).TrimEnd('\0'), ReadLog(program));
        }
        finally
        {
            Nvrtc.nvrtcDestroyProgram(ref program);
        }
    }

    private static unsafe string ReadLog(IntPtr program)
    {
        Nvrtc.ThrowIfFailed(Nvrtc.nvrtcGetProgramLogSize(program, out nuint size));
        var log = new byte[(int)size];
        fixed (byte* pointer = log)
            Nvrtc.ThrowIfFailed(Nvrtc.nvrtcGetProgramLog(program, pointer));
        return Encoding.UTF8.GetString(log).TrimEnd('\0');
    }

    // The PTX keeps its terminating NUL: the driver loads PTX as a C string.
    private static unsafe byte[] ReadPtx(IntPtr program)
    {
        Nvrtc.ThrowIfFailed(Nvrtc.nvrtcGetPTXSize(program, out nuint size));
        var ptx = new byte[(int)size];
        fixed (byte* pointer = ptx)
            Nvrtc.ThrowIfFailed(Nvrtc.nvrtcGetPTX(program, pointer));
        return ptx;
    }

    private static unsafe byte[] ReadCubin(IntPtr program)
    {
        Nvrtc.ThrowIfFailed(Nvrtc.nvrtcGetCUBINSize(program, out nuint size));
        var cubin = new byte[(int)size];
        fixed (byte* pointer = cubin)
            Nvrtc.ThrowIfFailed(Nvrtc.nvrtcGetCUBIN(program, pointer));
        return cubin;
    }

    private static (int Major, int Minor) QueryVersion()
    {
        NativeLibraries.Require(NativeLibraries.Nvrtc);
        Nvrtc.ThrowIfFailed(Nvrtc.nvrtcVersion(out int major, out int minor));
        return (major, minor);
    }

    private static unsafe IReadOnlyList<int> QueryArchitectures()
    {
        NativeLibraries.Require(NativeLibraries.Nvrtc);
        Nvrtc.ThrowIfFailed(Nvrtc.nvrtcGetNumSupportedArchs(out int count));
        var architectures = new int[count];
        fixed (int* pointer = architectures)
            Nvrtc.ThrowIfFailed(Nvrtc.nvrtcGetSupportedArchs(pointer));
        Array.Sort(architectures);
        return architectures;
    }

    /// <summary>NUL-terminated UTF-8 copies in native memory and an array of pointers to them.</summary>
    private sealed unsafe class Utf8Strings : IDisposable
    {
        private readonly int _count;

        public Utf8Strings(IReadOnlyList<string> values)
        {
            _count = values.Count;
            Pointers = (byte**)NativeMemory.AllocZeroed((nuint)Math.Max(_count, 1), (nuint)sizeof(byte*));
            for (int i = 0; i < _count; i++)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(values[i]);
                var text = (byte*)NativeMemory.Alloc((nuint)bytes.Length + 1);
                bytes.AsSpan().CopyTo(new Span<byte>(text, bytes.Length));
                text[bytes.Length] = 0;
                Pointers[i] = text;
            }
        }

        public byte** Pointers { get; }

        public void Dispose()
        {
            for (int i = 0; i < _count; i++)
                NativeMemory.Free(Pointers[i]);
            NativeMemory.Free(Pointers);
        }
    }
}

/// <summary>What NVRTC produced for one kernel file: the image, its PTX and the compile log.</summary>
public sealed record KernelBuild(byte[] Image, string Ptx, string Log);
