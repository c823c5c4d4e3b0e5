using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LZN.Native.Interop.Cuda;

/// <summary>The NVRTC functions the project calls (nvrtc.h; the same symbols in NVRTC 11.2+ and 13).</summary>
internal static unsafe partial class Nvrtc
{
    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcVersion(out int major, out int minor);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcGetNumSupportedArchs(out int count);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcGetSupportedArchs(int* architectures);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcCreateProgram(out IntPtr program, byte* source, byte* name,
        int headerCount, byte** headers, byte** includeNames);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcDestroyProgram(ref IntPtr program);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcCompileProgram(IntPtr program, int optionCount, byte** options);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcGetProgramLogSize(IntPtr program, out nuint size);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcGetProgramLog(IntPtr program, byte* log);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcGetPTXSize(IntPtr program, out nuint size);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcGetPTX(IntPtr program, byte* ptx);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcGetCUBINSize(IntPtr program, out nuint size);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial nvrtcResult nvrtcGetCUBIN(IntPtr program, byte* cubin);

    [LibraryImport(NativeLibraries.Nvrtc)]
    internal static partial byte* nvrtcGetErrorString(nvrtcResult result);

    /// <summary>Throws <see cref="NvrtcException"/> naming NVRTC's error and the call that returned it.</summary>
    internal static void ThrowIfFailed(nvrtcResult result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != nvrtcResult.NVRTC_SUCCESS)
            throw new NvrtcException(result, call);
    }

    internal static string ErrorString(nvrtcResult result)
    {
        byte* text = nvrtcGetErrorString(result);
        return text == null ? result.ToString() : Marshal.PtrToStringUTF8((IntPtr)text) ?? result.ToString();
    }
}
