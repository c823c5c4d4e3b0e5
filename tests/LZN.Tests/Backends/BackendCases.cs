using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Interop;
using LZN.Tests.Cuda;
using NUnit.Framework.Internal;

namespace LZN.Tests.Backends;

/// <summary>A named way to build a backend; a factory that cannot run here calls Assert.Ignore.</summary>
public sealed class BackendCase(string name, Func<IBackend> create)
{
    public string Name { get; } = name;

    public IBackend Create() => create();

    public override string ToString() => Name;
}

/// <summary>
/// The backends every op fixture runs on ([TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]).
/// A backend that needs hardware joins with a category (e.g. "GPU") and a factory that ignores when absent.
/// </summary>
public static class BackendCases
{
    public static IEnumerable<TestFixtureData> All()
    {
        yield return Case("CpuOpenBlas", () =>
        {
            if (!OpenBlasInfo.IsAvailable)
                Assert.Ignore(OpenBlasInfo.Describe());
            return new CpuBackend(CpuGemmProvider.OpenBlas);
        });
        yield return Case("CpuManaged", () => new CpuBackend(CpuGemmProvider.Managed));
        yield return Case("Cuda", CreateCudaOrIgnore, "GPU");
    }

    /// <summary>CUDA device 0; without one the fixture is ignored, or fails where LZN_REQUIRE_CUDA=1.</summary>
    public static IBackend CreateCudaOrIgnore() => CudaRequirement.CreateBackend();

    /// <summary>One fixture argument; <paramref name="category"/> tags every test of that fixture.</summary>
    public static TestFixtureData Case(string name, Func<IBackend> create, string? category = null)
    {
        var data = new TestFixtureData(new BackendCase(name, create)).SetArgDisplayNames(name);
        if (category is not null)
            data.Properties.Add(PropertyNames.Category, category);
        return data;
    }
}

/// <summary>Creates the fixture's backend once and offers host-side helpers shared by the op tests.</summary>
public abstract class BackendTestBase(BackendCase backendCase)
{
    private IBackend? _backend;

    protected IBackend Backend => _backend ?? throw new InvalidOperationException("The backend is created in OneTimeSetUp.");

    [OneTimeSetUp]
    public void CreateBackend() => _backend = backendCase.Create();

    [OneTimeTearDown]
    public void DisposeBackend() => _backend?.Dispose();

    /// <summary>Uniform values in [-scale, scale) from a seeded generator.</summary>
    protected static float[] RandomValues(int length, int seed, float scale = 1)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
            values[i] = scale * (2 * random.NextSingle() - 1);
        return values;
    }

    /// <summary>|actual - expected| <= absolute + relative |expected|, element by element, with the first failure named.</summary>
    protected static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double relative, double absolute, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        for (int i = 0; i < actual.Length; i++)
        {
            double tolerance = absolute + relative * Math.Abs(expected[i]);
            if (!(Math.Abs(actual[i] - expected[i]) <= tolerance))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (tolerance {tolerance:G3}).");
        }
    }
}
