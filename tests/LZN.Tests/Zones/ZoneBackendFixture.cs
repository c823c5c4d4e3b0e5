using LZN.Native.Backends;
using LZN.Tests.Backends;

namespace LZN.Tests.Zones;

/// <summary>
/// Base of the zone fixtures, which run on every backend of <see cref="BackendCases.All"/> (a device backend
/// joins there with category GPU and ignores itself without a device). Outputs start poisoned with NaN.
/// </summary>
public abstract class ZoneBackendFixture(BackendCase backendCase) : BackendTestBase(backendCase)
{
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
