using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Nn;
using LZN.Native.Optim;

namespace LZN.Native.Metrics;

/// <summary>The recipe of a <see cref="LinearProbe"/>: AdamW over shuffled mini-batches, cosine decay to zero.</summary>
public sealed record LinearProbeOptions
{
    public int Epochs { get; init; } = 30;

    public int BatchSize { get; init; } = 256;

    public double LearningRate { get; init; } = 1e-2;

    public double WeightDecay { get; init; } = 1e-4;
}

/// <summary>A probe's scores: top-1 accuracy on both splits, the test confusion matrix [true, predicted] and the last epoch's mean loss.</summary>
public sealed record LinearProbeResult(double TrainAccuracy, double TestAccuracy, int[,] TestConfusion, double FinalLoss);

/// <summary>
/// The representation protocol (docs/math.md section 11): a linear softmax classifier on frozen features,
/// reported on the test split. Features are standardised per dimension with the training split's mean and standard
/// deviation (both splits by the same transform), then one Linear layer (zero-initialised, so the result depends only
/// on the data order) is trained with softmax cross-entropy and AdamW.
/// </summary>
public static class LinearProbe
{
    /// <param name="trainFeatures">[trainCount, dim]</param>
    /// <param name="trainLabels">[trainCount]</param>
    /// <param name="testFeatures">[testCount, dim]</param>
    /// <param name="testLabels">[testCount]</param>
    public static LinearProbeResult Run(IBackend backend, float[] trainFeatures, int[] trainLabels, float[] testFeatures, int[] testLabels,
        int dim, int classCount, LinearProbeOptions options, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(trainFeatures);
        ArgumentNullException.ThrowIfNull(trainLabels);
        ArgumentNullException.ThrowIfNull(testFeatures);
        ArgumentNullException.ThrowIfNull(testLabels);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Epochs);
        if (trainFeatures.Length != (long)trainLabels.Length * dim || testFeatures.Length != (long)testLabels.Length * dim)
            throw new ArgumentException($"features must be [count, {dim}] for {trainLabels.Length} train and {testLabels.Length} test labels.", nameof(trainFeatures));
        var (shift, scale) = Standardisation(trainFeatures, trainLabels.Length, dim);
        float[] train = Standardise(trainFeatures, dim, shift, scale), test = Standardise(testFeatures, dim, shift, scale);

        using var layer = new Linear(backend, "probe", dim, classCount, seed, WeightInit.Zero);
        double finalLoss = Fit(backend, layer, train, trainLabels, classCount, options, seed);
        var trainPredicted = Predict(backend, layer, train, trainLabels.Length, classCount);
        var testPredicted = Predict(backend, layer, test, testLabels.Length, classCount);
        return new LinearProbeResult(
            ClassificationMetrics.Accuracy(trainPredicted, trainLabels),
            ClassificationMetrics.Accuracy(testPredicted, testLabels),
            ClassificationMetrics.ConfusionMatrix(testPredicted, testLabels, classCount),
            finalLoss);
    }

    private static double Fit(IBackend backend, Linear layer, float[] features, int[] labels, int classCount, LinearProbeOptions options, ulong seed)
    {
        int count = labels.Length, dim = layer.InputSize, batchSize = Math.Min(options.BatchSize, count);
        var schedule = new BatchSchedule(count, batchSize, seed, dropLast: false);
        long totalSteps = (long)schedule.BatchesPerEpoch * options.Epochs;
        var groups = new List<ParameterGroup>
        {
            new("weight", [layer.Weight], new ParameterGroupOptions { LearningRate = options.LearningRate, WeightDecay = options.WeightDecay }),
            new("no_decay", [layer.Bias], new ParameterGroupOptions { LearningRate = options.LearningRate }),
        };
        using var optimizer = new AdamW(backend, groups);
        using var loss = new SoftmaxCrossEntropy(backend);
        using var input = backend.AllocateFloat((long)batchSize * dim); // [batchSize, dim]
        using var labelBuffer = backend.AllocateInt(batchSize); // [batchSize]
        using var gradLogits = backend.AllocateFloat((long)batchSize * classCount); // [batchSize, classCount]
        var hostInput = new float[batchSize * dim]; // [batchSize, dim]
        var hostLabels = new int[batchSize]; // [batchSize]
        double epochLoss = double.NaN;
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            double lossSum = 0;
            foreach (int[] batch in schedule.Batches(epoch))
            {
                int rows = batch.Length;
                for (int row = 0; row < rows; row++)
                {
                    features.AsSpan(batch[row] * dim, dim).CopyTo(hostInput.AsSpan(row * dim, dim));
                    hostLabels[row] = labels[batch[row]];
                }
                var rowsInput = input.Slice(0, (long)rows * dim);
                var rowsLabels = labelBuffer.Slice(0, rows);
                var rowsGrad = gradLogits.Slice(0, (long)rows * classCount);
                backend.Upload(hostInput.AsSpan(0, rows * dim), rowsInput);
                backend.Upload(hostLabels.AsSpan(0, rows), rowsLabels);
                layer.ZeroGrad();
                var logits = layer.Forward(rowsInput, rows); // [rows, classCount]
                // Mini-batches differ in size only at the epoch's end; weighting by rows gives the epoch's mean loss.
                lossSum += loss.LossAndGradient(logits, rowsLabels, rows, classCount, rowsGrad) * rows;
                layer.Backward(rowsGrad);
                double decay = 0.5 * (1 + Math.Cos(Math.PI * optimizer.Iteration / totalSteps));
                optimizer.Step(decay);
            }
            epochLoss = lossSum / count;
        }
        return epochLoss;
    }

    private static int[] Predict(IBackend backend, Linear layer, float[] features, int count, int classCount)
    {
        using var input = backend.FromHost(features); // [count, dim]
        var logits = layer.Forward(input, count).ToArray(); // [count, classCount]
        return ClassificationMetrics.ArgMaxRows(logits, count, classCount);
    }

    /// <summary>Per-dimension mean and 1 / standard deviation (float64; a constant dimension keeps scale 1).</summary>
    private static (double[] Shift, double[] Scale) Standardisation(float[] features, int count, int dim)
    {
        var mean = new double[dim]; // [dim]
        var scale = new double[dim]; // [dim]
        for (int row = 0; row < count; row++)
        {
            for (int j = 0; j < dim; j++)
                mean[j] += features[row * dim + j];
        }
        for (int j = 0; j < dim; j++)
            mean[j] /= count;
        for (int row = 0; row < count; row++)
        {
            for (int j = 0; j < dim; j++)
            {
                double centred = features[row * dim + j] - mean[j];
                scale[j] += centred * centred;
            }
        }
        for (int j = 0; j < dim; j++)
        {
            double std = Math.Sqrt(scale[j] / count);
            scale[j] = std > 1e-12 ? 1 / std : 1;
        }
        return (mean, scale);
    }

    private static float[] Standardise(float[] features, int dim, double[] shift, double[] scale)
    {
        var result = new float[features.Length]; // [count, dim]
        for (int i = 0; i < features.Length; i++)
            result[i] = (float)((features[i] - shift[i % dim]) * scale[i % dim]);
        return result;
    }
}
