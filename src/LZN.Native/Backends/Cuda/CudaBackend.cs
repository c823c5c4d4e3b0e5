using System.Diagnostics.CodeAnalysis;
using LZN.Native.Interop;
using LZN.Native.Interop.Cuda;
using LZN.Native.Kernels;

namespace LZN.Native.Backends.Cuda;

/// <summary>
/// The CUDA backend: one device, its primary context, one stream on which every operation is queued
/// (cuBLAS is bound to it), a caching allocator, and NVRTC-compiled kernels from kernels/*.cu.
/// Errors surface at every synchronisation, and after every launch in Debug builds or with
/// LZN_CUDA_SYNC_LAUNCHES=1. Any thread may call; the context is made current on entry.
/// </summary>
public sealed partial class CudaBackend : IBackend
{
    /// <summary>A quiet NaN's bits: the poison of scratch buffers under LZN_CUDA_POISON_SCRATCH=1.</summary>
    private const uint ScratchPoison = 0x7fc00000;

    /// <summary>cuBLAS workspace: the size NVIDIA recommends for Hopper.</summary>
    private const long CublasWorkspaceBytes = 32L << 20;

    private readonly PrimaryContext _context;
    private readonly CudaStream _stream;
    private readonly CublasHandle _cublas;
    private readonly DeviceMemory _cublasWorkspace;
    private readonly DeviceMemory _reductionPartials; // [MaxPartials] floats, outside the buffer statistics
    private readonly CudaAllocator _allocator;
    private readonly KernelCompiler _compiler;
    private readonly KernelTarget _kernelTarget;
    private readonly bool _synchronizeLaunches;
    private readonly bool _poisonScratch;
    private readonly string _deviceDescription;
    private readonly object _kernelLock = new();
    private readonly Dictionary<string, CudaModule> _modules = new(StringComparer.Ordinal);
    private readonly Dictionary<(string File, string Function), CudaKernel> _kernels = [];
    private bool _disposed;

    private CudaBackend(CudaDeviceProperties properties, PrimaryContext context)
    {
        Properties = properties;
        _context = context;
        _context.MakeCurrent();
        _stream = CudaStream.Create(_context);
        _allocator = new CudaAllocator(_context, () => _stream.Synchronize());
        _cublas = CublasHandle.Create(_context);
        Cublas.ThrowIfFailed(Cublas.cublasSetStream_v2(_cublas, _stream));
        // Pure fp32: TF32 tensor cores give relative errors near 1 on the latent-flow logits.
        Cublas.ThrowIfFailed(Cublas.cublasSetMathMode(_cublas, cublasMath_t.CUBLAS_DEFAULT_MATH));
        _cublasWorkspace = DeviceMemory.TryAllocate(_context, CublasWorkspaceBytes)
            ?? throw new CudaException(CUresult.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc_v2(cuBLAS workspace)");
        Cublas.ThrowIfFailed(Cublas.cublasSetWorkspace_v2(_cublas, _cublasWorkspace.Address, (nuint)CublasWorkspaceBytes));
        _reductionPartials = DeviceMemory.TryAllocate(_context, MaxPartials * sizeof(float))
            ?? throw new CudaException(CUresult.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc_v2(reduction partials)");
        _compiler = new KernelCompiler(new KernelCache(KernelCache.DefaultFolder()));
        _kernelTarget = ChooseTarget(properties.Architecture);
        _synchronizeLaunches = Environment.GetEnvironmentVariable("LZN_CUDA_SYNC_LAUNCHES") == "1";
        _poisonScratch = Environment.GetEnvironmentVariable("LZN_CUDA_POISON_SCRATCH") == "1";
#if DEBUG
        _synchronizeLaunches = true;
#endif
        Zones = new CudaZoneKernels(this, ZoneKernelVersions.FromEnvironment());
        _deviceDescription = $"CUDA {properties.Name} (sm_{properties.Architecture}, {properties.MultiprocessorCount} SMs, "
            + $"{properties.TotalMemoryBytes / (1L << 30)} GiB), cuBLAS {_cublas.Version}, NVRTC {KernelCompiler.NvrtcVersion.Major}.{KernelCompiler.NvrtcVersion.Minor}";
    }

    public BackendKind Kind => BackendKind.Cuda;

    public string Description => $"{_deviceDescription}, zone kernels {ZoneKernelVersions.Name(ZoneKernels)}";

    public MemoryStats Memory => _allocator.Stats;

    public IZoneKernels Zones { get; private set; }

    /// <summary>Which zone kernels this backend launches (LZN_ZONE_KERNELS when it was created; gemm below sm_80).</summary>
    public ZoneKernelVersion ZoneKernels => ((CudaZoneKernels)Zones).Version;

    /// <summary>Switches the zone kernels (tests and `lzn bench zones --kernels` compare both on one backend).</summary>
    /// <param name="gemmScratchFloats">The gemm path's scratch matrix size in floats (tests split small batches with it).</param>
    internal void UseZoneKernels(ZoneKernelVersion version, long gemmScratchFloats = CudaZoneKernels.DefaultGemmScratchFloats) =>
        Zones = new CudaZoneKernels(this, version) { GemmScratchFloats = gemmScratchFloats };

    public INnKernels Nn => field ??= new CudaNnKernels(this);

    public IOptimizerKernels Optimizer => field ??= new CudaOptimizerKernels(this);

    public IFlowMatchingKernels FlowMatching => field ??= new CudaFlowMatchingKernels(this);

    /// <summary>The device this backend runs on.</summary>
    internal CudaDeviceProperties Properties { get; }

    /// <summary>cuBLAS's math mode as the library reports it (CUBLAS_DEFAULT_MATH: fp32, no TF32).</summary>
    internal cublasMath_t CublasMathMode
    {
        get
        {
            Cublas.ThrowIfFailed(Cublas.cublasGetMathMode(_cublas, out var mode));
            return mode;
        }
    }

    /// <summary>The device's primary context, which every resource of this backend holds a reference on.</summary>
    internal PrimaryContext Context => _context;

    /// <summary>The allocator, for tests of its caching.</summary>
    internal CudaAllocator Allocator => _allocator;

    /// <summary>
    /// Opens device <paramref name="ordinal"/>, or returns false with the exact reason CUDA is unusable:
    /// libcuda missing (with the resolver's trace), cuInit failing (with the driver's error name),
    /// no device, an ordinal out of range, NVRTC or cuBLAS missing, or a failure while setting up.
    /// </summary>
    public static bool TryCreate(int ordinal, [NotNullWhen(true)] out CudaBackend? backend, out string? reason)
    {
        bool created = TryCreateWithProblem(ordinal, out backend, out CudaProblem? problem);
        reason = problem?.ToString();
        return created;
    }

    /// <summary>As the public overload, with the reason split into a short summary and its details.</summary>
    internal static bool TryCreateWithProblem(int ordinal, [NotNullWhen(true)] out CudaBackend? backend, out CudaProblem? problem)
    {
        backend = null;
        problem = CudaAvailability.Check(ordinal);
        if (problem is not null)
            return false;
        PrimaryContext? context = null;
        try
        {
            var properties = CudaDeviceProperties.Query(ordinal);
            context = PrimaryContext.Retain(ordinal);
            backend = new CudaBackend(properties, context);
            return true;
        }
        catch (Exception ex) when (ex is CudaException or CublasException or NvrtcException or NativeLibraryNotFoundException or EntryPointNotFoundException)
        {
            // What the failed setup created holds its own reference on the context; the finalizer releases those, and the
            // primary context goes with the last of them (its last release destroys anything left in it).
            context?.Dispose();
            problem = new CudaProblem($"CUDA device {ordinal} could not be set up", ex.Message);
            return false;
        }
    }

    /// <summary>
    /// Milliseconds the work queued by <paramref name="work"/> takes on this backend's stream, measured
    /// with CUDA events recorded before and after it (for benchmarks: host overhead outside the
    /// stream is not counted, and the call blocks until the work is done).
    /// </summary>
    public float TimeMilliseconds(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        Bind();
        using var start = CudaEvent.Create(_context);
        using var end = CudaEvent.Create(_context);
        start.Record(_stream);
        work();
        Bind();
        end.Record(_stream);
        end.Synchronize();
        return end.MillisecondsSince(start);
    }

    /// <summary>
    /// The kernel <paramref name="functionName"/> of embedded file <paramref name="sourceFile"/>; the module
    /// is compiled (or read from the disk cache) once per backend per file, and functions are cached.
    /// </summary>
    internal CudaKernel Kernel(string sourceFile, string functionName)
    {
        lock (_kernelLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_kernels.TryGetValue((sourceFile, functionName), out var kernel))
                return kernel;
            Bind();
            if (!_modules.TryGetValue(sourceFile, out var module))
            {
                byte[] image = _compiler.Compile(sourceFile, _kernelTarget);
                module = CudaModule.Load(_context, image, $"{sourceFile} for {_kernelTarget}");
                _modules.Add(sourceFile, module);
            }
            kernel = new CudaKernel(module.Function(functionName), functionName);
            _kernels.Add((sourceFile, functionName), kernel);
            return kernel;
        }
    }

    /// <summary>Queues a kernel on the backend stream; the launch status is checked, and with synchronous launches its execution too.</summary>
    internal unsafe void Launch(CudaKernel kernel, (uint X, uint Y, uint Z) grid, (uint X, uint Y, uint Z) block,
        uint sharedMemoryBytes, void** arguments)
    {
        Bind();
        var result = CudaDriver.cuLaunchKernel(kernel.Function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            sharedMemoryBytes, _stream.Handle, arguments, null);
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(result, $"cuLaunchKernel({kernel.Name}, grid {grid}, block {block}, {sharedMemoryBytes} B shared)");
        if (_synchronizeLaunches)
        {
            result = CudaDriver.cuStreamSynchronize(_stream);
            if (result != CUresult.CUDA_SUCCESS)
                throw new CudaException(result, $"cuStreamSynchronize after {kernel.Name}");
        }
    }

    /// <summary>The stream every operation of this backend is queued on (NCCL queues its collectives there too).</summary>
    internal IntPtr StreamHandle => _stream.Handle;

    /// <summary>Device address of element 0 of a CUDA buffer (0 for null).</summary>
    internal static ulong Pointer(FloatBuffer? buffer) => buffer switch
    {
        null => 0,
        CudaFloatBuffer { IsDisposed: false } cuda => cuda.Address,
        CudaFloatBuffer => throw new ObjectDisposedException(nameof(CudaFloatBuffer)),
        _ => throw new ArgumentException($"Buffer belongs to the {buffer.Backend.Kind} backend, not the CUDA backend.", nameof(buffer)),
    };

    /// <summary>Device address of element 0 of a CUDA buffer (0 for null).</summary>
    internal static ulong Pointer(IntBuffer? buffer) => buffer switch
    {
        null => 0,
        CudaIntBuffer { IsDisposed: false } cuda => cuda.Address,
        CudaIntBuffer => throw new ObjectDisposedException(nameof(CudaIntBuffer)),
        _ => throw new ArgumentException($"Buffer belongs to the {buffer.Backend.Kind} backend, not the CUDA backend.", nameof(buffer)),
    };

    internal void ReturnBlock(DeviceMemory block, long bytes) => _allocator.Return(block, bytes);

    /// <summary>Makes this backend's context current on the calling thread (a thread-local driver write).</summary>
    private void Bind()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _context.MakeCurrent();
    }

    // CUBIN for the device's own architecture when this NVRTC knows it; otherwise PTX for the newest
    // architecture it knows that the device can run, which the driver JIT-compiles at load.
    private static KernelTarget ChooseTarget(int deviceArchitecture)
    {
        var supported = KernelCompiler.SupportedArchitectures;
        if (supported.Contains(deviceArchitecture))
            return new KernelTarget(deviceArchitecture, KernelImageKind.Cubin);
        int best = supported.Where(architecture => architecture <= deviceArchitecture).DefaultIfEmpty(0).Max();
        if (best == 0)
            throw new NvrtcException(nvrtcResult.NVRTC_ERROR_INVALID_OPTION,
                $"choosing a target for sm_{deviceArchitecture} (NVRTC supports {string.Join(", ", supported)})");
        return new KernelTarget(best, KernelImageKind.Ptx);
    }

    public void Dispose()
    {
        lock (_kernelLock)
        {
            if (_disposed)
                return;
            _context.MakeCurrent();
            // Teardown continues past a failed synchronisation: the error was reported by the operation that caused it.
            CudaDriver.cuStreamSynchronize(_stream);
            _disposed = true;
            foreach (var module in _modules.Values)
                module.Dispose();
            _modules.Clear();
            _kernels.Clear();
            _allocator.Dispose();
            _cublas.Dispose();
            _cublasWorkspace.Dispose();
            _reductionPartials.Dispose();
            _stream.Dispose();
            _context.Dispose();
        }
    }
}
