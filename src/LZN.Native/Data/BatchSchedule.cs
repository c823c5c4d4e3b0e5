using LZN.Native.Backends;

namespace LZN.Native.Data;

/// <summary>
/// Deterministic shuffling and batching. Epoch e visits the images in the order <see cref="Permutation"/>
/// gives for (seed, e), cut into consecutive batches; with <see cref="DropLast"/> a short final batch is
/// skipped so every step sees the same batch size.
/// </summary>
public sealed class BatchSchedule
{
    public BatchSchedule(int count, int batchSize, ulong seed, bool dropLast = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (dropLast && count < batchSize)
            throw new ArgumentException($"{count} images cannot fill one batch of {batchSize} when short batches are dropped.", nameof(batchSize));
        Count = count;
        BatchSize = batchSize;
        Seed = seed;
        DropLast = dropLast;
    }

    public int Count { get; }

    public int BatchSize { get; }

    public ulong Seed { get; }

    public bool DropLast { get; }

    public int BatchesPerEpoch => DropLast ? Count / BatchSize : (Count + BatchSize - 1) / BatchSize;

    /// <summary>The batches of one epoch: [BatchesPerEpoch][batchSize] image indices (the last may be short).</summary>
    public IEnumerable<int[]> Batches(int epoch)
    {
        int[] order = Permutation(Count, Seed, epoch);
        for (int batch = 0; batch < BatchesPerEpoch; batch++)
        {
            int start = batch * BatchSize;
            yield return order[start..Math.Min(start + BatchSize, Count)];
        }
    }

    /// <summary>
    /// A seeded permutation of 0..count-1: Fisher-Yates from the top. For i = count-1 down to 1, draw the
    /// Philox4x32-10 block at key <paramref name="seed"/>, counter (epoch &lt;&lt; 32) | i; its first two words
    /// form r = R0 | R1 &lt;&lt; 32, and j = floor(r * (i + 1) / 2^64) (Lemire's multiply-shift, bias below
    /// count / 2^64); then swap positions i and j. Independent of thread count and platform.
    /// </summary>
    public static int[] Permutation(int count, ulong seed, int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        var order = new int[count]; // [count]
        for (int i = 0; i < count; i++)
            order[i] = i;
        ulong epochCounter = (ulong)epoch << 32;
        for (int i = count - 1; i > 0; i--)
        {
            var (r0, r1, _, _) = Philox.Generate(seed, epochCounter | (uint)i);
            ulong r = r0 | ((ulong)r1 << 32);
            int j = (int)(((UInt128)r * (ulong)(i + 1)) >> 64);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
