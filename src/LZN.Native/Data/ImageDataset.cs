namespace LZN.Native.Data;

/// <summary>
/// Labelled images in memory: pixels scaled to [-1, 1] as float32, one image per row,
/// [count, channels * height * width] with each row laid out as <see cref="ImageShape"/> describes.
/// </summary>
public sealed class ImageDataset
{
    /// <param name="name">Where the data came from, for messages.</param>
    /// <param name="images">[count, shape.Size] values in [-1, 1].</param>
    /// <param name="labels">[count] class indices in [0, classCount).</param>
    public ImageDataset(string name, ImageShape shape, float[] images, int[] labels, int classCount)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (shape.Height <= 0 || shape.Width <= 0 || shape.Channels <= 0)
            throw new ArgumentException($"{name}: image shape {shape} must be positive in every dimension.", nameof(shape));
        if (images.LongLength != (long)labels.Length * shape.Size)
            throw new ArgumentException($"{name}: {images.LongLength} pixel values do not make {labels.Length} images of {shape}.", nameof(images));
        if (classCount <= 0)
            throw new ArgumentOutOfRangeException(nameof(classCount), classCount, $"{name}: the class count must be positive.");
        foreach (int label in labels)
        {
            if ((uint)label >= (uint)classCount)
                throw new ArgumentException($"{name}: label {label} is outside [0, {classCount}).", nameof(labels));
        }
        Name = name;
        Shape = shape;
        Images = images;
        Labels = labels;
        ClassCount = classCount;
    }

    public string Name { get; }

    public ImageShape Shape { get; }

    /// <summary>[count, Shape.Size] pixel values in [-1, 1].</summary>
    public float[] Images { get; }

    /// <summary>[count] class indices.</summary>
    public int[] Labels { get; }

    public int ClassCount { get; }

    public int Count => Labels.Length;

    /// <summary>The pixels of one image: [Shape.Size].</summary>
    public ReadOnlySpan<float> Image(int index) => Images.AsSpan(checked(index * Shape.Size), Shape.Size);

    /// <summary>Scales bytes 0..255 to [-1, 1] (x / 127.5 - 1), the range the flow models are trained on.</summary>
    public static float ScalePixel(byte value) => value / 127.5f - 1.0f;

    /// <summary>
    /// Builds a dataset from byte pixels ([count, shape.Size]) and byte labels; the class count is the largest
    /// label + 1, or <paramref name="classCount"/> when given (a test split may lack the top class).
    /// </summary>
    public static ImageDataset FromBytes(string name, ImageShape shape, ReadOnlySpan<byte> pixels, ReadOnlySpan<byte> labels, int? classCount = null)
    {
        var images = new float[pixels.Length]; // [count, shape.Size]
        for (int i = 0; i < pixels.Length; i++)
            images[i] = ScalePixel(pixels[i]);
        var intLabels = new int[labels.Length]; // [count]
        int largest = -1;
        for (int i = 0; i < labels.Length; i++)
        {
            intLabels[i] = labels[i];
            largest = Math.Max(largest, labels[i]);
        }
        return new ImageDataset(name, shape, images, intLabels, classCount ?? Math.Max(largest + 1, 1));
    }

    /// <summary>The first <paramref name="limit"/> images (all of them when there are fewer), for quick runs.</summary>
    public ImageDataset Take(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        if (limit >= Count)
            return this;
        return new ImageDataset($"{Name} (first {limit})", Shape, Images[..(limit * Shape.Size)], Labels[..limit], ClassCount);
    }

    /// <summary>Copies the images and labels at <paramref name="indices"/> into a batch, in that order.</summary>
    /// <param name="indices">[batchSize] image indices.</param>
    /// <param name="images">[batchSize, Shape.Size] destination.</param>
    /// <param name="labels">[batchSize] destination.</param>
    public void Gather(ReadOnlySpan<int> indices, Span<float> images, Span<int> labels)
    {
        int size = Shape.Size;
        if (images.Length != indices.Length * size || labels.Length != indices.Length)
        {
            throw new ArgumentException(
                $"a batch of {indices.Length} needs {indices.Length * size} image values and {indices.Length} labels; got {images.Length} and {labels.Length}.");
        }
        for (int row = 0; row < indices.Length; row++)
        {
            Image(indices[row]).CopyTo(images.Slice(row * size, size));
            labels[row] = Labels[indices[row]];
        }
    }
}
