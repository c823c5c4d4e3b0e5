using System.Text;

namespace LZN.Native.Nn;

/// <summary>How a layer's weight is drawn; biases and normalisation shifts start at 0, scales at 1.</summary>
public enum WeightInit
{
    /// <summary>U(-b, b), b = sqrt(6 / fanIn): He/Kaiming, variance 2 / fanIn, for layers followed by (Si/Re)LU.</summary>
    Kaiming,

    /// <summary>U(-b, b), b = sqrt(6 / (fanIn + fanOut)): Glorot/Xavier, for output layers.</summary>
    Xavier,

    /// <summary>All zeros (e.g. a residual branch's last layer).</summary>
    Zero,
}

/// <summary>Seeded weight initialisation from the backend's Philox stream, one independent stream per parameter name.</summary>
public static class Initialization
{
    /// <summary>Fills <paramref name="parameter"/> per <paramref name="init"/>; the draws depend only on (seed, parameter name).</summary>
    public static void Fill(Parameter parameter, WeightInit init, int fanIn, int fanOut, ulong seed)
    {
        double bound = init switch
        {
            WeightInit.Kaiming => Math.Sqrt(6.0 / fanIn),
            WeightInit.Xavier => Math.Sqrt(6.0 / (fanIn + fanOut)),
            WeightInit.Zero => 0,
            _ => throw new ArgumentOutOfRangeException(nameof(init), init, null),
        };
        if (bound == 0)
            parameter.Backend.Fill(parameter.Value, 0f);
        else
            parameter.Backend.FillUniform(parameter.Value, StreamKey(seed, parameter.Name), 0, (float)-bound, (float)bound);
    }

    /// <summary>The Philox key of one parameter: the seed mixed with a 64-bit FNV-1a hash of its name.</summary>
    public static ulong StreamKey(ulong seed, string name)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(name))
            hash = (hash ^ b) * 1099511628211UL;
        return seed ^ hash;
    }
}
