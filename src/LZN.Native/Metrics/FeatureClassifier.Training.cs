using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Nn;
using LZN.Native.Optim;

namespace LZN.Native.Metrics;

/// <summary>Mean training loss and accuracy of one epoch (accuracy from the batch logits before each update).</summary>
public readonly record struct EpochSummary(int Epoch, double MeanLoss, double TrainAccuracy);

public sealed partial class FeatureClassifier
{
    /// <summary>
    /// Trains a classifier on <paramref name="dataset"/>: softmax cross-entropy, AdamW (weight decay on weights only,
    /// betas 0.9/0.999), a linear warm-up then cosine decay of the learning rate to zero over all steps, batches from
    /// <see cref="BatchSchedule"/> (seeded shuffles, short final batch dropped). Weights are initialised from
    /// <paramref name="seed"/>; the same seed, data and options give the same network on a backend.
    /// </summary>
    /// <param name="datasetId">A short name for the data (e.g. "fashion-mnist"), the prefix of <see cref="Id"/>.</param>
    public static FeatureClassifier Train(IBackend backend, ImageDataset dataset, FeatureClassifierOptions options, ulong seed,
        string datasetId = "dataset", IProgress<EpochSummary>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Epochs);
        string id = FeatureClassifierCache.Key(datasetId, dataset, options, seed);
        var classifier = new FeatureClassifier(backend, options.ConfigFor(dataset), seed, id);
        try
        {
            classifier.Fit(dataset, options, seed, progress);
            return classifier;
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }

    private void Fit(ImageDataset dataset, FeatureClassifierOptions options, ulong seed, IProgress<EpochSummary>? progress)
    {
        int batchSize = Math.Min(options.BatchSize, dataset.Count), size = dataset.Shape.Size, classes = Config.ClassCount;
        var schedule = new BatchSchedule(dataset.Count, batchSize, seed);
        long totalSteps = (long)schedule.BatchesPerEpoch * options.Epochs;
        var parameters = Parameters.ToList();
        var groups = new List<ParameterGroup>
        {
            new("weight", [.. parameters.Where(p => p.Group == Parameter.WeightGroup)],
                new ParameterGroupOptions { LearningRate = options.LearningRate, WeightDecay = options.WeightDecay }),
            new("no_decay", [.. parameters.Where(p => p.Group != Parameter.WeightGroup)],
                new ParameterGroupOptions { LearningRate = options.LearningRate }),
        };
        var warmup = new LearningRateSchedule(options.WarmupSteps);
        using var optimizer = new AdamW(Backend, groups);
        using var loss = new SoftmaxCrossEntropy(Backend);
        using var images = Backend.AllocateFloat((long)batchSize * size); // [batchSize, size]
        using var labels = Backend.AllocateInt(batchSize); // [batchSize]
        using var gradLogits = Backend.AllocateFloat((long)batchSize * classes); // [batchSize, classes]
        var hostImages = new float[batchSize * size]; // [batchSize, size]
        var hostLabels = new int[batchSize]; // [batchSize]
        var logits = new float[batchSize * classes]; // [batchSize, classes]
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            double lossSum = 0;
            long correct = 0, seen = 0;
            foreach (int[] batch in schedule.Batches(epoch))
            {
                dataset.Gather(batch, hostImages, hostLabels);
                Backend.Upload(hostImages, images);
                Backend.Upload(hostLabels, labels);
                ZeroGrad();
                var output = Forward(images, batchSize); // [batchSize, classes]
                loss.Gradient(output, labels, batchSize, classes, gradLogits);
                Backend.Download(output, logits);
                double batchLoss = SoftmaxCrossEntropy.Loss(logits, hostLabels, batchSize, classes);
                if (!double.IsFinite(batchLoss))
                    throw new InvalidOperationException($"classifier training diverged: loss {batchLoss} at step {optimizer.Iteration} (epoch {epoch}); lower the learning rate.");
                lossSum += batchLoss;
                var predicted = ClassificationMetrics.ArgMaxRows(logits, batchSize, classes);
                for (int row = 0; row < batchSize; row++)
                    correct += predicted[row] == hostLabels[row] ? 1 : 0;
                seen += batchSize;
                Backward(gradLogits);
                long step = optimizer.Iteration;
                double decay = 0.5 * (1 + Math.Cos(Math.PI * step / totalSteps));
                optimizer.Step(warmup.Factor(step) * decay);
            }
            progress?.Report(new EpochSummary(epoch, lossSum / schedule.BatchesPerEpoch, (double)correct / seen));
        }
    }

    /// <summary>Provenance metadata of a trained classifier: data, recipe and seed, for <see cref="Save"/>.</summary>
    public static Dictionary<string, string> Provenance(ImageDataset dataset, FeatureClassifierOptions options, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["train_data"] = dataset.Name,
            ["train_count"] = dataset.Count.ToString(CultureInfo.InvariantCulture),
            ["recipe"] = options.DescribeRecipe(),
            ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
        };
    }
}
