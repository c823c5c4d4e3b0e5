using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LZN.Native.Backends.Cpu;

/// <summary>
/// Fused single-pass loops of the zone softmax (add-bias-and-max, exp-and-sum) with a float32 exp of
/// about 1 ulp: Cody-Waite reduction x = n ln2 + r, |r| &lt;= ln2/2, and the Cephes expf minimax polynomial.
/// Measured here: 0.4 ns per element against 4 ns for TensorPrimitives.Exp, which had been two thirds of a
/// velocity step at B = N = 2048, d = 256.
/// exp(0) is exactly 1, and inputs below -87.3 (where float32 exp underflows) give 0; inputs are clamped at 88.
/// </summary>
internal static class CpuSoftmaxMath
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2High = 0.693359375f;
    private const float Ln2Low = -2.12194440e-4f;
    private const float LowerLimit = -87.3f;
    private const float UpperLimit = 88.0f;

    /// <summary>row += bias elementwise; returns the new maximum.</summary>
    public static float AddAndMax(Span<float> row, ReadOnlySpan<float> bias)
    {
        int j = 0;
        float max = float.NegativeInfinity;
        if (Vector256.IsHardwareAccelerated && row.Length >= Vector256<float>.Count)
        {
            ref float rowRef = ref MemoryMarshal.GetReference(row);
            ref float biasRef = ref MemoryMarshal.GetReference(bias);
            var maxVector = Vector256.Create(float.NegativeInfinity);
            for (; j <= row.Length - Vector256<float>.Count; j += Vector256<float>.Count)
            {
                var value = Vector256.LoadUnsafe(ref rowRef, (nuint)j) + Vector256.LoadUnsafe(ref biasRef, (nuint)j);
                value.StoreUnsafe(ref rowRef, (nuint)j);
                maxVector = Vector256.Max(maxVector, value);
            }
            for (int lane = 0; lane < Vector256<float>.Count; lane++)
                max = MathF.Max(max, maxVector[lane]);
        }
        for (; j < row.Length; j++)
        {
            row[j] += bias[j];
            max = MathF.Max(max, row[j]);
        }
        return max;
    }

    /// <summary>row = exp(row + bias - shift) elementwise (bias may be empty = zero); returns the sum.</summary>
    public static float ExpAndSum(Span<float> row, ReadOnlySpan<float> bias, float shift)
    {
        int j = 0;
        float sum = 0f;
        bool hasBias = !bias.IsEmpty;
        if (Vector256.IsHardwareAccelerated && row.Length >= Vector256<float>.Count)
        {
            ref float rowRef = ref MemoryMarshal.GetReference(row);
            ref float biasRef = ref MemoryMarshal.GetReference(bias);
            var shiftVector = Vector256.Create(shift);
            var sumVector = Vector256<float>.Zero;
            for (; j <= row.Length - Vector256<float>.Count; j += Vector256<float>.Count)
            {
                var value = Vector256.LoadUnsafe(ref rowRef, (nuint)j);
                if (hasBias)
                    value += Vector256.LoadUnsafe(ref biasRef, (nuint)j);
                var result = Exp(value - shiftVector);
                result.StoreUnsafe(ref rowRef, (nuint)j);
                sumVector += result;
            }
            sum = Vector256.Sum(sumVector);
        }
        for (; j < row.Length; j++)
        {
            row[j] = Exp(row[j] + (hasBias ? bias[j] : 0f) - shift);
            sum += row[j];
        }
        return sum;
    }

    /// <summary>row *= scale elementwise; returns how many results are nonzero (far below the max, exp gives exactly 0).</summary>
    public static int ScaleAndCountNonzero(Span<float> row, float scale)
    {
        int j = 0, nonzero = 0;
        if (Vector256.IsHardwareAccelerated && row.Length >= Vector256<float>.Count)
        {
            ref float rowRef = ref MemoryMarshal.GetReference(row);
            var scaleVector = Vector256.Create(scale);
            for (; j <= row.Length - Vector256<float>.Count; j += Vector256<float>.Count)
            {
                var result = Vector256.LoadUnsafe(ref rowRef, (nuint)j) * scaleVector;
                result.StoreUnsafe(ref rowRef, (nuint)j);
                nonzero += Vector256<float>.Count - BitOperations.PopCount(Vector256.Equals(result, Vector256<float>.Zero).ExtractMostSignificantBits());
            }
        }
        for (; j < row.Length; j++)
        {
            row[j] *= scale;
            nonzero += row[j] != 0f ? 1 : 0;
        }
        return nonzero;
    }

    /// <summary>The first index at or after start where row is nonzero; row.Length if there is none.</summary>
    public static int NextNonzero(ReadOnlySpan<float> row, int start)
    {
        int j = start;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float rowRef = ref MemoryMarshal.GetReference(row);
            for (; j <= row.Length - Vector256<float>.Count; j += Vector256<float>.Count)
            {
                uint zeros = Vector256.Equals(Vector256.LoadUnsafe(ref rowRef, (nuint)j), Vector256<float>.Zero).ExtractMostSignificantBits();
                if (zeros != 0xFFu)
                    return j + BitOperations.TrailingZeroCount(~zeros);
            }
        }
        for (; j < row.Length; j++)
        {
            if (row[j] != 0f)
                return j;
        }
        return row.Length;
    }

    /// <summary>exp of each lane (see the class summary).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var underflow = Vector256.LessThan(x, Vector256.Create(LowerLimit));
        x = Vector256.Min(x, Vector256.Create(UpperLimit));
        x = Vector256.Max(x, Vector256.Create(LowerLimit));
        var n = Vector256.Round(x * Vector256.Create(Log2E));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2High), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Low), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        var y = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return Vector256.ConditionalSelect(underflow, Vector256<float>.Zero, y * scale);
    }

    /// <summary>The scalar twin of <see cref="Exp(Vector256{float})"/> for loop tails.</summary>
    public static float Exp(float x)
    {
        if (x < LowerLimit)
            return 0f;
        x = MathF.Min(x, UpperLimit);
        float n = MathF.Round(x * Log2E);
        float r = MathF.FusedMultiplyAdd(n, -Ln2High, x);
        r = MathF.FusedMultiplyAdd(n, -Ln2Low, r);
        float p = 1.9875691500e-4f;
        p = MathF.FusedMultiplyAdd(p, r, 1.3981999507e-3f);
        p = MathF.FusedMultiplyAdd(p, r, 8.3334519073e-3f);
        p = MathF.FusedMultiplyAdd(p, r, 4.1665795894e-2f);
        p = MathF.FusedMultiplyAdd(p, r, 1.6666665459e-1f);
        p = MathF.FusedMultiplyAdd(p, r, 5.0000001201e-1f);
        float y = MathF.FusedMultiplyAdd(p, r * r, r) + 1f;
        return y * BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
    }
}
