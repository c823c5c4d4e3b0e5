using LZN.Native.Backends;

namespace LZN.Native.Data;

/// <summary>
/// The augmentations that make the two views of the representation task, chosen for 28x28 grayscale images
/// (docs/training.md, "The representation task"): a random resized crop (area 40-100% of the image, aspect 3/4-4/3,
/// resampled bilinearly to full size), a horizontal flip, a small rotation (up to 12 degrees), brightness and contrast
/// jitter, random erasing of one rectangle and Gaussian pixel noise. Colour jitter of RGB images and blur have no
/// counterpart at this size. Image j of a batch draws everything from the Philox blocks at counters
/// 4 (firstCounter + j) + b, b = 0..3, under the view's key (its pixel noise from its own counters), so a view depends
/// only on (key, step, the row's index in the global batch) and a resumed or sharded run repeats it exactly.
/// </summary>
public sealed record ViewAugmentation(bool Crop, bool Flip, bool Rotate, bool Jitter, bool Erase, bool Noise)
{
    /// <summary>The names of the augmentations, in the order they are applied.</summary>
    public static IReadOnlyList<string> Names { get; } = ["crop", "flip", "affine", "jitter", "erase", "noise"];

    /// <summary>The representation presets' views: everything but pixel noise.</summary>
    public static IReadOnlyList<string> DefaultNames { get; } = ["crop", "flip", "affine", "jitter", "erase"];

    public const double MinCropArea = 0.4;
    public const double MaxRotationDegrees = 12;
    public const float MaxBrightness = 0.3f;
    public const float MaxContrastChange = 0.4f;
    public const double EraseProbability = 0.5;
    public const float NoiseStd = 0.1f;

    /// <summary>Value of pixels sampled from outside the image: black after <see cref="ImageDataset.ScalePixel"/>.</summary>
    public const float Background = -1f;

    /// <summary>The augmentation a list of distinct <see cref="Names"/> describes, or null when a name is unknown or repeated.</summary>
    public static ViewAugmentation? Parse(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (names.Distinct(StringComparer.Ordinal).Count() != names.Count || names.Any(name => !Names.Contains(name)))
            return null;
        bool Has(string name) => names.Contains(name);
        return new ViewAugmentation(Has("crop"), Has("flip"), Has("affine"), Has("jitter"), Has("erase"), Has("noise"));
    }

    /// <summary>Augments <paramref name="rows"/> images [rows, C*H*W] in place; image j uses counters from firstCounter + j.</summary>
    public void Apply(Span<float> images, int rows, ImageShape shape, ulong key, ulong firstCounter)
    {
        if (images.Length != (long)rows * shape.Size)
            throw new ArgumentException($"images hold {images.Length} values; expected {rows} x {shape.Size}.", nameof(images));
        var source = new float[shape.Size]; // [C, H, W]: the image before augmentation
        var draws = new float[16]; // [16] uniforms in [0, 1) of the image's four Philox blocks
        for (int row = 0; row < rows; row++)
        {
            ulong counter = firstCounter + (ulong)row;
            for (int block = 0; block < 4; block++)
            {
                var (r0, r1, r2, r3) = Philox.Generate(key, 4 * counter + (ulong)block);
                draws[4 * block] = Unit(r0);
                draws[4 * block + 1] = Unit(r1);
                draws[4 * block + 2] = Unit(r2);
                draws[4 * block + 3] = Unit(r3);
            }
            var image = images.Slice(row * shape.Size, shape.Size);
            image.CopyTo(source);
            Resample(source, image, shape, draws);
            if (Jitter)
                JitterImage(image, draws[6], draws[7]);
            if (Erase && draws[8] < EraseProbability)
                EraseRectangle(image, shape, draws.AsSpan(9, 5));
            if (Noise)
            {
                for (int i = 0; i < image.Length; i++)
                    image[i] += NoiseStd * Philox.Normal(key ^ NoiseKeySalt, counter * (ulong)shape.Size + (ulong)i);
            }
        }
    }

    // Pixel noise draws one normal per pixel: its own key keeps those counters apart from the four blocks above.
    private const ulong NoiseKeySalt = 0x9E3779B97F4A7C15;

    private static float Unit(uint bits) => (bits >> 8) * (1f / (1 << 24));

    /// <summary>
    /// The geometric part, one bilinear resampling: output pixel (x, y), centred at (u, v), reads the source at
    /// crop centre + R(theta) (s_x u, s_y v), u negated for a flip; outside the image reads <see cref="Background"/>.
    /// </summary>
    private void Resample(float[] source, Span<float> image, ImageShape shape, float[] draws)
    {
        if (!Crop && !Flip && !Rotate)
            return;
        int height = shape.Height, width = shape.Width, plane = height * width;
        double scaleX = 1, scaleY = 1, centreX = width / 2.0, centreY = height / 2.0;
        if (Crop)
        {
            double area = MinCropArea + (1 - MinCropArea) * draws[0], aspect = Math.Exp(Math.Log(4.0 / 3) * (2 * draws[1] - 1));
            scaleX = Math.Min(1, Math.Sqrt(area * aspect));
            scaleY = Math.Min(1, Math.Sqrt(area / aspect));
            centreX = width * (scaleX / 2 + (1 - scaleX) * draws[2]);
            centreY = height * (scaleY / 2 + (1 - scaleY) * draws[3]);
        }
        double angle = Rotate ? MaxRotationDegrees * Math.PI / 180 * (2 * draws[4] - 1) : 0;
        double cos = Math.Cos(angle), sin = Math.Sin(angle), mirror = Flip && draws[5] < 0.5 ? -1 : 1;
        for (int channel = 0; channel < shape.Channels; channel++)
        {
            var input = source.AsSpan(channel * plane, plane);
            for (int y = 0; y < height; y++)
            {
                double v = (y + 0.5 - height / 2.0) * scaleY;
                for (int x = 0; x < width; x++)
                {
                    double u = mirror * (x + 0.5 - width / 2.0) * scaleX;
                    double sourceX = centreX + cos * u - sin * v - 0.5, sourceY = centreY + sin * u + cos * v - 0.5;
                    image[channel * plane + y * width + x] = Bilinear(input, width, height, sourceX, sourceY);
                }
            }
        }
    }

    private static float Bilinear(ReadOnlySpan<float> plane, int width, int height, double x, double y)
    {
        int x0 = (int)Math.Floor(x), y0 = (int)Math.Floor(y);
        double fx = x - x0, fy = y - y0;
        double top = At(plane, width, height, x0, y0) * (1 - fx) + At(plane, width, height, x0 + 1, y0) * fx;
        double bottom = At(plane, width, height, x0, y0 + 1) * (1 - fx) + At(plane, width, height, x0 + 1, y0 + 1) * fx;
        return (float)(top * (1 - fy) + bottom * fy);
    }

    private static float At(ReadOnlySpan<float> plane, int width, int height, int column, int row) =>
        (uint)column < (uint)width && (uint)row < (uint)height ? plane[row * width + column] : Background;

    /// <summary>x' = clamp((x - mean) c + mean + b, -1, 1) with contrast c in 1 +- 0.4 and brightness b in +-0.3.</summary>
    private static void JitterImage(Span<float> image, float contrastDraw, float brightnessDraw)
    {
        float contrast = 1 + MaxContrastChange * (2 * contrastDraw - 1), brightness = MaxBrightness * (2 * brightnessDraw - 1);
        double sum = 0;
        foreach (float value in image)
            sum += value;
        float mean = (float)(sum / image.Length);
        for (int i = 0; i < image.Length; i++)
            image[i] = Math.Clamp((image[i] - mean) * contrast + mean + brightness, -1f, 1f);
    }

    /// <summary>Random erasing: one rectangle of 2-20% of the image (aspect 0.3-3.3) set to a uniform grey level in [-1, 1].</summary>
    private static void EraseRectangle(Span<float> image, ImageShape shape, ReadOnlySpan<float> draws)
    {
        int height = shape.Height, width = shape.Width, plane = height * width;
        double area = (0.02 + 0.18 * draws[0]) * plane, aspect = Math.Exp(Math.Log(0.3) + (Math.Log(3.3) - Math.Log(0.3)) * draws[1]);
        int eraseHeight = Math.Clamp((int)Math.Round(Math.Sqrt(area * aspect)), 1, height), eraseWidth = Math.Clamp((int)Math.Round(Math.Sqrt(area / aspect)), 1, width);
        int top = (int)(draws[2] * (height - eraseHeight + 1)), left = (int)(draws[3] * (width - eraseWidth + 1));
        float level = 2 * draws[4] - 1;
        for (int channel = 0; channel < shape.Channels; channel++)
        {
            for (int y = top; y < top + eraseHeight; y++)
                image.Slice(channel * plane + y * width + left, eraseWidth).Fill(level);
        }
    }
}
