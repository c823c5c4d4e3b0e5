using System.Buffers.Binary;
using LZN.Tests.Data;

namespace LZN.Tests.Fuzz;

/// <summary>
/// Mutated MNIST-style folders for `lzn eval --data FOLDER` with the base checkpoint (28x28 grayscale, 10 classes): one
/// of the four IDX files changed, each file raw or gzip-compressed. Valid: well-formed files of 28x28 images with
/// labels below 10, image and label counts that agree, and a test split that is not empty.
/// </summary>
internal static class IdxFuzz
{
    private const int TrainCount = 40, TestCount = 12, Side = 28;

    private static readonly string[] Files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    private static readonly string[] Mutations =
    [
        "unchanged", "recompressed", "pixel-flip", "label-flip", "label-flip", "label-out-of-range", "magic", "element-type",
        "dimension-count", "count-changed", "size-changed", "truncate", "append", "empty-test", "gzip-cut", "gzip-flip",
    ];

    public static FuzzCase Generate(int index, Random random)
    {
        var files = new Dictionary<string, byte[]>
        {
            [Files[0]] = IdxTestFiles.ImageBytes(TrainCount, Side, Side, i => (byte)(i * 31 % 251)),
            [Files[1]] = IdxTestFiles.LabelBytes([.. Enumerable.Range(0, TrainCount).Select(i => (byte)(i % 10))]),
            [Files[2]] = IdxTestFiles.ImageBytes(TestCount, Side, Side, i => (byte)(i * 17 % 253)),
            [Files[3]] = IdxTestFiles.LabelBytes([.. Enumerable.Range(0, TestCount).Select(i => (byte)(i % 10))]),
        };
        var gzipped = Files.ToDictionary(name => name, _ => random.Next(3) == 0);
        string mutation = Mutations[random.Next(Mutations.Length)];
        string target = Files[random.Next(Files.Length)];
        bool labels = target.Contains("labels", StringComparison.Ordinal);
        int headerLength = labels ? 8 : 16;
        byte[] bytes = files[target];
        bool valid = false;
        switch (mutation)
        {
            case "unchanged":
                valid = true;
                break;
            case "recompressed":
                gzipped[target] = !gzipped[target];
                valid = true;
                break;
            case "pixel-flip":
            {
                // Every byte is a pixel value, so a flipped pixel is still a valid image.
                target = random.Next(2) == 0 ? Files[0] : Files[2];
                bytes = files[target];
                int at = random.Next(16, bytes.Length);
                bytes[at] ^= (byte)(1 << random.Next(8));
                valid = true;
                break;
            }
            case "label-flip":
            {
                target = random.Next(2) == 0 ? Files[1] : Files[3];
                bytes = files[target];
                int at = random.Next(8, bytes.Length);
                bytes[at] ^= (byte)(1 << random.Next(8));
                valid = bytes[at] < 10;
                break;
            }
            case "label-out-of-range":
            {
                target = random.Next(2) == 0 ? Files[1] : Files[3];
                bytes = files[target];
                bytes[random.Next(8, bytes.Length)] = (byte)random.Next(10, 256);
                break;
            }
            case "magic":
                bytes[random.Next(2)] = (byte)random.Next(1, 256);
                break;
            case "element-type":
                bytes[2] = new byte[] { 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00 }[random.Next(6)];
                break;
            case "dimension-count":
                bytes[3] = (byte)(labels ? new[] { 0, 2, 3 }[random.Next(3)] : new[] { 0, 1, 2, 4 }[random.Next(4)]);
                break;
            case "count-changed":
            {
                int count = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4));
                int changed = new[] { count + 1, count - 1, 0, int.MaxValue, -1, count * 1000 }[random.Next(6)];
                BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), changed);
                break;
            }
            case "size-changed":
            {
                // Another height or width: the pixel count no longer fits, or the images are no longer 28x28.
                if (labels)
                {
                    target = random.Next(2) == 0 ? Files[0] : Files[2];
                    bytes = files[target];
                }
                int field = 8 + 4 * random.Next(2);
                int[] sizes = [14, 56, 27, 0, 1, 65535];
                BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(field), sizes[random.Next(sizes.Length)]);
                if (random.Next(2) == 0)
                {
                    // Same pixel count, other shape (14x56): well-formed, but not what the model takes.
                    BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), 14);
                    BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), 56);
                }
                break;
            }
            case "truncate":
                bytes = bytes[..random.Next(0, bytes.Length)];
                break;
            case "append":
                bytes = [.. bytes, .. NpyFuzz.RandomBytes(random, random.Next(1, 40))];
                break;
            case "empty-test":
                files[Files[2]] = IdxTestFiles.ImageBytes(0, Side, Side);
                files[Files[3]] = IdxTestFiles.LabelBytes();
                target = Files[2];
                bytes = files[target];
                break;
            case "gzip-cut":
                break;
            case "gzip-flip":
                // Image files: long enough to hold deflate data clear of the header and the last block.
                target = random.Next(2) == 0 ? Files[0] : Files[2];
                bytes = files[target];
                break;
            default:
                throw new InvalidOperationException(mutation);
        }
        files[target] = bytes;
        var written = new Dictionary<string, byte[]>();
        foreach (string name in Files)
        {
            bool gzip = gzipped[name] || (name == target && mutation.StartsWith("gzip", StringComparison.Ordinal));
            byte[] content = gzip ? IdxTestFiles.Gzip(files[name]) : files[name];
            if (name == target && mutation == "gzip-cut")
                content = content[..random.Next(0, content.Length)];
            if (name == target && mutation == "gzip-flip")
            {
                // Inside the deflate data, clear of the gzip header and of the last block and trailer: the CRC catches it.
                int at = random.Next(10, content.Length - 32);
                content[at] ^= (byte)(1 << random.Next(8));
            }
            written[gzip ? name + ".gz" : name] = content;
        }
        string[] arguments = ["eval", "--checkpoint", "{shared}/checkpoint.safetensors", "--data", "{case}", "--test-limit", "8", "--device", "cpu"];
        return new FuzzCase(index, "idx (lzn eval --data)", $"{mutation} ({target}{(gzipped[target] ? ".gz" : "")})", valid ? Expectation.Valid : Expectation.Rejected, written, arguments);
    }
}
