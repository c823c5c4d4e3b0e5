using System.Globalization;

namespace LZN.Native.IO;

/// <summary>
/// Finds the first value that is NaN, infinite or beyond a magnitude bound, and names it the way a user reads an
/// array: by its multi-index in the array's shape ([3, 17]) rather than by its offset in memory.
/// </summary>
public static class FiniteValues
{
    /// <summary>
    /// The flat index of the first element that is not finite or whose magnitude exceeds <paramref name="maxMagnitude"/>;
    /// -1 when there is none.
    /// </summary>
    public static long FirstOutside(ReadOnlySpan<float> values, float maxMagnitude = float.MaxValue)
    {
        for (int i = 0; i < values.Length; i++)
        {
            // !(|x| <= bound) is also true for NaN.
            if (!(Math.Abs(values[i]) <= maxMagnitude))
                return i;
        }
        return -1;
    }

    /// <summary>The flat index of the first element that is NaN or infinite; -1 when there is none.</summary>
    public static long FirstNonFinite(ReadOnlySpan<double> values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]))
                return i;
        }
        return -1;
    }

    /// <summary>"[3, 17]" for flat index 3 * 24 + 17 of shape [.., 24]; "[i]" for a 1-D or empty shape.</summary>
    public static string FormatIndex(long flatIndex, IReadOnlyList<int> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Count <= 1)
            return string.Create(CultureInfo.InvariantCulture, $"[{flatIndex}]");
        var index = new long[shape.Count];
        long rest = flatIndex;
        for (int axis = shape.Count - 1; axis >= 0; axis--)
        {
            int size = Math.Max(shape[axis], 1);
            index[axis] = rest % size;
            rest /= size;
        }
        return "[" + string.Join(", ", index.Select(i => i.ToString(CultureInfo.InvariantCulture))) + "]";
    }

    /// <summary>What one value is, for a message: "is NaN", "is +Infinity", "is 1E+20".</summary>
    public static string DescribeValue(float value) =>
        float.IsNaN(value) ? "is NaN"
        : float.IsInfinity(value) ? (value > 0 ? "is +Infinity" : "is -Infinity")
        : string.Create(CultureInfo.InvariantCulture, $"is {value:G6}");
}
