using LZN.Native.Backends;

namespace LZN.Native.RectifiedFlow;

/// <summary>
/// The rectified-flow training objective (docs/math.md section 9): x1 = data, x0 ~ N(0, I),
/// t ~ U[MinTime, 1), x_t = t x1 + (1 - t) x0, target x1 - x0, loss = mean (target - prediction)^2.
/// Noise and times come from the backend's Philox stream at (Seed, Offset, Offset + 1, ...); every batch
/// advances <see cref="Offset"/> by rows (times) + rows * rowLength (noise), so a run that restores
/// Seed and Offset draws the same batches on either backend.
/// </summary>
public sealed class RectifiedFlowObjective
{
    /// <summary>The reference's eps: training times start here and sampling integrates from here.</summary>
    public const float DefaultMinTime = 1e-3f;

    private readonly IBackend _backend;

    public RectifiedFlowObjective(IBackend backend, ulong seed, ulong offset = 0, float minTime = DefaultMinTime)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (!(minTime is >= 0 and < 1))
            throw new ArgumentOutOfRangeException(nameof(minTime), minTime, "the minimum time must lie in [0, 1).");
        _backend = backend;
        Seed = seed;
        Offset = offset;
        MinTime = minTime;
    }

    public ulong Seed { get; }

    /// <summary>The next Philox counter to draw from; part of a checkpoint.</summary>
    public ulong Offset { get; set; }

    public float MinTime { get; }

    /// <summary>
    /// Draws times [rows] and noise [rows, rowLength], then fills noisy (x_t) and target (x1 - x0), both
    /// [rows, rowLength], from data (x1) [rows, rowLength].
    /// </summary>
    public void BuildBatch(int rows, int rowLength, FloatBuffer data, FloatBuffer noise, FloatBuffer times,
        FloatBuffer noisy, FloatBuffer target) =>
        BuildBatchRows(0, rows, rows, rowLength, data, noise, times, noisy, target);

    /// <summary>
    /// <see cref="BuildBatch"/> for rows [firstRow, firstRow + rows) of a batch of <paramref name="totalRows"/> (one rank's
    /// slice): each row draws the time and noise it would draw in the whole batch, and <see cref="Offset"/> advances by the
    /// whole batch's draws. data, noise, noisy and target are [rows, rowLength], times [rows].
    /// </summary>
    public void BuildBatchRows(int firstRow, int rows, int totalRows, int rowLength, FloatBuffer data, FloatBuffer noise, FloatBuffer times,
        FloatBuffer noisy, FloatBuffer target)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(rowLength);
        ArgumentOutOfRangeException.ThrowIfNegative(firstRow);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstRow + rows, totalRows, nameof(rows));
        if (times.Length != rows || noise.Length != (long)rows * rowLength)
            throw new ArgumentException($"times has {times.Length} elements and noise {noise.Length}; expected {rows} and {(long)rows * rowLength}.");
        _backend.FillUniform(times, Seed, Offset + (ulong)firstRow, MinTime, 1f);
        _backend.FillNormal(noise, Seed, Offset + (ulong)totalRows + (ulong)firstRow * (ulong)rowLength, 0f, 1f);
        Offset += (ulong)totalRows + (ulong)totalRows * (ulong)rowLength;
        _backend.FlowMatching.BuildTrainingPair(rows, rowLength, data, noise, times, noisy, target);
    }

    /// <summary>
    /// loss[0] = mean (target - prediction)^2 and predictionGrad = lossWeight * dloss/dprediction (overwritten;
    /// null when only the value is wanted). Shapes: prediction, target, predictionGrad [rows, rowLength]; loss [1].
    /// </summary>
    public void Loss(FloatBuffer prediction, FloatBuffer target, FloatBuffer loss, FloatBuffer? predictionGrad, float lossWeight = 1f) =>
        _backend.FlowMatching.MeanSquaredError(prediction, target, loss, predictionGrad, lossWeight);
}
