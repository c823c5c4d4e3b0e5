using System.Buffers.Binary;
using System.IO.Compression;

namespace LZN.Tests.Data;

/// <summary>Writes IDX files byte by byte the way the MNIST distribution lays them out.</summary>
internal static class IdxTestFiles
{
    public static byte[] ImageBytes(int count, int height, int width, Func<int, byte>? pixel = null)
    {
        var bytes = new byte[16 + count * height * width];
        BinaryPrimitives.WriteInt32BigEndian(bytes, 0x00000803);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), height);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), width);
        for (int i = 0; i < count * height * width; i++)
            bytes[16 + i] = pixel?.Invoke(i) ?? (byte)(i * 7 % 256);
        return bytes;
    }

    public static byte[] LabelBytes(params byte[] labels)
    {
        var bytes = new byte[8 + labels.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, 0x00000801);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), labels.Length);
        labels.CopyTo(bytes, 8);
        return bytes;
    }

    public static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
            gzip.Write(bytes);
        return output.ToArray();
    }

    /// <summary>A complete MNIST-style folder: train and t10k images (height x width) and labels.</summary>
    public static void WriteFolder(string folder, byte[] trainLabels, byte[] testLabels, int height = 5, int width = 4, bool gzip = false)
    {
        Directory.CreateDirectory(folder);
        string suffix = gzip ? ".gz" : "";
        Write(Path.Combine(folder, "train-images-idx3-ubyte" + suffix), ImageBytes(trainLabels.Length, height, width), gzip);
        Write(Path.Combine(folder, "train-labels-idx1-ubyte" + suffix), LabelBytes(trainLabels), gzip);
        Write(Path.Combine(folder, "t10k-images-idx3-ubyte" + suffix), ImageBytes(testLabels.Length, height, width), gzip);
        Write(Path.Combine(folder, "t10k-labels-idx1-ubyte" + suffix), LabelBytes(testLabels), gzip);
    }

    private static void Write(string path, byte[] bytes, bool gzip) => File.WriteAllBytes(path, gzip ? Gzip(bytes) : bytes);
}
