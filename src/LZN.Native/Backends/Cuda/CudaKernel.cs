using LZN.Native.Interop.Cuda;

namespace LZN.Native.Backends.Cuda;

/// <summary>
/// One <c>extern "C" __global__</c> function of a loaded module, with the attributes launchers size
/// their grids by. Obtained from <see cref="CudaBackend.Kernel"/>; lives as long as its backend.
/// </summary>
internal sealed class CudaKernel
{
    private int _residentGridBlockSize;
    private uint _residentGrid;

    internal CudaKernel(IntPtr function, string name)
    {
        Function = function;
        Name = name;
        MaxThreadsPerBlock = Attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
        RegisterCount = Attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_NUM_REGS);
    }

    internal IntPtr Function { get; }

    public string Name { get; }

    /// <summary>The most threads a block of this kernel may have (limited by its register use).</summary>
    public int MaxThreadsPerBlock { get; }

    public int RegisterCount { get; }

    /// <summary>The most dynamic shared memory this kernel was opted in to (0: the 48 KiB default).</summary>
    public int OptedInDynamicSharedMemory { get; private set; }

    /// <summary>Opts in to more than 48 KiB of dynamic shared memory per block.</summary>
    public void SetMaxDynamicSharedMemory(int bytes)
    {
        var result = CudaDriver.cuFuncSetAttribute(Function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(result, $"cuFuncSetAttribute({Name}, MAX_DYNAMIC_SHARED_SIZE_BYTES, {bytes})");
        OptedInDynamicSharedMemory = bytes;
    }

    /// <summary>Blocks of this kernel that fit on one multiprocessor at once.</summary>
    public int ActiveBlocksPerMultiprocessor(int blockSize, int dynamicSharedMemoryBytes)
    {
        var result = CudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor(out int blocks, Function, blockSize, (nuint)dynamicSharedMemoryBytes);
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(result, $"cuOccupancyMaxActiveBlocksPerMultiprocessor({Name}, {blockSize}, {dynamicSharedMemoryBytes})");
        return blocks;
    }

    /// <summary>
    /// Blocks that fill the whole device once at <paramref name="blockSize"/> threads: the cap for
    /// grid-stride kernels, beyond which extra blocks only queue.
    /// </summary>
    internal uint ResidentGrid(int blockSize, int multiprocessorCount)
    {
        if (_residentGridBlockSize != blockSize)
        {
            _residentGrid = (uint)Math.Max(1, ActiveBlocksPerMultiprocessor(blockSize, 0) * multiprocessorCount);
            _residentGridBlockSize = blockSize;
        }
        return _residentGrid;
    }

    private int Attribute(CUfunction_attribute attribute)
    {
        var result = CudaDriver.cuFuncGetAttribute(out int value, attribute, Function);
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(result, $"cuFuncGetAttribute({Name}, {attribute})");
        return value;
    }
}
