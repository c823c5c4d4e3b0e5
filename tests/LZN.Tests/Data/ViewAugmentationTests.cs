using LZN.Native.Data;

namespace LZN.Tests.Data;

public class ViewAugmentationTests
{
    private static readonly ImageShape Shape = new(28, 28, 1);

    private static float[] Images(int rows) => SyntheticImages.Generate(rows, 10, Shape, seed: 4).Images;

    [Test]
    public void NoAugmentationLeavesTheImagesAlone()
    {
        var images = Images(3);
        var copy = (float[])images.Clone();
        ViewAugmentation.Parse([])!.Apply(images, 3, Shape, key: 9, firstCounter: 0);
        Assert.That(images, Is.EqualTo(copy));
    }

    [TestCase("crop")]
    [TestCase("flip")]
    [TestCase("affine")]
    [TestCase("jitter")]
    [TestCase("erase")]
    [TestCase("noise")]
    public void EachAugmentationChangesSomeImagesAndDependsOnlyOnKeyAndCounter(string name)
    {
        var augmentation = ViewAugmentation.Parse([name])!;
        var images = Images(16);
        var once = (float[])images.Clone();
        augmentation.Apply(once, 16, Shape, key: 9, firstCounter: 100);
        Assert.That(once, Is.Not.EqualTo(images), $"{name} changes the batch");
        Assert.That(once.All(float.IsFinite), Is.True);
        if (name != "noise")
            Assert.That(once.All(value => value is >= -1f and <= 1f), Is.True, $"{name} stays in the pixel range");

        // Image 5 of the batch, augmented alone at its own counter, comes out the same.
        var alone = images.AsSpan(5 * Shape.Size, Shape.Size).ToArray();
        augmentation.Apply(alone, 1, Shape, key: 9, firstCounter: 105);
        Assert.That(alone, Is.EqualTo(once.AsSpan(5 * Shape.Size, Shape.Size).ToArray()));
        var otherKey = (float[])images.Clone();
        augmentation.Apply(otherKey, 16, Shape, key: 10, firstCounter: 100);
        Assert.That(otherKey, Is.Not.EqualTo(once), "another key draws other augmentations");
    }

    [Test]
    public void AFlipAloneMirrorsEachImageOrLeavesIt()
    {
        var images = Images(16);
        var flipped = (float[])images.Clone();
        ViewAugmentation.Parse(["flip"])!.Apply(flipped, 16, Shape, key: 3, firstCounter: 0);
        int mirrored = 0;
        for (int row = 0; row < 16; row++)
        {
            var source = images.AsSpan(row * Shape.Size, Shape.Size);
            var output = flipped.AsSpan(row * Shape.Size, Shape.Size);
            bool same = source.SequenceEqual(output);
            bool mirror = true;
            for (int y = 0; y < 28 && mirror; y++)
            {
                for (int x = 0; x < 28; x++)
                    mirror &= Math.Abs(output[y * 28 + x] - source[y * 28 + 27 - x]) < 1e-6f;
            }
            Assert.That(same || mirror, Is.True, $"image {row}");
            mirrored += mirror && !same ? 1 : 0;
        }
        Assert.That(mirrored, Is.InRange(3, 13), "about half are flipped");
    }

    [Test]
    public void NamesAreParsedStrictly()
    {
        Assert.That(ViewAugmentation.Parse(["crop", "flip"]), Is.EqualTo(new ViewAugmentation(true, true, false, false, false, false)));
        Assert.That(ViewAugmentation.Parse(["crop", "crop"]), Is.Null);
        Assert.That(ViewAugmentation.Parse(["Crop"]), Is.Null);
        Assert.That(ViewAugmentation.Parse(ViewAugmentation.DefaultNames)!.Noise, Is.False);
    }
}
