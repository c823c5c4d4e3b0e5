using LZN.Native.Backends;

namespace LZN.Native.Metrics;

/// <summary>
/// k-nearest-neighbour classification by cosine similarity (docs/metrics.md, "Representation metrics"): every feature row
/// is scaled to unit length, similarities of a tile of queries to the whole bank come from one GEMM on the backend, and
/// each query takes the majority class of its k most similar bank rows (a tie goes to the class whose tied neighbours are
/// more similar in sum, then to the lower class).
/// </summary>
public static class NearestNeighbours
{
    public const int DefaultK = 20;

    /// <summary>The largest k: a query's k best live on the stack.</summary>
    public const int MaxK = 1024;

    /// <summary>Queries per similarity tile: [tile, bankCount] floats stay below 2^28 values.</summary>
    private static int Tile(int bankCount) => Math.Max(1, Math.Min(1024, (1 << 28) / Math.Max(1, bankCount)));

    /// <param name="bank">[bankCount, dim]</param>
    /// <param name="bankLabels">[bankCount]</param>
    /// <param name="queries">[queryCount, dim]</param>
    /// <returns>The predicted class of every query [queryCount].</returns>
    public static int[] Classify(IBackend backend, float[] bank, int[] bankLabels, float[] queries, int dim, int classCount, int k = DefaultK)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(bank);
        ArgumentNullException.ThrowIfNull(bankLabels);
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        int bankCount = bankLabels.Length, queryCount = queries.Length / dim;
        if (bank.Length != (long)bankCount * dim || queries.Length != (long)queryCount * dim)
            throw new ArgumentException($"bank and queries must be [count, {dim}] ({bankCount} bank labels).", nameof(bank));
        if (k < 1 || k > Math.Min(bankCount, MaxK))
            throw new ArgumentOutOfRangeException(nameof(k), k, $"k must lie in [1, {Math.Min(bankCount, MaxK)}] (at most the bank's size and {MaxK}).");
        using var bankBuffer = backend.FromHost(UnitRows(bank, dim)); // [bankCount, dim]
        float[] unitQueries = UnitRows(queries, dim); // [queryCount, dim]
        int tile = Tile(bankCount);
        using var queryBuffer = backend.AllocateFloat((long)Math.Min(tile, Math.Max(queryCount, 1)) * dim); // [tile, dim]
        using var similarities = backend.AllocateFloat((long)Math.Min(tile, Math.Max(queryCount, 1)) * bankCount); // [tile, bankCount]
        var hostSimilarities = new float[similarities.Length]; // [tile, bankCount]
        var predictions = new int[queryCount];
        for (int first = 0; first < queryCount; first += tile)
        {
            int rows = Math.Min(tile, queryCount - first);
            var rowsQueries = queryBuffer.Slice(0, (long)rows * dim);
            var rowsSimilarities = similarities.Slice(0, (long)rows * bankCount);
            backend.Upload(unitQueries.AsSpan(first * dim, rows * dim), rowsQueries);
            backend.Gemm(false, true, rows, bankCount, dim, 1f, rowsQueries, dim, bankBuffer, dim, 0f, rowsSimilarities, bankCount);
            backend.Download(rowsSimilarities, hostSimilarities.AsSpan(0, rows * bankCount));
            Parallel.For(0, rows, row =>
                predictions[first + row] = Vote(hostSimilarities.AsSpan(row * bankCount, bankCount), bankLabels, classCount, k));
        }
        return predictions;
    }

    /// <summary>Fraction of <paramref name="queryLabels"/> that <see cref="Classify"/> gets right; NaN for no queries.</summary>
    public static double Accuracy(IBackend backend, float[] bank, int[] bankLabels, float[] queries, int[] queryLabels, int dim, int classCount, int k = DefaultK)
    {
        ArgumentNullException.ThrowIfNull(queryLabels);
        var predicted = Classify(backend, bank, bankLabels, queries, dim, classCount, k);
        return queryLabels.Length == 0 ? double.NaN : ClassificationMetrics.Accuracy(predicted, queryLabels);
    }

    /// <summary>The majority class of the k largest similarities (ties: larger summed similarity, then the lower class).</summary>
    private static int Vote(ReadOnlySpan<float> similarities, int[] labels, int classCount, int k)
    {
        // The k best so far, sorted descending; a bank row enters when it beats the worst of them.
        Span<float> best = stackalloc float[k];
        Span<int> bestIndex = stackalloc int[k];
        best.Fill(float.NegativeInfinity);
        bestIndex.Fill(-1);
        for (int j = 0; j < similarities.Length; j++)
        {
            float value = similarities[j];
            if (!(value > best[k - 1]))
                continue;
            int position = k - 1;
            while (position > 0 && value > best[position - 1])
            {
                best[position] = best[position - 1];
                bestIndex[position] = bestIndex[position - 1];
                position--;
            }
            best[position] = value;
            bestIndex[position] = j;
        }
        Span<int> votes = stackalloc int[classCount];
        Span<double> weight = stackalloc double[classCount];
        votes.Clear();
        weight.Clear();
        for (int i = 0; i < k && bestIndex[i] >= 0; i++)
        {
            votes[labels[bestIndex[i]]]++;
            weight[labels[bestIndex[i]]] += best[i];
        }
        int winner = 0;
        for (int c = 1; c < classCount; c++)
        {
            if (votes[c] > votes[winner] || (votes[c] == votes[winner] && weight[c] > weight[winner]))
                winner = c;
        }
        return winner;
    }

    /// <summary>Each row divided by its length (float64 sums); an all-zero row stays zero.</summary>
    private static float[] UnitRows(float[] rows, int dim)
    {
        var unit = new float[rows.Length];
        for (long start = 0; start < rows.Length; start += dim)
        {
            double sum = 0;
            for (int j = 0; j < dim; j++)
                sum += (double)rows[start + j] * rows[start + j];
            double scale = sum > 0 ? 1 / Math.Sqrt(sum) : 0;
            for (int j = 0; j < dim; j++)
                unit[start + j] = (float)(rows[start + j] * scale);
        }
        return unit;
    }
}
