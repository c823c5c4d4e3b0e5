using LZN.Native.Backends;

namespace LZN.Native.Data;

/// <summary>
/// Training-time augmentation on the host batch: a random horizontal flip and a random integer translation of up to
/// <see cref="MaxShift"/> pixels each way, vacated pixels filled with <see cref="Fill"/> (-1 = black after
/// <see cref="ImageDataset.ScalePixel"/>). Image j of a batch draws its flip and offsets from one Philox block at
/// counter (firstCounter + j) under the key, so a batch's augmentation depends only on (key, step) and a resumed run
/// repeats it exactly.
/// </summary>
public sealed record ImageAugmentation(bool FlipHorizontal, int MaxShift, float Fill = -1f)
{
    public static ImageAugmentation None { get; } = new(false, 0);

    public bool IsIdentity => !FlipHorizontal && MaxShift == 0;

    /// <summary>The flip and offsets image <paramref name="counter"/> gets: out(y, x) = in(y + ShiftY, x + ShiftX) of the (flipped) image.</summary>
    public (bool Flip, int ShiftX, int ShiftY) Draw(ulong key, ulong counter)
    {
        var (r0, r1, r2, _) = Philox.Generate(key, counter);
        uint span = (uint)(2 * MaxShift + 1);
        return (FlipHorizontal && (r0 & 1) != 0, (int)(r1 % span) - MaxShift, (int)(r2 % span) - MaxShift);
    }

    /// <summary>Augments <paramref name="rows"/> images [rows, C*H*W] in place; image j uses counter firstCounter + j.</summary>
    public void Apply(Span<float> images, int rows, ImageShape shape, ulong key, ulong firstCounter)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxShift);
        if (images.Length != (long)rows * shape.Size)
            throw new ArgumentException($"images hold {images.Length} values; expected {rows} x {shape.Size}.", nameof(images));
        if (IsIdentity)
            return;
        int height = shape.Height, width = shape.Width, plane = height * width;
        var source = new float[shape.Size]; // [C, H, W]: the image before augmentation
        for (int row = 0; row < rows; row++)
        {
            var image = images.Slice(row * shape.Size, shape.Size);
            image.CopyTo(source);
            var (flip, shiftX, shiftY) = Draw(key, firstCounter + (ulong)row);
            for (int channel = 0; channel < shape.Channels; channel++)
            {
                for (int y = 0; y < height; y++)
                {
                    int sourceY = y + shiftY;
                    var output = image.Slice(channel * plane + y * width, width);
                    if ((uint)sourceY >= (uint)height)
                    {
                        output.Fill(Fill);
                        continue;
                    }
                    var input = source.AsSpan(channel * plane + sourceY * width, width);
                    for (int x = 0; x < width; x++)
                    {
                        int sourceX = x + shiftX;
                        output[x] = (uint)sourceX >= (uint)width ? Fill : input[flip ? width - 1 - sourceX : sourceX];
                    }
                }
            }
        }
    }
}
