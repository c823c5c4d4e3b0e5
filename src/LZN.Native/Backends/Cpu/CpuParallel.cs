namespace LZN.Native.Backends.Cpu;

/// <summary>Splits long element runs and many-row matrices into Parallel.For work; small work stays on the caller.</summary>
internal static class CpuParallel
{
    /// <summary>Elements below which threading costs more than it saves.</summary>
    public const int Threshold = 1 << 16;

    /// <summary>Runs body(start, count) over [0, length) in chunks: one chunk when small, a few per core when large.</summary>
    public static void ForChunks(int length, Action<int, int> body)
    {
        if (length < Threshold || Environment.ProcessorCount == 1)
        {
            body(0, length);
            return;
        }
        // Chunks are multiples of 64 elements so every vector loop but the last sees no tail.
        int chunk = Math.Max(Threshold / 4, (length / (4 * Environment.ProcessorCount) + 63) & ~63);
        int chunks = (length + chunk - 1) / chunk;
        Parallel.For(0, chunks, index =>
        {
            int start = index * chunk;
            body(start, Math.Min(chunk, length - start));
        });
    }

    /// <summary>Runs body(firstRow, rowCount) over row ranges of a [rows, cols] matrix, in parallel when it is large.</summary>
    public static void ForRows(int rows, int cols, Action<int, int> body)
    {
        long elements = (long)rows * cols;
        if (elements < Threshold || rows == 1 || Environment.ProcessorCount == 1)
        {
            body(0, rows);
            return;
        }
        int rowsPerChunk = Math.Max(1, (int)Math.Min(rows, Math.Max(Threshold / 4 / Math.Max(cols, 1), rows / (4 * Environment.ProcessorCount))));
        int chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        Parallel.For(0, chunks, index =>
        {
            int first = index * rowsPerChunk;
            body(first, Math.Min(rowsPerChunk, rows - first));
        });
    }
}
