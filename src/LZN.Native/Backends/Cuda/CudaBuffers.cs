using LZN.Native.Interop.Cuda;

namespace LZN.Native.Backends.Cuda;

/// <summary>float32 elements in device memory: a block from the backend's allocator and an element offset.</summary>
public sealed class CudaFloatBuffer : FloatBuffer
{
    private readonly CudaBackend _backend;
    private readonly DeviceMemory? _ownedBlock;

    internal CudaFloatBuffer(CudaBackend backend, ulong address, long length, DeviceMemory? ownedBlock)
        : base(backend, length)
    {
        _backend = backend;
        Address = address;
        _ownedBlock = ownedBlock;
    }

    /// <summary>Device address of element 0 (0 for an empty buffer).</summary>
    internal ulong Address { get; }

    public override FloatBuffer Slice(long offset, long length)
    {
        CheckSlice(offset, length);
        return new CudaFloatBuffer(_backend, Address + (ulong)(offset * sizeof(float)), length, ownedBlock: null);
    }

    protected override void Release()
    {
        if (_ownedBlock is not null)
            _backend.ReturnBlock(_ownedBlock, SizeInBytes);
    }
}

/// <summary>int32 elements in device memory: a block from the backend's allocator and an element offset.</summary>
public sealed class CudaIntBuffer : IntBuffer
{
    private readonly CudaBackend _backend;
    private readonly DeviceMemory? _ownedBlock;

    internal CudaIntBuffer(CudaBackend backend, ulong address, long length, DeviceMemory? ownedBlock)
        : base(backend, length)
    {
        _backend = backend;
        Address = address;
        _ownedBlock = ownedBlock;
    }

    /// <summary>Device address of element 0 (0 for an empty buffer).</summary>
    internal ulong Address { get; }

    public override IntBuffer Slice(long offset, long length)
    {
        CheckSlice(offset, length);
        return new CudaIntBuffer(_backend, Address + (ulong)(offset * sizeof(int)), length, ownedBlock: null);
    }

    protected override void Release()
    {
        if (_ownedBlock is not null)
            _backend.ReturnBlock(_ownedBlock, SizeInBytes);
    }
}
