using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>
/// Concatenation along the per-sample axis and its inverse, through <see cref="INnKernels.CopyColumns"/>.
/// Channel concatenation of NCHW maps is the same with sizes C * H * W (channels are the slowest per-sample axis).
/// </summary>
public static class Concat
{
    /// <summary>destination [rows, sizeA + sizeB] = [a [rows, sizeA], b [rows, sizeB]].</summary>
    public static void Join(IBackend backend, FloatBuffer a, int sizeA, FloatBuffer b, int sizeB, int rows, FloatBuffer destination)
    {
        backend.Nn.CopyColumns(a, rows, sizeA, 0, destination, sizeA + sizeB, 0, sizeA);
        backend.Nn.CopyColumns(b, rows, sizeB, 0, destination, sizeA + sizeB, sizeA, sizeB);
    }

    /// <summary>a [rows, sizeA], b [rows, sizeB] = the two column blocks of source [rows, sizeA + sizeB].</summary>
    public static void Split(IBackend backend, FloatBuffer source, int rows, FloatBuffer a, int sizeA, FloatBuffer b, int sizeB)
    {
        backend.Nn.CopyColumns(source, rows, sizeA + sizeB, 0, a, sizeA, 0, sizeA);
        backend.Nn.CopyColumns(source, rows, sizeA + sizeB, sizeA, b, sizeB, 0, sizeB);
    }
}
