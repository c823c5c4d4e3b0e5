using LZN.Native.Data;
using LZN.Native.IO;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace LZN.Tests.IO;

public class ImageGridTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("lzn-grid-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void GrayscaleGridRoundTripsThroughPng()
    {
        // 2 rows x 3 columns of 2x2 images; image k holds values k/5*2-1 rising left to right by 0.1.
        var shape = new ImageShape(Height: 2, Width: 2, Channels: 1);
        var images = new float[6 * 4];
        for (int k = 0; k < 6; k++)
        {
            for (int i = 0; i < 4; i++)
                images[k * 4 + i] = k / 5f * 2 - 1 + (i == 3 ? 0.1f : 0f);
        }
        string path = Path.Combine(_folder, "grid.png");

        ImageGrid.WritePng(path, images, rows: 2, columns: 3, shape);

        using var png = Image.Load<L8>(path);
        Assert.That((png.Width, png.Height), Is.EqualTo((3 * 2 + 2, 2 * 2 + 1)));
        Assert.That(png.Metadata.GetPngMetadata().ColorType, Is.EqualTo(SixLabors.ImageSharp.Formats.Png.PngColorType.Grayscale));
        for (int row = 0; row < 2; row++)
        {
            for (int column = 0; column < 3; column++)
            {
                int k = row * 3 + column;
                int left = column * 3, top = row * 3;
                Assert.That(png[left, top].PackedValue, Is.EqualTo(ImageGrid.ToByte(images[k * 4])), $"cell ({row}, {column}) top-left");
                Assert.That(png[left + 1, top + 1].PackedValue, Is.EqualTo(ImageGrid.ToByte(images[k * 4 + 3])), $"cell ({row}, {column}) bottom-right");
            }
        }
        Assert.That(png[2, 0].PackedValue, Is.EqualTo(ImageGrid.SeparatorLevel), "vertical separator");
        Assert.That(png[0, 2].PackedValue, Is.EqualTo(ImageGrid.SeparatorLevel), "horizontal separator");
        Assert.That(png[0, 0].PackedValue, Is.Zero, "-1 is black");
        Assert.That(png[7, 4].PackedValue, Is.EqualTo(255), "+1 (clamped from 1.1) is white");
    }

    [Test]
    public void RgbGridUpscalesAndKeepsChannels()
    {
        // One 1x2 planar RGB image: pixel 0 is red, pixel 1 is (0, mid, blue).
        var shape = new ImageShape(Height: 1, Width: 2, Channels: 3);
        float[] image = [1f, -1f, /* green */ -1f, 0f, /* blue */ -1f, 1f];
        string path = Path.Combine(_folder, "rgb.png");

        ImageGrid.WritePng(path, image, rows: 1, columns: 1, shape, scale: 3);

        using var png = Image.Load<Rgb24>(path);
        Assert.That((png.Width, png.Height), Is.EqualTo((6, 3)));
        for (int y = 0; y < 3; y++)
        {
            Assert.That(png[2, y], Is.EqualTo(new Rgb24(255, 0, 0)));
            Assert.That(png[3, y], Is.EqualTo(new Rgb24(0, 128, 255)));
        }
    }

    [Test]
    public void ClassGridPutsEachClassOnItsOwnRow()
    {
        // Labels 1, 0, 1, 1: class 0 has one image (second cell black), class 1 keeps its first two.
        var dataset = ImageDataset.FromBytes("four", new ImageShape(1, 1, 1), pixels: [10, 20, 30, 40], labels: [1, 0, 1, 1]);
        string path = Path.Combine(_folder, "classes.png");

        ImageGrid.WriteClassGrid(path, dataset, perClass: 2);

        using var png = Image.Load<L8>(path);
        Assert.That((png.Width, png.Height), Is.EqualTo((3, 3)));
        Assert.That(new[] { png[0, 0].PackedValue, png[2, 0].PackedValue, png[0, 2].PackedValue, png[2, 2].PackedValue },
            Is.EqualTo(new byte[] { 20, 0, 10, 30 }));
    }

    [Test]
    public void MapsValuesToBytesWithClampingAndNaNAsBlack()
    {
        Assert.That(new[] { -1f, 0f, 1f, -3f, 7f, float.NaN, 0.5f }.Select(ImageGrid.ToByte),
            Is.EqualTo(new byte[] { 0, 128, 255, 0, 255, 0, 191 }));
    }

    [Test]
    public void RejectsAWrongValueCountOrChannelCount()
    {
        string path = Path.Combine(_folder, "bad.png");
        Assert.That(() => ImageGrid.WritePng(path, new float[7], 2, 2, new ImageShape(1, 2, 1)), Throws.ArgumentException.With.Message.Contains("needs 8 values"));
        Assert.That(() => ImageGrid.WritePng(path, new float[8], 1, 1, new ImageShape(1, 2, 4)), Throws.ArgumentException.With.Message.Contains("not 4"));
        Assert.That(File.Exists(path), Is.False);
    }
}
