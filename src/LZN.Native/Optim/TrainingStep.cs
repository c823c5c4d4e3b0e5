using LZN.Native.Backends;
using LZN.Native.IO;

namespace LZN.Native.Optim;

/// <summary>What one <see cref="TrainingStep.Apply"/> did.</summary>
/// <param name="Applied">False when the loss or the gradient norm was not finite and nothing changed.</param>
/// <param name="Loss">The loss read back with the norm.</param>
/// <param name="GradientNorm">The global norm of the active groups' gradients, before clipping.</param>
/// <param name="GradientScale">The clipping factor applied (1 when not clipped or skipped).</param>
/// <param name="LearningRateFactor">The schedule's factor applied (0 when skipped).</param>
public readonly record struct TrainingStepResult(bool Applied, float Loss, double GradientNorm, float GradientScale, double LearningRateFactor);

/// <summary>
/// One optimisation step after the backward pass: reads the loss and the global gradient norm in one host
/// transfer; a step whose loss or norm is NaN/Inf (a squared norm overflowing float counts) is skipped,
/// counted in <see cref="SkippedSteps"/>, and changes nothing; otherwise the gradients are clipped to the
/// global norm, the schedule's factor of the update index (<see cref="AdamW.Iteration"/>) scales every
/// group's learning rate, AdamW steps and the EMA, if any, is updated.
/// Frozen groups are outside the norm, the update and the clipping.
/// </summary>
public sealed class TrainingStep
{
    private readonly IBackend _backend;

    public TrainingStep(IBackend backend, AdamW optimizer, GradientClipper? clipper = null, LearningRateSchedule? schedule = null, Ema? ema = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(optimizer);
        _backend = backend;
        Optimizer = optimizer;
        Clipper = clipper;
        Schedule = schedule;
        Ema = ema;
    }

    public AdamW Optimizer { get; }

    public GradientClipper? Clipper { get; }

    public LearningRateSchedule? Schedule { get; }

    public Ema? Ema { get; }

    /// <summary>Steps not applied because the loss or the gradient norm was not finite.</summary>
    public long SkippedSteps { get; private set; }

    /// <param name="loss">The scalar loss on the device [1] (element 0 is read).</param>
    public TrainingStepResult Apply(FloatBuffer loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        var active = Optimizer.ActiveParameters().ToList();
        Span<float> host = stackalloc float[2];
        using (var packed = _backend.AllocateFloat(2)) // [2]: squared gradient norm, loss
        {
            GradientClipper.QueueSquaredNorm(_backend, active, packed.Slice(0, 1));
            _backend.Copy(loss.Slice(0, 1), packed.Slice(1, 1));
            _backend.Download(packed, host);
        }
        double norm = Math.Sqrt(host[0]);
        float lossValue = host[1];
        if (!float.IsFinite(lossValue) || !double.IsFinite(norm))
        {
            SkippedSteps++;
            return new TrainingStepResult(false, lossValue, norm, 1f, 0);
        }
        float scale = Clipper?.Scale(norm) ?? 1f;
        double factor = Schedule?.Factor(Optimizer.Iteration) ?? 1.0;
        Optimizer.Step(factor, scale);
        Ema?.Update();
        return new TrainingStepResult(true, lossValue, norm, scale, factor);
    }

    /// <summary>
    /// Everything a resumed run needs to continue exactly: the optimiser's and the EMA's tensors and
    /// training/skipped_steps (I64 [1]).
    /// </summary>
    public IEnumerable<SafeTensor> ExportState()
    {
        var optimizer = Optimizer.ExportState();
        var ema = Ema?.ExportState() ?? [];
        return optimizer.Concat(ema).Append(StateTensors.Export("training/skipped_steps", SkippedSteps)).ToList();
    }

    /// <summary>Restores what <see cref="ExportState"/> wrote; the model's own values are restored by the caller.</summary>
    public void ImportState(IEnumerable<SafeTensor> tensors)
    {
        var list = tensors.ToList();
        long skipped = new StateTensors(list).Counter("training/skipped_steps");
        Optimizer.ImportState(list);
        Ema?.ImportState(list);
        SkippedSteps = skipped;
    }
}
