namespace LZN.Native.Backends;

/// <summary>Host round trips for tests, tools and I/O; not for the training hot path.</summary>
public static class BufferExtensions
{
    public static FloatBuffer FromHost(this IBackend backend, ReadOnlySpan<float> values)
    {
        var buffer = backend.AllocateFloat(values.Length);
        backend.Upload(values, buffer);
        return buffer;
    }

    public static IntBuffer FromHost(this IBackend backend, ReadOnlySpan<int> values)
    {
        var buffer = backend.AllocateInt(values.Length);
        backend.Upload(values, buffer);
        return buffer;
    }

    public static float[] ToArray(this FloatBuffer buffer)
    {
        var values = new float[checked((int)buffer.Length)];
        buffer.Backend.Download(buffer, values);
        return values;
    }

    public static int[] ToArray(this IntBuffer buffer)
    {
        var values = new int[checked((int)buffer.Length)];
        buffer.Backend.Download(buffer, values);
        return values;
    }

    /// <summary>Reads element 0 (a reduction's result) to the host; synchronises.</summary>
    public static float ReadScalar(this FloatBuffer buffer)
    {
        Span<float> one = stackalloc float[1];
        buffer.Backend.Download(buffer.Slice(0, 1), one);
        return one[0];
    }
}
