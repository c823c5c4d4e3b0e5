using LZN.Native.Backends.Cuda;
using LZN.Native.Interop.Cuda;
using LZN.Native.Kernels;

namespace LZN.Tests.Emulator;

/// <summary>
/// The launch rules of a real device, enforced by the emulated one with the status the real driver returns:
/// block and grid limits, __launch_bounds__, registers per block (read from the CUBIN), dynamic shared memory
/// above 48 KiB only after opting in, the architecture's opt-in maximum, and module images that do not match
/// the emulator's build of their kernel file.
/// </summary>
[Category("Emulator")]
public sealed unsafe class EmulatorLaunchRuleTests : EmulatedDeviceTest
{
    private CudaException LaunchFails((uint X, uint Y, uint Z) grid, (uint X, uint Y, uint Z) block, uint shared, string kernel, params object[] arguments)
    {
        var failure = Assert.Throws<CudaException>(() => Device.Launch(Device.Planted(kernel), grid, block, shared, arguments))!;
        TestContext.Out.WriteLine(failure.Message);
        return failure;
    }

    [TestCase(1025u, 1u, 1u)]
    [TestCase(32u, 32u, 2u)]
    [TestCase(1u, 1u, 65u)]
    [TestCase(0u, 1u, 1u)]
    public void BlocksBeyondTheDeviceLimitsAreInvalid(uint x, uint y, uint z)
    {
        using var output = Device.Backend.AllocateFloat(4096);
        var failure = LaunchFails((1, 1, 1), (x, y, z), 0, "write_n", CudaBackend.Pointer(output), 1L, 1f);
        Assert.That(failure.Result, Is.EqualTo(CUresult.CUDA_ERROR_INVALID_VALUE));
        Assert.That(failure.Message, Does.Contain("kernel write_n: block"));
    }

    [TestCase(1u, 65536u, 1u)]
    [TestCase(1u, 1u, 65536u)]
    [TestCase(0u, 1u, 1u)]
    public void GridsBeyondTheDeviceLimitsAreInvalid(uint x, uint y, uint z)
    {
        using var output = Device.Backend.AllocateFloat(16);
        var failure = LaunchFails((x, y, z), (1, 1, 1), 0, "write_n", CudaBackend.Pointer(output), 1L, 1f);
        Assert.That(failure.Result, Is.EqualTo(CUresult.CUDA_ERROR_INVALID_VALUE));
        Assert.That(failure.Message, Does.Contain("kernel write_n: grid"));
    }

    [Test]
    public void LaunchBoundsLimitTheBlock()
    {
        using var output = Device.Backend.AllocateFloat(256);
        var bounded = Device.Planted("bounded");
        Assert.That(bounded.MaxThreadsPerBlock, Is.EqualTo(128));
        Device.Launch(bounded, 1, 128, 0, CudaBackend.Pointer(output));
        var failure = LaunchFails((1, 1, 1), (256, 1, 1), 0, "bounded", CudaBackend.Pointer(output));
        Assert.That(failure.Result, Is.EqualTo(CUresult.CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES));
        Assert.That(failure.Message, Does.Contain("256 threads per block exceed its __launch_bounds__ of 128"));
    }

    [Test]
    public void RegistersFromTheCubinLimitTheBlock()
    {
        var hungry = Device.Planted("register_hungry");
        Assert.That(hungry.RegisterCount, Is.GreaterThan(64), "the kernel keeps 96 accumulators live");
        // Registers are allocated per warp in units of 256.
        int perWarp = (hungry.RegisterCount * 32 + 255) / 256 * 256;
        int maxThreads = 65536 / perWarp * 32;
        Assert.That(hungry.MaxThreadsPerBlock, Is.EqualTo(maxThreads));
        using var input = Device.Backend.AllocateFloat(128);
        using var output = Device.Backend.AllocateFloat(1024);
        Device.Launch(hungry, 1, (uint)maxThreads, 0, CudaBackend.Pointer(input), CudaBackend.Pointer(output), 1);
        Device.Backend.Synchronize();
        var failure = LaunchFails((1, 1, 1), (1024, 1, 1), 0, "register_hungry", CudaBackend.Pointer(input), CudaBackend.Pointer(output), 1);
        Assert.That(failure.Result, Is.EqualTo(CUresult.CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES));
        Assert.That(failure.Message, Does.Contain($"1024 threads x {hungry.RegisterCount} registers exceed the 65536 registers of a block"));
    }

    [TestCase("zone_forward_tiles_64")]
    [TestCase("zone_backward_points_tiles_128")]
    [TestCase("zone_backward_anchors_tiles_256")]
    [TestCase("zone_forward_combine")]
    public void TheStaticReportsOccupancyIsTheDevicesOwn(string name)
    {
        int architecture = Device.Backend.Properties.Architecture;
        var build = KernelCompiler.CompileVerbose("latent_zone.cu", new KernelTarget(architecture, KernelImageKind.Cubin));
        var reported = KernelReport.Describe("latent_zone.cu", architecture, build).Single(kernel => kernel.Kernel == name);
        var kernel = Device.Backend.Kernel("latent_zone.cu", name);
        Assert.That(kernel.RegisterCount, Is.EqualTo(reported.Registers), "the CUBIN's register count is ptxas's");
        Assert.That(kernel.ActiveBlocksPerMultiprocessor(reported.Threads, reported.DynamicSharedBytes), Is.EqualTo(reported.BlocksPerMultiprocessor));
    }

    [Test]
    public void DynamicSharedMemoryAbove48KiBNeedsTheOptIn()
    {
        using var output = Device.Backend.AllocateFloat(64);
        const uint wanted = 100 * 1024;
        var failure = LaunchFails((1, 1, 1), (64, 1, 1), wanted, "read_dynamic_shared", CudaBackend.Pointer(output), 0);
        Assert.That(failure.Result, Is.EqualTo(CUresult.CUDA_ERROR_INVALID_VALUE));
        Assert.That(failure.Message, Does.Contain("exceed its limit of 49152").And.Contain("CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES"));
        Device.Planted("read_dynamic_shared").SetMaxDynamicSharedMemory((int)wanted);
        Device.Launch(Device.Planted("read_dynamic_shared"), 1, 64, wanted, CudaBackend.Pointer(output), 0);
        Device.Backend.Synchronize();
    }

    [Test]
    public void TheOptInStopsAtTheArchitecturesMaximum()
    {
        int maximum = Device.Backend.Properties.MaxSharedMemoryPerBlockOptin;
        Assert.That(maximum, Is.EqualTo(Device.Backend.Properties.Architecture switch
        {
            90 => 227 * 1024,
            80 => 163 * 1024,
            86 or 89 => 99 * 1024,
            _ => 64 * 1024,
        }));
        var kernel = Device.Planted("read_dynamic_shared");
        kernel.SetMaxDynamicSharedMemory(maximum);
        var failure = Assert.Throws<CudaException>(() => kernel.SetMaxDynamicSharedMemory(maximum + 1))!;
        Assert.That(failure.Result, Is.EqualTo(CUresult.CUDA_ERROR_INVALID_VALUE));
        Assert.That(failure.Message, Does.Contain($"opt-in maximum of {maximum} bytes per block"));
    }

    [Test]
    public void AParameterBufferIsReadByTheImagesLayoutAndItsSizeChecked()
    {
        using var output = DeviceMemory.TryAllocate(Device.Backend.Context, 32 * sizeof(float))!;
        var kernel = Device.Planted("write_n");
        // write_n(float* out, long long n, float value): offsets 0, 8, 16; 20 bytes.
        var buffer = stackalloc byte[24];
        *(ulong*)buffer = output.Address;
        *(long*)(buffer + 8) = 32;
        *(float*)(buffer + 16) = 2.5f;
        nuint size = 20;
        var extra = stackalloc void*[] { (void*)1, buffer, (void*)2, &size, null };
        CudaDriver.ThrowIfFailed(CudaDriver.cuLaunchKernel(kernel.Function, 1, 1, 1, 32, 1, 1, 0, IntPtr.Zero, null, extra));
        var values = new float[32];
        fixed (float* host = values)
            CudaDriver.ThrowIfFailed(CudaDriver.cuMemcpyDtoH_v2(host, output.Address, 32 * sizeof(float)));
        Assert.That(values, Is.All.EqualTo(2.5f));
        size = 24;
        var result = CudaDriver.cuLaunchKernel(kernel.Function, 1, 1, 1, 32, 1, 1, 0, IntPtr.Zero, null, extra);
        Assert.That(result, Is.EqualTo(CUresult.CUDA_ERROR_INVALID_VALUE));
        Assert.That(CudaDriver.ErrorString(result), Does.Contain("the parameter buffer holds 24 bytes; the kernel takes 20"));
    }

    [Test]
    public void AnImageFromAnEditedSignatureIsRefused()
    {
        string edited = EmulatedDevice.PlantedSource.Replace("write_n(float* out, long long n, float value)", "write_n(float* out, int n, float value)", StringComparison.Ordinal);
        Assert.That(RefusedImage(edited), Does.Contain("parameter 1 of kernel write_n is 4 bytes in the image but 8 in the emulator's build of planted_faults.cu"));
    }

    [Test]
    public void AnImageWithAKernelTheEmulatorLacksIsRefused()
    {
        string edited = EmulatedDevice.PlantedSource + "\nextern \"C\" __global__ void added_later(float* out) { out[0] = 1.0f; }\n";
        Assert.That(RefusedImage(edited), Does.Contain("the image has kernel added_later, which the emulator's build of planted_faults.cu lacks"));
    }

    // Loads an image of an edited planted_faults.cu; returns the refusal's message.
    private string RefusedImage(string editedSource)
    {
        var image = EmulatedDevice.Compile(editedSource, "planted_faults.cu", Device.Backend.Properties.Architecture);
        var failure = Assert.Throws<CudaException>(() => CudaModule.Load(Device.Backend.Context, image, "edited planted_faults.cu").Dispose())!;
        Assert.That(failure.Result, Is.EqualTo(CUresult.CUDA_ERROR_INVALID_IMAGE));
        return failure.Message;
    }

    [Test]
    public void KernelSourcesEditedAfterTheEmulatorWasBuiltAreRefused()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-stale-kernels-").FullName;
        try
        {
            foreach (var (name, text) in KernelSources.Headers)
                File.WriteAllText(Path.Combine(folder, name), text);
            // Only a body changes: the image would match by name and parameters alone.
            File.WriteAllText(Path.Combine(folder, "reduce.cu"), KernelSources.Read("reduce.cu").Replace("sum += x_row[col];", "sum -= x_row[col];", StringComparison.Ordinal));
            EmulatedDevice.SetSourceFolder(folder);
            var failure = Assert.Throws<CudaException>(() => Device.Backend.Kernel("reduce.cu", "row_sums"))!;
            Assert.That(failure.Result, Is.EqualTo(CUresult.CUDA_ERROR_INVALID_IMAGE));
            Assert.That(failure.Message, Does.Contain("reduce.cu changed after the emulator was built; rebuild it"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void ACubinForAnotherArchitectureHasNoBinaryForTheDevice()
    {
        int other = Device.Backend.Properties.Architecture == 80 ? 90 : 80;
        var image = EmulatedDevice.Compile(EmulatedDevice.PlantedSource, "planted_faults.cu", other);
        var failure = Assert.Throws<CudaException>(() => CudaModule.Load(Device.Backend.Context, image, $"planted_faults.cu for sm_{other}").Dispose())!;
        Assert.That(failure.Result, Is.EqualTo(CUresult.CUDA_ERROR_NO_BINARY_FOR_GPU));
    }
}
