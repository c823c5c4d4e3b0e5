using LZN.Native.Data;

namespace LZN.Native.Training;

/// <summary>
/// The training batches every task's trainer draws: epoch e visits the training split in the order of
/// <see cref="BatchSchedule.Permutation"/> for (seed, e), cut into batches of the config's size (a short last batch is
/// dropped), and step n is batch n mod (steps per epoch) of epoch n / (steps per epoch). Gathered into host buffers
/// that every step overwrites.
/// </summary>
public sealed class TrainingBatches
{
    private readonly ImageDataset _train;
    private readonly BatchSchedule _schedule;
    private readonly ulong _seed;
    private readonly int _firstRow;
    private readonly int _batchSize;
    private int[] _permutation = [];
    private int _permutationEpoch = -1;

    /// <summary>
    /// Checks that the data fit the config (image shape, classes) and hold at least one batch. A data-parallel rank
    /// gathers its contiguous slice of each batch: <paramref name="rows"/> rows from <paramref name="firstRow"/>
    /// (default: the whole batch).
    /// </summary>
    public TrainingBatches(ImageDataset train, TrainingConfig config, int firstRow = 0, int rows = -1)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(config);
        if (train.Shape.Channels != config.Data.ImageChannels || train.Shape.Height != config.Data.ImageHeight
            || train.Shape.Width != config.Data.ImageWidth || train.ClassCount > config.Data.ClassCount)
        {
            throw new ArgumentException($"the training data ({train.Shape.Channels}x{train.Shape.Height}x{train.Shape.Width}, {train.ClassCount} classes) "
                + $"does not fit the config ({config.Data.ImageChannels}x{config.Data.ImageHeight}x{config.Data.ImageWidth}, {config.Data.ClassCount} classes).", nameof(train));
        }
        if (train.Count < config.Schedule.BatchSize)
            throw new ArgumentException($"{train.Count} training images are fewer than one batch of {config.Schedule.BatchSize}.", nameof(train));
        if (rows < 0)
            rows = config.Schedule.BatchSize - firstRow;
        if (firstRow < 0 || rows < 1 || firstRow + rows > config.Schedule.BatchSize)
            throw new ArgumentOutOfRangeException(nameof(rows), $"rows {firstRow}..{firstRow + rows - 1} are not a slice of a batch of {config.Schedule.BatchSize}.");
        _train = train;
        _seed = config.Seed;
        _firstRow = firstRow;
        _batchSize = config.Schedule.BatchSize;
        _schedule = new BatchSchedule(train.Count, config.Schedule.BatchSize, config.Seed);
        Images = new float[rows * config.Data.ImageSize];
        Labels = new int[rows];
    }

    public int StepsPerEpoch => _schedule.BatchesPerEpoch;

    /// <summary>The images of the last gathered batch (this slice's rows) [rows, imageSize].</summary>
    public float[] Images { get; }

    /// <summary>The labels of the last gathered batch (this slice's rows) [rows].</summary>
    public int[] Labels { get; }

    /// <summary>Gathers the batch of step <paramref name="step"/> into <see cref="Images"/> and <see cref="Labels"/> (overwriting both).</summary>
    public void Gather(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        int epoch = checked((int)(step / StepsPerEpoch)), index = (int)(step % StepsPerEpoch);
        if (epoch != _permutationEpoch)
        {
            _permutation = BatchSchedule.Permutation(_train.Count, _seed, epoch);
            _permutationEpoch = epoch;
        }
        _train.Gather(_permutation.AsSpan(index * _batchSize + _firstRow, Labels.Length), Images, Labels);
    }
}
