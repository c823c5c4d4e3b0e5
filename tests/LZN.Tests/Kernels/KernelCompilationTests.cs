using System.Text;
using LZN.Native.Interop.Cuda;
using LZN.Native.Kernels;

namespace LZN.Tests.Kernels;

public class KernelCompilationTests
{
    private static readonly KernelTarget Compute90 = new(90, KernelImageKind.Ptx);

    [Test]
    public void EveryKernelFileInTheRepositoryIsEmbedded()
    {
        string folder = Path.Combine(RepositoryRoot(), "kernels");
        var onDisk = Directory.GetFiles(folder).Select(Path.GetFileName)
            .Where(name => name!.EndsWith(".cu", StringComparison.Ordinal) || name.EndsWith(".cuh", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToArray();
        var embedded = KernelSources.SourceFiles.Concat(KernelSources.Headers.Keys).Order(StringComparer.Ordinal).ToArray();
        Assert.That(embedded, Is.EqualTo(onDisk));
        Assert.That(KernelSources.Headers.Keys, Does.Contain("common.cuh"));
    }

    [Test]
    public void EveryEmbeddedKernelFileCompilesToCompute90Ptx()
    {
        NvrtcRequirement.EnsureLoaded();
        var compiler = new KernelCompiler(cache: null);
        int compiled = 0;
        foreach (string file in KernelSources.SourceFiles)
        {
            string ptx = Encoding.UTF8.GetString(compiler.Compile(file, Compute90)).TrimEnd('\0');
            Assert.That(ptx, Does.Contain(".target sm_90"), file);
            Assert.That(ptx, Does.Contain(".entry"), $"{file} defines no kernel");
            compiled++;
        }
        var (major, minor) = KernelCompiler.NvrtcVersion;
        TestContext.Out.WriteLine($"NVRTC {major}.{minor} compiled {compiled} kernel files to compute_90 PTX: {string.Join(", ", KernelSources.SourceFiles)}");
        int onDisk = Directory.GetFiles(Path.Combine(RepositoryRoot(), "kernels"), "*.cu").Length;
        Assert.That(compiled, Is.EqualTo(onDisk));
        Assert.That(compiled, Is.GreaterThanOrEqualTo(3));
    }

    // Every function the CUDA backend launches must exist under its unmangled name.
    [TestCase("elementwise.cu", "fill_float", "fill_int", "axpby", "multiply", "scale_shift", "activation_forward", "activation_backward", "add_row_vector")]
    [TestCase("reduce.cu", "sum_partials", "sum_final", "column_sums", "row_sums", "softmax_rows")]
    [TestCase("random.cu", "fill_normal", "fill_uniform", "fill_bernoulli")]
    [TestCase("latent_zone.cu", "zone_row_dots", "zone_squared_norms", "zone_forward_tiles_64", "zone_forward_tiles_128", "zone_forward_tiles_256",
        "zone_forward_combine", "zone_forward_probabilities", "zone_backward_points_tiles_64", "zone_backward_points_tiles_128",
        "zone_backward_points_tiles_256", "zone_backward_points_combine", "zone_backward_anchors_tiles_64",
        "zone_backward_anchors_tiles_128", "zone_backward_anchors_tiles_256", "zone_backward_anchors_combine")]
    [TestCase("nn.cu", "im2col", "col2im", "transpose_leading", "group_norm_forward", "group_norm_backward_input",
        "group_norm_backward_params", "upsample2x_forward", "upsample2x_backward", "add_channel_bias", "channel_bias_backward",
        "sinusoidal_embedding", "copy_columns", "gather_rows", "one_hot")]
    [TestCase("optim.cu", "adam_step", "ema_update")]
    [TestCase("flow_matching.cu", "rf_training_pair", "rf_squared_error_partials", "rf_scaled_error_partials", "rf_sum_partials")]
    public void BackendKernelsAreExportedUnmangled(string file, params string[] functions)
    {
        NvrtcRequirement.EnsureLoaded();
        string ptx = Encoding.UTF8.GetString(new KernelCompiler(cache: null).Compile(file, Compute90));
        foreach (string function in functions)
            Assert.That(ptx, Does.Contain($".entry {function}("), $"{file}: {function}");
    }

    [Test]
    public void CubinModeProducesAnElfImageForSm90()
    {
        NvrtcRequirement.EnsureLoaded();
        byte[] cubin = new KernelCompiler(cache: null).Compile("random.cu", new KernelTarget(90, KernelImageKind.Cubin));
        Assert.That(cubin[..4], Is.EqualTo("\u007fELF"u8.ToArray()));
    }

    [Test]
    public void ABrokenSourceThrowsNvrtcCompileExceptionWithFileNameOptionsAndLog()
    {
        NvrtcRequirement.EnsureLoaded();
        const string source = "#include \"common.cuh\"\nextern \"C\" __global__ void broken(float* x) { x[0] = undefined_symbol_xyz; }\n";
        var compiler = new KernelCompiler(cache: null);
        var error = Assert.Throws<NvrtcCompileException>(() => compiler.Compile("broken.cu", source, KernelSources.Headers, Compute90))!;
        Assert.That(error.FileName, Is.EqualTo("broken.cu"));
        Assert.That(error.Log, Does.Contain("undefined_symbol_xyz"));
        Assert.That(error.Options, Does.Contain("--gpu-architecture=compute_90"));
        Assert.That(error.Message, Does.Contain("broken.cu").And.Contain("undefined_symbol_xyz").And.Contain("-std=c++17"));
    }

    [Test]
    public void AMissingHeaderIsACompileError()
    {
        NvrtcRequirement.EnsureLoaded();
        const string source = "#include \"common.cuh\"\nextern \"C\" __global__ void k(float* x) { x[0] = 1.0f; }\n";
        var compiler = new KernelCompiler(cache: null);
        var error = Assert.Throws<NvrtcCompileException>(() => compiler.Compile("k.cu", source, new Dictionary<string, string>(), Compute90))!;
        Assert.That(error.Log, Does.Contain("common.cuh"));
    }

    [Test]
    public void AnUnknownArchitectureIsAnNvrtcErrorNamingTheCall()
    {
        NvrtcRequirement.EnsureLoaded();
        var compiler = new KernelCompiler(cache: null);
        var error = Assert.Throws<NvrtcException>(() => compiler.Compile("elementwise.cu", new KernelTarget(12, KernelImageKind.Ptx)))!;
        Assert.That(error.Result, Is.EqualTo(nvrtcResult.NVRTC_ERROR_INVALID_OPTION));
        Assert.That(error.Message, Does.Contain("nvrtcCompileProgram").And.Contain("NVRTC_ERROR_INVALID_OPTION"));
    }

    [Test]
    public void SupportedArchitecturesIncludeHopper()
    {
        NvrtcRequirement.EnsureLoaded();
        Assert.That(KernelCompiler.SupportedArchitectures, Does.Contain(90));
        Assert.That(KernelCompiler.SupportedArchitectures, Is.Ordered);
    }

    internal static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "LZN.Native.sln")))
                return folder.FullName;
        }
        throw new InvalidOperationException($"No LZN.Native.sln above {TestContext.CurrentContext.TestDirectory}.");
    }
}
