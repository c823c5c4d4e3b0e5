using LZN.Native.Backends;
using LZN.Tests.Backends;

namespace LZN.Tests.Zones;

/// <summary>
/// Base of the zone fixtures, which run on every backend of <see cref="BackendCases.All"/> (a device backend
/// joins there with category GPU and ignores itself without a device).
/// </summary>
public abstract class ZoneBackendFixture(BackendCase backendCase) : BackendTestBase(backendCase)
{
    protected FloatBuffer Upload(double[] values) => Backend.FromHost(Array.ConvertAll(values, v => (float)v));

    protected IntBuffer Upload(int[] values) => Backend.FromHost(values);

    protected static double[] Download(FloatBuffer buffer) => Array.ConvertAll(buffer.ToArray(), v => (double)v);
}
