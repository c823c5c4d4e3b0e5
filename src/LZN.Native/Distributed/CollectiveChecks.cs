using LZN.Native.Backends;

namespace LZN.Native.Distributed;

/// <summary>Argument checks every collective shares: a wrong length would otherwise corrupt another rank's memory.</summary>
internal static class CollectiveChecks
{
    /// <summary>
    /// Checks that <paramref name="local"/> holds rank <paramref name="rank"/>'s rows and <paramref name="all"/> every
    /// rank's rows, <paramref name="rowLength"/> floats each; returns the elements of every rank [worldSize].
    /// </summary>
    public static int[] Elements(FloatBuffer local, FloatBuffer all, IReadOnlyList<int> rowCounts, int rank, int worldSize, int rowLength)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(all);
        ArgumentNullException.ThrowIfNull(rowCounts);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowLength);
        if (rowCounts.Count != worldSize)
            throw new ArgumentException($"{rowCounts.Count} row counts for {worldSize} ranks.", nameof(rowCounts));
        var elements = new int[worldSize];
        long total = 0;
        for (int r = 0; r < worldSize; r++)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(rowCounts[r], nameof(rowCounts));
            elements[r] = checked(rowCounts[r] * rowLength);
            total += elements[r];
        }
        if (local.Length != elements[rank])
            throw new ArgumentException($"this rank's rows hold {local.Length} floats; expected {rowCounts[rank]} x {rowLength}.", nameof(local));
        if (all.Length != total)
            throw new ArgumentException($"all ranks' rows hold {all.Length} floats; expected {total / rowLength} x {rowLength}.", nameof(all));
        return elements;
    }
}
