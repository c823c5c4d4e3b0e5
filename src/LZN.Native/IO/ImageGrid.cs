using LZN.Native.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace LZN.Native.IO;

/// <summary>
/// Writes a grid of images to PNG: rows (one per class, say) by columns (samples), 1-pixel separators between
/// cells, each image optionally upscaled by pixel repetition. Values in [-1, 1] map linearly to 0..255
/// (clamped; NaN shows as black so a diverged sample is visible rather than fatal). One channel gives a
/// grayscale PNG, three an RGB one. Written atomically (temporary file, then rename).
/// </summary>
public static class ImageGrid
{
    /// <summary>The separator level: mid-gray, visible against both black and white backgrounds.</summary>
    public const byte SeparatorLevel = 128;

    /// <param name="images">[rows * columns, shape.Size] planar images; cell (row, column) is image row * columns + column.</param>
    /// <param name="scale">Each image pixel becomes a scale x scale block.</param>
    public static void WritePng(string path, ReadOnlySpan<float> images, int rows, int columns, ImageShape shape, int scale = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(scale);
        if (shape.Channels is not (1 or 3))
            throw new ArgumentException($"PNG grids take 1 (grayscale) or 3 (RGB) channels, not {shape.Channels}.", nameof(shape));
        if (images.Length != (long)rows * columns * shape.Size)
            throw new ArgumentException($"a {rows}x{columns} grid of {shape} images needs {(long)rows * columns * shape.Size} values, got {images.Length}.", nameof(images));
        var (width, height) = GridSize(rows, columns, shape, scale);
        byte[] rgb = Render(images, rows, columns, shape, scale, width, height); // [height, width, 3]
        if (shape.Channels == 1)
        {
            var gray = new byte[width * height]; // [height, width]
            for (int i = 0; i < gray.Length; i++)
                gray[i] = rgb[3 * i];
            Save(path, Image.LoadPixelData<L8>(gray, width, height), PngColorType.Grayscale);
        }
        else
        {
            Save(path, Image.LoadPixelData<Rgb24>(rgb, width, height), PngColorType.Rgb);
        }
    }

    /// <summary>
    /// Writes a preview of a dataset: row k holds the first <paramref name="perClass"/> images of class k
    /// (in dataset order); a class with fewer images leaves its remaining cells black.
    /// </summary>
    public static void WriteClassGrid(string path, ImageDataset dataset, int perClass, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perClass);
        int size = dataset.Shape.Size;
        var cells = new float[dataset.ClassCount * perClass * size]; // [classCount * perClass, size]
        cells.AsSpan().Fill(-1f);
        var filled = new int[dataset.ClassCount]; // [classCount] cells used per row
        for (int n = 0; n < dataset.Count; n++)
        {
            int label = dataset.Labels[n];
            if (filled[label] == perClass)
                continue;
            dataset.Image(n).CopyTo(cells.AsSpan((label * perClass + filled[label]) * size, size));
            filled[label]++;
        }
        WritePng(path, cells, dataset.ClassCount, perClass, dataset.Shape, scale);
    }

    /// <summary>Pixel size of a grid: cells of (size * scale) with 1-pixel separators between them.</summary>
    public static (int Width, int Height) GridSize(int rows, int columns, ImageShape shape, int scale) =>
        (columns * shape.Width * scale + (columns - 1), rows * shape.Height * scale + (rows - 1));

    /// <summary>Maps a model value in [-1, 1] to a byte, rounding to nearest (halves to even).</summary>
    public static byte ToByte(float value) =>
        float.IsNaN(value) ? (byte)0 : (byte)MathF.Round((Math.Clamp(value, -1f, 1f) + 1f) * 127.5f);

    private static byte[] Render(ReadOnlySpan<float> images, int rows, int columns, ImageShape shape, int scale, int width, int height)
    {
        var rgb = new byte[width * height * 3]; // [height, width, 3]
        rgb.AsSpan().Fill(SeparatorLevel);
        int planeSize = shape.Height * shape.Width;
        for (int row = 0; row < rows; row++)
        {
            for (int column = 0; column < columns; column++)
            {
                var image = images.Slice((row * columns + column) * shape.Size, shape.Size);
                int top = row * (shape.Height * scale + 1), left = column * (shape.Width * scale + 1);
                for (int y = 0; y < shape.Height * scale; y++)
                {
                    for (int x = 0; x < shape.Width * scale; x++)
                    {
                        int source = (y / scale) * shape.Width + x / scale;
                        int target = ((top + y) * width + left + x) * 3;
                        for (int channel = 0; channel < 3; channel++)
                        {
                            // Grayscale repeats its single plane into all three colour channels.
                            int plane = shape.Channels == 1 ? 0 : channel;
                            rgb[target + channel] = ToByte(image[plane * planeSize + source]);
                        }
                    }
                }
            }
        }
        return rgb;
    }

    private static void Save<TPixel>(string path, Image<TPixel> image, PngColorType colorType)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        using (image)
        {
            var encoder = new PngEncoder { ColorType = colorType, BitDepth = PngBitDepth.Bit8 };
            AtomicFile.Write(path, stream => image.Save(stream, encoder));
        }
    }
}
