using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Backends.Cuda;

namespace LZN.Tests.Cuda;

/// <summary>The reference CPU backend and a CUDA backend side by side, with mirrored buffers.</summary>
internal sealed class BackendPair : IDisposable
{
    private ulong _seed = 1000;

    public BackendPair(CudaBackend cuda) => Cuda = cuda;

    public CpuBackend Cpu { get; } = new();

    public CudaBackend Cuda { get; }

    /// <summary>Fresh N(0, scale^2) values (a new seed on each call), on both backends.</summary>
    public (FloatBuffer Cpu, FloatBuffer Cuda) Random(long length, float scale = 1.0f)
    {
        ulong seed = _seed++;
        var values = new float[length];
        for (int i = 0; i < values.Length; i++)
            values[i] = scale * Philox.Normal(seed, (ulong)i);
        return (Cpu.FromHost(values), Cuda.FromHost(values));
    }

    /// <summary>NaN-filled outputs, so an element an operation forgets to write cannot pass.</summary>
    public (FloatBuffer Cpu, FloatBuffer Cuda) Poisoned(long length)
    {
        var values = new float[length];
        Array.Fill(values, float.NaN);
        return (Cpu.FromHost(values), Cuda.FromHost(values));
    }

    /// <summary>|cuda - cpu| &lt;= absolute + relative * |cpu| elementwise, and no NaN on either side.</summary>
    public static void AssertClose((FloatBuffer Cpu, FloatBuffer Cuda) pair, double absolute, double relative, string what)
    {
        float[] expected = pair.Cpu.ToArray();
        float[] actual = pair.Cuda.ToArray();
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        double worst = 0;
        int worstIndex = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.That(float.IsNaN(expected[i]), Is.False, $"{what}: CPU reference is NaN at {i}");
            double excess = Math.Abs(actual[i] - (double)expected[i]) - (absolute + relative * Math.Abs(expected[i]));
            if (float.IsNaN(actual[i]) || excess > worst)
            {
                worst = float.IsNaN(actual[i]) ? double.PositiveInfinity : excess;
                worstIndex = i;
            }
        }
        Assert.That(worstIndex, Is.EqualTo(-1),
            () => $"{what}: element {worstIndex} is {actual[worstIndex]} on CUDA, {expected[worstIndex]} on the CPU");
    }

    public void Dispose()
    {
        Cpu.Dispose();
        Cuda.Dispose();
    }
}
