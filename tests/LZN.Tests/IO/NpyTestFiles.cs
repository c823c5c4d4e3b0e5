using System.Buffers.Binary;
using System.Text;

namespace LZN.Tests.IO;

/// <summary>.npy files built byte by byte the way numpy.save lays them out, for tests of what readers accept and refuse.</summary>
internal static class NpyTestFiles
{
    /// <summary>Magic, version, header length, the header padded to 64 bytes and newline-terminated, then the payload.</summary>
    public static byte[] Build(string header, byte[] payload, int major = 1)
    {
        int prefix = major == 1 ? 10 : 12;
        int padding = (64 - (prefix + header.Length + 1) % 64) % 64;
        byte[] headerBytes = Encoding.Latin1.GetBytes(header + new string(' ', padding) + "\n");
        var bytes = new List<byte>();
        bytes.AddRange([0x93, .. "NUMPY"u8.ToArray()]);
        bytes.Add((byte)major);
        bytes.Add(0);
        if (major == 1)
            bytes.AddRange(BitConverter.GetBytes((ushort)headerBytes.Length));
        else
            bytes.AddRange(BitConverter.GetBytes((uint)headerBytes.Length));
        bytes.AddRange(headerBytes);
        bytes.AddRange(payload);
        return [.. bytes];
    }

    /// <summary>A float32 C-order array of <paramref name="shape"/> (values may be anything, NaN included).</summary>
    public static byte[] Float32(int[] shape, params float[] values) =>
        Build($"{{'descr': '<f4', 'fortran_order': False, 'shape': {Shape(shape)}, }}", Floats(values));

    public static string Shape(int[] shape) => shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";

    public static byte[] Doubles(params double[] values)
    {
        var payload = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteDoubleLittleEndian(payload.AsSpan(i * 8), values[i]);
        return payload;
    }

    public static byte[] Floats(params float[] values)
    {
        var payload = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(payload.AsSpan(i * 4), values[i]);
        return payload;
    }
}
