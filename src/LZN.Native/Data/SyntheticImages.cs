using LZN.Native.Backends;

namespace LZN.Native.Data;

/// <summary>
/// A small labelled image set for smoke runs, any size and class count, with no files. Class k is a bright
/// Gaussian blob centred on a circle at angle 2*pi*k/classCount, its radius growing with k; each image
/// jitters the centre by up to a tenth of the image and adds a little noise. Labels cycle 0, 1, ..., so the
/// classes are balanced. Everything is drawn from Philox under the seed, so a seed always gives the same set.
/// </summary>
public static class SyntheticImages
{
    public static ImageDataset Generate(int count, int classCount, ImageShape shape, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        if (shape.Height <= 0 || shape.Width <= 0 || shape.Channels <= 0)
            throw new ArgumentException($"image shape {shape} must be positive in every dimension.", nameof(shape));
        int size = shape.Size;
        var images = new float[(long)count * size]; // [count, channels * height * width]
        var labels = new int[count]; // [count]
        float extent = Math.Min(shape.Height, shape.Width);
        // Philox counters: 2 per image for the jitter, and from 2^48 on one per pixel value for the noise.
        const ulong noiseCounters = 1UL << 48;
        for (int n = 0; n < count; n++)
        {
            int label = n % classCount;
            labels[n] = label;
            ulong counter = (ulong)n * 2;
            double angle = 2 * Math.PI * label / classCount;
            float centreY = shape.Height / 2f + 0.28f * extent * (float)Math.Sin(angle) + 0.1f * extent * (Philox.Uniform(seed, counter) - 0.5f);
            float centreX = shape.Width / 2f + 0.28f * extent * (float)Math.Cos(angle) + 0.1f * extent * (Philox.Uniform(seed, counter + 1) - 0.5f);
            float sigma = extent * (0.06f + 0.08f * label / classCount);
            var image = images.AsSpan(n * size, size);
            for (int channel = 0; channel < shape.Channels; channel++)
            {
                // Colour images tint each channel differently per class, so colour is informative too.
                float gain = shape.Channels == 1 ? 1f : 0.5f + 0.5f * MathF.Cos((float)angle + 2.1f * channel);
                for (int y = 0; y < shape.Height; y++)
                {
                    for (int x = 0; x < shape.Width; x++)
                    {
                        float dy = y + 0.5f - centreY, dx = x + 0.5f - centreX;
                        float blob = gain * MathF.Exp(-(dy * dy + dx * dx) / (2 * sigma * sigma));
                        int index = (channel * shape.Height + y) * shape.Width + x;
                        float noise = 0.05f * Philox.Normal(seed, noiseCounters + (ulong)n * (ulong)size + (ulong)index);
                        image[index] = Math.Clamp(2 * blob - 1 + noise, -1f, 1f);
                    }
                }
            }
        }
        return new ImageDataset($"synthetic ({count} images of {shape}, {classCount} classes, seed {seed})", shape, images, labels, classCount);
    }
}
