namespace LZN.Native.Metrics;

/// <summary>Accuracy and confusion matrices of predicted against true class labels.</summary>
public static class ClassificationMetrics
{
    /// <summary>The fraction of positions where <paramref name="predicted"/> equals <paramref name="labels"/>.</summary>
    public static double Accuracy(ReadOnlySpan<int> predicted, ReadOnlySpan<int> labels)
    {
        CheckLengths(predicted, labels);
        int correct = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            if (predicted[i] == labels[i])
                correct++;
        }
        return (double)correct / labels.Length;
    }

    /// <summary>counts[true class, predicted class] [classCount, classCount]; rows sum to each class's support.</summary>
    public static int[,] ConfusionMatrix(ReadOnlySpan<int> predicted, ReadOnlySpan<int> labels, int classCount)
    {
        CheckLengths(predicted, labels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        var counts = new int[classCount, classCount];
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classCount || (uint)predicted[i] >= (uint)classCount)
                throw new ArgumentOutOfRangeException(nameof(labels), $"position {i}: label {labels[i]} or prediction {predicted[i]} lies outside [0, {classCount}).");
            counts[labels[i], predicted[i]]++;
        }
        return counts;
    }

    /// <summary>Per true class, the fraction predicted correctly (recall); NaN for a class with no examples.</summary>
    public static double[] PerClassAccuracy(int[,] confusion)
    {
        ArgumentNullException.ThrowIfNull(confusion);
        int classCount = confusion.GetLength(0);
        var recall = new double[classCount]; // [classCount]
        for (int c = 0; c < classCount; c++)
        {
            long support = 0;
            for (int p = 0; p < classCount; p++)
                support += confusion[c, p];
            recall[c] = support == 0 ? double.NaN : (double)confusion[c, c] / support;
        }
        return recall;
    }

    /// <summary>The index of the largest value in each row of <paramref name="scores"/> [rows, classes] (first on ties).</summary>
    public static int[] ArgMaxRows(ReadOnlySpan<float> scores, int rows, int classes)
    {
        if (scores.Length != (long)rows * classes)
            throw new ArgumentException($"{scores.Length} scores do not make {rows} rows of {classes}.", nameof(scores));
        var result = new int[rows]; // [rows]
        for (int row = 0; row < rows; row++)
        {
            var values = scores.Slice(row * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++)
            {
                if (values[c] > values[best])
                    best = c;
            }
            result[row] = best;
        }
        return result;
    }

    private static void CheckLengths(ReadOnlySpan<int> predicted, ReadOnlySpan<int> labels)
    {
        if (predicted.Length != labels.Length)
            throw new ArgumentException($"{predicted.Length} predictions for {labels.Length} labels.", nameof(predicted));
        if (labels.Length == 0)
            throw new ArgumentException("no labels to score.", nameof(labels));
    }
}
