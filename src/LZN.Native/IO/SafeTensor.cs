using System.Runtime.InteropServices;

namespace LZN.Native.IO;

/// <summary>Element types this project stores in safetensors files (names as in the format's header).</summary>
public enum TensorDType
{
    F32,
    F64,
    I32,
    I64,
    U8,
}

/// <summary>
/// One named tensor of a safetensors file: a dtype, a shape (outermost first, C order) and its raw
/// little-endian bytes. Empty shape = a scalar (one element).
/// </summary>
public sealed class SafeTensor
{
    public SafeTensor(string name, TensorDType dtype, int[] shape, byte[] data)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        long count = ElementCountOf(shape, name);
        if (data.LongLength != count * SizeOf(dtype))
        {
            throw new ArgumentException(
                $"tensor '{name}': shape {FormatShape(shape)} of {dtype} needs {count * SizeOf(dtype)} bytes, got {data.LongLength}.", nameof(data));
        }
        Name = name;
        DType = dtype;
        Shape = shape;
        Data = data;
    }

    public string Name { get; }

    public TensorDType DType { get; }

    public int[] Shape { get; }

    /// <summary>The elements as little-endian bytes, C order.</summary>
    public byte[] Data { get; }

    public long ElementCount => Data.LongLength / SizeOf(DType);

    public static SafeTensor FromFloat32(string name, ReadOnlySpan<float> values, params int[] shape) => From(name, TensorDType.F32, values, shape);

    public static SafeTensor FromFloat64(string name, ReadOnlySpan<double> values, params int[] shape) => From(name, TensorDType.F64, values, shape);

    public static SafeTensor FromInt32(string name, ReadOnlySpan<int> values, params int[] shape) => From(name, TensorDType.I32, values, shape);

    public static SafeTensor FromInt64(string name, ReadOnlySpan<long> values, params int[] shape) => From(name, TensorDType.I64, values, shape);

    public static SafeTensor FromUInt8(string name, ReadOnlySpan<byte> values, params int[] shape) => From(name, TensorDType.U8, values, shape);

    public float[] ToFloat32() => As<float>(TensorDType.F32);

    public double[] ToFloat64() => As<double>(TensorDType.F64);

    public int[] ToInt32() => As<int>(TensorDType.I32);

    public long[] ToInt64() => As<long>(TensorDType.I64);

    public byte[] ToUInt8() => As<byte>(TensorDType.U8);

    /// <summary>Bytes per element.</summary>
    public static int SizeOf(TensorDType dtype) => dtype switch
    {
        TensorDType.F32 or TensorDType.I32 => 4,
        TensorDType.F64 or TensorDType.I64 => 8,
        TensorDType.U8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    public static string FormatShape(IEnumerable<int> shape) => "[" + string.Join(", ", shape) + "]";

    internal static long ElementCountOf(int[] shape, string name)
    {
        long count = 1;
        foreach (int dimension in shape)
        {
            if (dimension < 0)
                throw new ArgumentException($"tensor '{name}': shape {FormatShape(shape)} has a negative dimension.", nameof(shape));
            count = checked(count * dimension);
        }
        return count;
    }

    private static SafeTensor From<T>(string name, TensorDType dtype, ReadOnlySpan<T> values, int[] shape)
        where T : unmanaged
    {
        var data = MemoryMarshal.AsBytes(values).ToArray();
        EnsureLittleEndian();
        return new SafeTensor(name, dtype, shape, data);
    }

    private T[] As<T>(TensorDType dtype)
        where T : unmanaged
    {
        if (DType != dtype)
            throw new InvalidOperationException($"tensor '{Name}' holds {DType}, not {dtype}.");
        EnsureLittleEndian();
        return MemoryMarshal.Cast<byte, T>(Data).ToArray();
    }

    // The format is little-endian and raw copies keep the code short; every platform .NET targets here is little-endian.
    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors I/O needs a little-endian machine.");
    }
}
