using LZN.Native.Data;

namespace LZN.Tests.Data;

/// <summary>Training-time flips and translations: exact against a direct per-pixel reference, deterministic, well spread.</summary>
public class ImageAugmentationTests
{
    private static readonly ImageShape Shape = new(Height: 5, Width: 7, Channels: 2);

    private static float[] Batch(int rows) => [.. Enumerable.Range(0, rows * Shape.Size).Select(i => (float)(i % 97) / 50 - 0.9f)];

    /// <summary>The definition, pixel by pixel: out(c, y, x) = flipped(in)(c, y + dy, x + dx), outside = fill.</summary>
    private static float Reference(float[] batch, int row, int channel, int y, int x, (bool Flip, int ShiftX, int ShiftY) draw, float fill)
    {
        int sourceY = y + draw.ShiftY, sourceX = x + draw.ShiftX;
        if (sourceY < 0 || sourceY >= Shape.Height || sourceX < 0 || sourceX >= Shape.Width)
            return fill;
        int column = draw.Flip ? Shape.Width - 1 - sourceX : sourceX;
        return batch[row * Shape.Size + channel * Shape.Height * Shape.Width + sourceY * Shape.Width + column];
    }

    [Test]
    public void EveryPixelMatchesTheReference()
    {
        var augmentation = new ImageAugmentation(FlipHorizontal: true, MaxShift: 2);
        const int rows = 40;
        var original = Batch(rows);
        var augmented = (float[])original.Clone();
        augmentation.Apply(augmented, rows, Shape, key: 77, firstCounter: 1000);
        for (int row = 0; row < rows; row++)
        {
            var draw = augmentation.Draw(77, 1000 + (ulong)row);
            for (int channel = 0; channel < Shape.Channels; channel++)
            {
                for (int y = 0; y < Shape.Height; y++)
                {
                    for (int x = 0; x < Shape.Width; x++)
                    {
                        float actual = augmented[row * Shape.Size + channel * Shape.Height * Shape.Width + y * Shape.Width + x];
                        Assert.That(actual, Is.EqualTo(Reference(original, row, channel, y, x, draw, -1f)), $"row {row} c {channel} y {y} x {x} draw {draw}");
                    }
                }
            }
        }
    }

    [Test]
    public void DrawsAreDeterministicBoundedAndSpread()
    {
        var augmentation = new ImageAugmentation(FlipHorizontal: true, MaxShift: 2);
        var draws = Enumerable.Range(0, 4000).Select(i => augmentation.Draw(5, (ulong)i)).ToArray();
        Assert.That(draws, Is.EqualTo(Enumerable.Range(0, 4000).Select(i => augmentation.Draw(5, (ulong)i))));
        Assert.That(draws.Count(d => d.Flip), Is.InRange(1800, 2200), "about half flipped");
        foreach (int shift in Enumerable.Range(-2, 5))
        {
            Assert.That(draws.Count(d => d.ShiftX == shift), Is.InRange(650, 950), $"x offset {shift}");
            Assert.That(draws.Count(d => d.ShiftY == shift), Is.InRange(650, 950), $"y offset {shift}");
        }
        Assert.That(draws.Select(d => augmentation.Draw(6, 0)).Distinct().Count(), Is.EqualTo(1));
        Assert.That(Enumerable.Range(0, 64).Select(i => augmentation.Draw(6, (ulong)i)), Is.Not.EqualTo(draws.Take(64)), "another key, other draws");
    }

    [Test]
    public void NoAugmentationAndFlipOnlyBehave()
    {
        var original = Batch(6);
        var copy = (float[])original.Clone();
        ImageAugmentation.None.Apply(copy, 6, Shape, 1, 0);
        Assert.That(copy, Is.EqualTo(original));

        var flipOnly = new ImageAugmentation(FlipHorizontal: true, MaxShift: 0);
        flipOnly.Apply(copy, 6, Shape, 3, 0);
        flipOnly.Apply(copy, 6, Shape, 3, 0);
        Assert.That(copy, Is.EqualTo(original), "the same draws flip each image back");
        Assert.That(() => ImageAugmentation.None.Apply(new float[5], 1, Shape, 0, 0), Throws.ArgumentException.With.Message.Contains("expected 1 x 70"));
    }
}
