using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>
/// A backend buffer that grows on demand and is otherwise reused: a layer's activation or gradient
/// storage. At a fixed batch size the first step allocates and every later step only slices.
/// </summary>
public sealed class Workspace(IBackend backend) : IDisposable
{
    private FloatBuffer? _owner;

    /// <summary>A view of the first <paramref name="length"/> elements; contents are whatever was there.</summary>
    public FloatBuffer Get(long length)
    {
        if (_owner is null || _owner.Length < length)
        {
            _owner?.Dispose();
            _owner = backend.AllocateFloat(length);
        }
        return _owner.Slice(0, length);
    }

    public void Dispose()
    {
        _owner?.Dispose();
        _owner = null;
    }
}
