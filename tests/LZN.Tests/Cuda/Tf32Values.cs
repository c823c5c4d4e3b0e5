namespace LZN.Tests.Cuda;

/// <summary>TF32 (10 mantissa bits) on the host: the tests' mirrors of the device's two conversions. Inf and NaN stay.</summary>
internal static class Tf32Values
{
    /// <summary>cvt.rna.tf32.f32 and zone_gemm_split_3xtf32's hi: to nearest, ties away from zero.</summary>
    public static float RoundToNearest(float value) => Convert(value, 0x1000u);

    /// <summary>What tensor cores read of an fp32 operand: its 10 leading mantissa bits.</summary>
    public static float Truncate(float value) => Convert(value, 0u);

    private static float Convert(float value, uint half)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (bits & 0x7f800000u) == 0x7f800000u ? value : BitConverter.UInt32BitsToSingle((bits + half) & 0xffffe000u);
    }
}
