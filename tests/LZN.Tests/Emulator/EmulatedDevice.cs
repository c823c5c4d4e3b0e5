using System.Runtime.InteropServices;
using LZN.Native.Backends.Cuda;
using LZN.Native.Interop;
using LZN.Native.Interop.Cuda;
using LZN.Native.Kernels;
using LZN.Tests.Cuda;

namespace LZN.Tests.Emulator;

/// <summary>
/// The emulated CUDA device (src/LZN.Emulator) as the tests drive it: a fresh backend per test (a planted
/// fault sticks to the context until its last backend is disposed, as on a GPU), the planted-fault kernels
/// compiled by NVRTC and loaded like any module, and the emulator's own controls (race check, source folder).
/// </summary>
internal sealed unsafe class EmulatedDevice : IDisposable
{
    private static readonly Lazy<IntPtr> Driver = new(() => NativeLibraries.TryLoad(NativeLibraries.Cuda).Handle);

    private readonly Dictionary<string, CudaKernel> _kernels = [];
    private CudaModule? _planted;

    private EmulatedDevice(CudaBackend backend) => Backend = backend;

    public CudaBackend Backend { get; }

    /// <summary>Opens the emulated device; ignores (or fails, with LZN_REQUIRE_CUDA=1) when CUDA is absent or a real GPU.</summary>
    public static EmulatedDevice Open()
    {
        var backend = CudaRequirement.CreateBackend();
        if (Export("lzn_emu_is_emulator") == IntPtr.Zero)
        {
            backend.Dispose();
            Assert.Ignore("libcuda is a real driver, not the emulated device");
        }
        return new EmulatedDevice(backend);
    }

    /// <summary>The planted-fault source the emulator's build compiled too (copied beside the tests).</summary>
    public static string PlantedSource => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "emulator-kernels", "planted_faults.cu"));

    /// <summary>A kernel of planted_faults.cu, compiled by NVRTC for the device and loaded once.</summary>
    public CudaKernel Planted(string name)
    {
        if (_kernels.TryGetValue(name, out var kernel))
            return kernel;
        _planted ??= CudaModule.Load(Backend.Context, Compile(PlantedSource, "planted_faults.cu", Backend.Properties.Architecture), "planted_faults.cu");
        kernel = new CudaKernel(_planted.Function(name), name);
        _kernels.Add(name, kernel);
        return kernel;
    }

    public static byte[] Compile(string source, string fileName, int architecture) =>
        new KernelCompiler(null).Compile(fileName, source, KernelSources.Headers, new KernelTarget(architecture, KernelImageKind.Cubin));

    /// <summary>Queues a launch; a fault surfaces at the next synchronisation, as on a GPU.</summary>
    public void Launch(CudaKernel kernel, uint blocks, uint threads, uint sharedBytes, params object[] arguments) =>
        Launch(kernel, (blocks, 1, 1), (threads, 1, 1), sharedBytes, arguments);

    public void Launch(CudaKernel kernel, (uint X, uint Y, uint Z) grid, (uint X, uint Y, uint Z) block, uint sharedBytes, params object[] arguments)
    {
        var handles = arguments.Select(argument => GCHandle.Alloc(argument, GCHandleType.Pinned)).ToArray();
        try
        {
            var pointers = stackalloc void*[Math.Max(1, handles.Length)];
            for (int i = 0; i < handles.Length; i++)
                pointers[i] = (void*)handles[i].AddrOfPinnedObject();
            Backend.Launch(kernel, grid, block, sharedBytes, pointers);
        }
        finally
        {
            foreach (var handle in handles)
                handle.Free();
        }
    }

    /// <summary>Launches a kernel with the arguments of its correct use (which must run clean), then with the planted fault's.</summary>
    public CudaException QuietThenFault(string kernel, uint blocks, uint threads, uint sharedBytes, object[] quiet, object[] planted)
    {
        Launch(Planted(kernel), blocks, threads, sharedBytes, quiet);
        Backend.Synchronize();
        Launch(Planted(kernel), blocks, threads, sharedBytes, planted);
        return Fault();
    }

    /// <summary>The fault the device reports at the next synchronisation.</summary>
    public CudaException Fault()
    {
        var fault = Assert.Throws<CudaException>(Backend.Synchronize)!;
        TestContext.Out.WriteLine(fault.Message);
        return fault;
    }

    /// <summary>Re-runs every launch with the fibers and blocks in another order and compares; Default restores LZN_EMULATOR_RACECHECK.</summary>
    public static void SetRaceCheck(RaceCheck mode, ulong seed = 1) =>
        ((delegate* unmanaged<int, ulong, void>)RequireExport("lzn_emu_set_race_check"))((int)mode, seed);

    /// <summary>Where the staleness check reads kernel sources (null: where the emulator was built from).</summary>
    public static void SetSourceFolder(string? folder)
    {
        var text = Marshal.StringToCoTaskMemUTF8(folder ?? "");
        try
        {
            ((delegate* unmanaged<IntPtr, void>)RequireExport("lzn_emu_set_source_folder"))(text);
        }
        finally
        {
            Marshal.FreeCoTaskMem(text);
        }
    }

    /// <summary>A new device allocation holding <paramref name="values"/> (at least one float).</summary>
    public DeviceMemory Upload(float[] values)
    {
        var memory = DeviceMemory.TryAllocate(Backend.Context, Math.Max(1, values.Length) * sizeof(float))!;
        fixed (float* host = values)
            CudaDriver.ThrowIfFailed(CudaDriver.cuMemcpyHtoD_v2(memory.Address, host, (nuint)(values.Length * sizeof(float))));
        return memory;
    }

    /// <summary>The first <paramref name="length"/> floats of a device allocation (synchronises).</summary>
    public static float[] Download(DeviceMemory memory, int length)
    {
        var values = new float[length];
        fixed (float* host = values)
            CudaDriver.ThrowIfFailed(CudaDriver.cuMemcpyDtoH_v2(host, memory.Address, (nuint)(length * sizeof(float))));
        return values;
    }

    /// <summary>
    /// How the emulated tensor cores and cuBLAS's TF32 GEMMs round their sums (LZN_EMULATOR_TF32; Default restores it);
    /// false on a real GPU, whose tensor cores truncate as they do.
    /// </summary>
    public static bool TrySetTf32Rounding(Tf32Rounding mode)
    {
        var setter = Export("lzn_emu_set_tf32_rounding");
        if (setter == IntPtr.Zero)
            return false;
        ((delegate* unmanaged<int, void>)setter)((int)mode);
        return true;
    }

    /// <summary>The emulator's sum of exact products as a tensor core forms it (lzn_emu_tf32_accumulate).</summary>
    public static float Tf32Accumulate(double[] terms, bool truncate)
    {
        fixed (double* values = terms)
            return ((delegate* unmanaged<double*, int, int, float>)RequireExport("lzn_emu_tf32_accumulate"))(values, terms.Length, truncate ? 1 : 0);
    }

    private static IntPtr Export(string name) =>
        Driver.Value != IntPtr.Zero && NativeLibrary.TryGetExport(Driver.Value, name, out var address) ? address : IntPtr.Zero;

    private static IntPtr RequireExport(string name)
    {
        var address = Export(name);
        return address != IntPtr.Zero ? address : throw new InvalidOperationException($"the emulated driver does not export {name}");
    }

    public void Dispose()
    {
        _planted?.Dispose();
        Backend.Dispose();
    }
}

/// <summary>The emulator's race check: off, or each launch re-run in reversed or shuffled order and compared.</summary>
public enum RaceCheck
{
    Default = -1,
    Off = 0,
    Reverse = 1,
    Shuffle = 2,
}

public enum Tf32Rounding
{
    Default = -1,
    Nearest = 0,
    Truncate = 1,
}

/// <summary>A fresh emulated device per test: a planted fault sticks to its context until the device is closed.</summary>
public abstract class EmulatedDeviceTest
{
    private EmulatedDevice? _device;

    private protected EmulatedDevice Device => _device ?? throw new InvalidOperationException("opened in SetUp");

    [SetUp]
    public void OpenDevice() => _device = EmulatedDevice.Open();

    [TearDown]
    public void CloseDevice()
    {
        EmulatedDevice.SetRaceCheck(RaceCheck.Default);
        EmulatedDevice.SetSourceFolder(null);
        EmulatedDevice.TrySetTf32Rounding(Tf32Rounding.Default);
        _device?.Dispose();
        _device = null;
    }

    /// <summary>Closes the device and opens it again (its context is reset when the last owner lets go).</summary>
    private protected void Reopen()
    {
        CloseDevice();
        OpenDevice();
    }
}
