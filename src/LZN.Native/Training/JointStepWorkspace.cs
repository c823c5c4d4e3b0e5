using LZN.Native.Backends;
using LZN.Native.Distributed;

namespace LZN.Native.Training;

/// <summary>
/// The buffers of one <see cref="JointModel.Backward"/> at one batch size, allocated once and reused by every step of
/// that size. The step fully overwrites each of them before reading it, except the two gradients it accumulates
/// into (+=), <see cref="LatentsGrad"/>, <see cref="DecoderLatentsGrad"/> and the anchors' <see cref="GatheredRows.Gradient"/>, which it clears first.
/// With several ranks, batchSize is this rank's rows of the batch (<see cref="BatchShard.Rows"/>).
/// </summary>
internal sealed class JointStepWorkspace : IDisposable
{
    public JointStepWorkspace(IBackend backend, TrainingConfig config, BatchShard shard)
    {
        Shard = shard;
        int batchSize = BatchSize = shard.Rows;
        long latentElements = (long)batchSize * config.Latent.Dim, imageElements = (long)batchSize * config.Data.ImageSize;
        HostClassCounts = new int[config.Data.ClassCount]; // [classes]
        HostLogPriors = new float[config.Data.ClassCount]; // [classes]
        try
        {
            LatentNoise = backend.AllocateFloat(latentElements); // [batchSize, dim]
            LatentsGrad = backend.AllocateFloat(latentElements); // [batchSize, dim]
            if (config.Decoder.LatentNoiseScale is not null)
            {
                DecoderLatentNoise = backend.AllocateFloat(latentElements); // [batchSize, dim]
                DecoderLatentsGrad = backend.AllocateFloat(latentElements); // [batchSize, dim]
            }
            Anchors = new GatheredRows(backend, shard, config.Latent.Dim);
            LogPriors = backend.AllocateFloat(config.Data.ClassCount); // [classes]
            Beta = backend.AllocateFloat((long)config.Latent.LabelSteps * batchSize); // [labelSteps, batchSize]
            FlowNoise = backend.AllocateFloat(imageElements); // [batchSize, imageSize]
            Times = backend.AllocateFloat(batchSize); // [batchSize]
            Noisy = backend.AllocateFloat(imageElements); // [batchSize, imageSize]
            Target = backend.AllocateFloat(imageElements); // [batchSize, imageSize]
            PredictionGrad = backend.AllocateFloat(imageElements); // [batchSize, imageSize]
            FlowLoss = backend.AllocateFloat(1); // [1]
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int BatchSize { get; }

    public BatchShard Shard { get; }

    /// <summary>Class counts of the batch [classes] (host).</summary>
    public int[] HostClassCounts { get; }

    /// <summary>Class log-priors of the batch [classes] (host, uploaded into <see cref="LogPriors"/>).</summary>
    public float[] HostLogPriors { get; }

    /// <summary>Prior noise of the latent flow [batchSize, dim].</summary>
    public FloatBuffer LatentNoise { get; }

    /// <summary>dLoss/dlatents [batchSize, dim]: label flow (+ decoder when it shares the latents), accumulated.</summary>
    public FloatBuffer LatentsGrad { get; }

    /// <summary>Prior noise of the decoder's own latent flow [batchSize, dim]; null when the decoder shares the latents.</summary>
    public FloatBuffer? DecoderLatentNoise { get; }

    /// <summary>dLoss/d(decoder latents) [batchSize, dim]; null when the decoder shares the latents.</summary>
    public FloatBuffer? DecoderLatentsGrad { get; }

    /// <summary>The anchors of the whole batch [globalRows, dim] and dLoss/danchors through the latent flow, accumulated.</summary>
    public GatheredRows Anchors { get; }

    /// <summary>Class log-priors of the batch [classes] on the device.</summary>
    public FloatBuffer LogPriors { get; }

    /// <summary>dLoss/dlogP of the label assignment [labelSteps, batchSize].</summary>
    public FloatBuffer Beta { get; }

    /// <summary>Rectified-flow x0 [batchSize, imageSize].</summary>
    public FloatBuffer FlowNoise { get; }

    /// <summary>Rectified-flow times [batchSize].</summary>
    public FloatBuffer Times { get; }

    /// <summary>Rectified-flow x_t [batchSize, imageSize].</summary>
    public FloatBuffer Noisy { get; }

    /// <summary>Rectified-flow target x1 - x0 [batchSize, imageSize].</summary>
    public FloatBuffer Target { get; }

    /// <summary>dLoss/dprediction [batchSize, imageSize].</summary>
    public FloatBuffer PredictionGrad { get; }

    /// <summary>Rectified-flow loss [1].</summary>
    public FloatBuffer FlowLoss { get; }

    /// <summary>Also called by a constructor that failed part-way, so any buffer may still be null.</summary>
    public void Dispose()
    {
        FlowLoss?.Dispose();
        PredictionGrad?.Dispose();
        Target?.Dispose();
        Noisy?.Dispose();
        Times?.Dispose();
        FlowNoise?.Dispose();
        Beta?.Dispose();
        LogPriors?.Dispose();
        Anchors?.Dispose();
        DecoderLatentsGrad?.Dispose();
        DecoderLatentNoise?.Dispose();
        LatentsGrad?.Dispose();
        LatentNoise?.Dispose();
    }
}
