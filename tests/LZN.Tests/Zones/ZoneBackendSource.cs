using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Backends.Cuda;
using NUnit.Framework.Internal;

namespace LZN.Tests.Zones;

/// <summary>A named way to create a backend; <see cref="Create"/> returns null when its device is absent.</summary>
public sealed class BackendCase(string name, Func<IBackend?> create)
{
    public string Name { get; } = name;

    public Func<IBackend?> Create { get; } = create;

    public override string ToString() => Name;
}

/// <summary>
/// The backends the zone test bodies run on. Each entry is one fixture instance; a device backend is added
/// as another entry with category GPU whose factory returns null without a device (the fixture then
/// reports Ignored).
/// </summary>
public static class ZoneBackendSource
{
    public static IEnumerable<TestFixtureData> Fixtures()
    {
        yield return new TestFixtureData(new BackendCase("Cpu", () => new CpuBackend())).SetArgDisplayNames("Cpu");
        var cuda = new TestFixtureData(new BackendCase("Cuda", () => CudaBackend.TryCreate(0, out var backend, out _) ? backend : null))
            .SetArgDisplayNames("Cuda");
        cuda.Properties.Add(PropertyNames.Category, "GPU");
        yield return cuda;
    }
}

/// <summary>Base of the backend-parameterised zone fixtures: creates the backend once, poisons outputs.</summary>
public abstract class ZoneBackendFixture(BackendCase backendCase)
{
    private IBackend? _backend;

    protected IBackend Backend => _backend ?? throw new InvalidOperationException("Backend not created.");

    [OneTimeSetUp]
    public void CreateBackend()
    {
        _backend = backendCase.Create();
        if (_backend is null)
            Assert.Ignore($"No {backendCase.Name} device on this machine.");
    }

    [OneTimeTearDown]
    public void DisposeBackend() => _backend?.Dispose();

    protected FloatBuffer Upload(double[] values) => Backend.FromHost(Array.ConvertAll(values, v => (float)v));

    protected IntBuffer Upload(int[] values) => Backend.FromHost(values);

    /// <summary>An output buffer filled with NaN, so an element a kernel forgets to write fails the comparison.</summary>
    protected FloatBuffer Poisoned(long length)
    {
        var buffer = Backend.AllocateFloat(length);
        Backend.Fill(buffer, float.NaN);
        return buffer;
    }

    protected static double[] Download(FloatBuffer buffer) => Array.ConvertAll(buffer.ToArray(), v => (double)v);
}
