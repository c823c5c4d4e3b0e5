using LZN.Native.Backends;
using LZN.Native.Backends.Cuda;
using LZN.Tests.Zones;

namespace LZN.Tests.Cuda;

/// <summary>
/// gemm-3xtf32's operands (kernels/latent_zone_gemm.cu, zone_gemm_split_3xtf32) against a host mirror of the split,
/// and its product against float64: the split must be exact and the TF32 product of the split as accurate as fp32,
/// where a TF32 product of the plain operands is not (the premise that the device really rounds to TF32, so the
/// gemm-3xtf32 fixtures of <see cref="LZN.Tests.Verification.ZoneKernelVersionTests"/> test the split).
/// </summary>
[Category("GPU")]
public sealed class CudaZoneSplitTests : CudaFixture
{
    private static float Bits(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    /// <summary>
    /// hi is x rounded to TF32 (ties away from zero, carries into the exponent), lo = x - hi exactly, in the points'
    /// [lo | hi | hi] and the anchors' [hi | lo | hi] layouts.
    /// </summary>
    [TestCase(false)]
    [TestCase(true)]
    public void TheSplitIsExactAndRoundsToNearestTiesAway(bool anchorLayout)
    {
        const int rows = 3, dim = 5;
        float[] source =
        [
            1f, -1f, 0f, Bits(0x3f801000u), Bits(0xbf801000u), // exact, exact, zero, a tie up, a negative tie away from zero
            Bits(0x3f800fffu), Bits(0x3fffffffu), float.Epsilon, 3.0e38f, -2.5e-41f, // below the tie, a carry into the exponent, denormals, near the top
            MathF.PI, -MathF.E, 1e-20f, 123456.789f, -0.333333343f,
        ];
        var zones = (CudaZoneKernels)Backend.Zones;
        using var input = Backend.FromHost(source); // [rows, dim]
        using var split = zones.LaunchSplit3xTf32(input, rows, dim, anchorLayout); // [rows, 3 dim]
        float[] result = split.ToArray();
        using (Assert.EnterMultipleScope())
        {
            for (int row = 0; row < rows; row++)
                for (int column = 0; column < dim; column++)
                {
                    float x = source[row * dim + column], hi = Tf32Values.RoundToNearest(x), lo = x - hi;
                    float[] expected = anchorLayout ? [hi, lo, hi] : [lo, hi, hi];
                    for (int block = 0; block < 3; block++)
                        Assert.That(result[row * 3 * dim + block * dim + column], Is.EqualTo(expected[block]), $"x = {x:R}, block {block}");
                    Assert.That(BitConverter.SingleToUInt32Bits(hi) & 0x1fffu, Is.Zero, $"hi of {x:R} has more than 10 mantissa bits");
                    Assert.That((double)hi + lo, Is.EqualTo((double)x), $"hi + lo of {x:R}");
                }
            Assert.That(Tf32Values.RoundToNearest(Bits(0x3f801000u)), Is.EqualTo(Bits(0x3f802000u)), "a tie rounds away from zero");
            Assert.That(Tf32Values.RoundToNearest(Bits(0x3fffffffu)), Is.EqualTo(2f), "rounding carries into the exponent");
        }
    }

    /// <summary>
    /// x . a over d = 256 Gaussian dims, relative to |x||a| against float64: fp32 and the TF32 product of the split
    /// within 1e-7 (both measure about 2e-8), the TF32 product of the plain operands above 1e-5 (it measures 8e-5:
    /// TF32 keeps 11 significant bits).
    /// </summary>
    [Test]
    public void TheSplitProductKeepsFp32AccuracyWherePlainTf32DoesNot()
    {
        const int rows = 16, anchorCount = 24, dim = 256;
        float[] points = Array.ConvertAll(ZoneTestData.Normal(rows * dim, seed: 7), v => (float)v);
        float[] anchors = Array.ConvertAll(ZoneTestData.Normal(anchorCount * dim, seed: 8), v => (float)v);
        var zones = (CudaZoneKernels)Backend.Zones;
        using var x = Backend.FromHost(points); // [rows, dim]
        using var a = Backend.FromHost(anchors); // [anchorCount, dim]
        using var splitX = zones.LaunchSplit3xTf32(x, rows, dim, anchorLayout: false); // [rows, 3 dim]
        using var splitA = zones.LaunchSplit3xTf32(a, anchorCount, dim, anchorLayout: true); // [anchorCount, 3 dim]
        using var dots = Backend.AllocateFloat(rows * anchorCount); // [rows, anchorCount]

        double WorstError(Action product)
        {
            product();
            float[] result = dots.ToArray();
            double worst = 0;
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < anchorCount; j++)
                {
                    double exact = 0, normX = 0, normA = 0;
                    for (int k = 0; k < dim; k++)
                    {
                        exact += (double)points[i * dim + k] * anchors[j * dim + k];
                        normX += (double)points[i * dim + k] * points[i * dim + k];
                        normA += (double)anchors[j * dim + k] * anchors[j * dim + k];
                    }
                    worst = Math.Max(worst, Math.Abs(result[i * anchorCount + j] - exact) / Math.Sqrt(normX * normA));
                }
            return worst;
        }

        double fp32 = WorstError(() => Backend.Gemm(false, true, rows, anchorCount, dim, 1f, x, dim, a, dim, 0f, dots, anchorCount));
        double split = WorstError(() => Backend.GemmFastTf32(false, true, rows, anchorCount, 3 * dim, 1f, splitX, 3 * dim, splitA, 3 * dim, 0f, dots, anchorCount));
        double plain = WorstError(() => Backend.GemmFastTf32(false, true, rows, anchorCount, dim, 1f, x, dim, a, dim, 0f, dots, anchorCount));
        TestContext.Out.WriteLine($"worst |x.a - exact| / (|x||a|): fp32 {fp32:0.00e+00}, 3xTF32 {split:0.00e+00}, plain TF32 {plain:0.00e+00}");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(fp32, Is.LessThan(1e-7), "fp32");
            Assert.That(split, Is.LessThan(1e-7), "3xTF32");
            Assert.That(plain, Is.GreaterThan(1e-5), "plain TF32 (the premise: the device rounds TF32 operands)");
        }
    }
}
