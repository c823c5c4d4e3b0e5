using LZN.Native.Backends;

namespace LZN.Native.Zones;

/// <summary>Which reduction of the per-step target probabilities a loss uses (docs/math.md section 6).</summary>
public enum AssignmentLossKind
{
    /// <summary>L = -mean_i max_{k>=u} P_k(i -> tgt_i) (the label loss).</summary>
    Probability,

    /// <summary>L = -mean_i log max_{k>=u} P_k(i -> tgt_i) (representation learning).</summary>
    CrossEntropy,

    /// <summary>
    /// L = -mean_i log P_u(i -> tgt_i): the cross-entropy of the zone posterior at the cut-off step u alone
    /// (t = 1 - u/K = 0.8 for the 0.2 cut-off). Unlike the max over steps it keeps pulling on rows that already
    /// end in the right zone, as a softmax head does (docs/training.md, "The label loss: cross-entropy at the cut-off step").
    /// </summary>
    CutoffCrossEntropy,
}

/// <summary>
/// Assignment losses over the recorded log P_k(i -> tgt_i) [steps, rows]. Only steps k >= u = floor(0.2 K)
/// count (the first 20% of the reverse flow are near-uniform). The reduction is tiny, so it runs on the
/// host; the gradient beta [steps, rows] is non-zero only at each row's argmax step (at the cut-off step for
/// <see cref="AssignmentLossKind.CutoffCrossEntropy"/>).
/// </summary>
public static class AssignmentLoss
{
    /// <summary>The names configs and the command line use: prob, ce, ce-cutoff.</summary>
    public static string Name(AssignmentLossKind kind) => kind switch
    {
        AssignmentLossKind.Probability => "prob",
        AssignmentLossKind.CrossEntropy => "ce",
        AssignmentLossKind.CutoffCrossEntropy => "ce-cutoff",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not an assignment loss."),
    };

    /// <summary>The kind <paramref name="name"/> stands for (see <see cref="Name"/>), or null when none does.</summary>
    public static AssignmentLossKind? Parse(string name) =>
        Enum.GetValues<AssignmentLossKind>().Select(kind => (AssignmentLossKind?)kind).FirstOrDefault(kind => Name(kind!.Value) == name);

    /// <summary>
    /// How many of the K steps a loss reads: u + 1 for <see cref="AssignmentLossKind.CutoffCrossEntropy"/>, all K for the
    /// max-over-steps losses (the least <see cref="AssignOptions.EvaluatedSteps"/> an assign for it may use).
    /// </summary>
    public static int StepsRead(AssignmentLossKind kind, int steps) =>
        kind == AssignmentLossKind.CutoffCrossEntropy ? CutoffStep(steps) + 1 : steps;

    /// <summary>u = floor(0.2 K), in integers so that no rounding of 0.2 K can move it.</summary>
    public static int CutoffStep(int steps) => steps / 5;

    /// <summary>
    /// Loss value from <paramref name="targetLogProbs"/> [steps, rows]; writes dL/dlogP into
    /// <paramref name="gradient"/> [steps, rows] (overwritten). Ties pick the earliest step.
    /// </summary>
    public static double Evaluate(ReadOnlySpan<float> targetLogProbs, int steps, int rows, AssignmentLossKind kind, Span<float> gradient)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        if (targetLogProbs.Length != steps * rows || gradient.Length != steps * rows)
            throw new ArgumentException($"Target log-probabilities and gradient need {steps * rows} elements.", nameof(targetLogProbs));
        gradient.Clear();
        int cutoff = CutoffStep(steps);
        double total = 0;
        for (int i = 0; i < rows; i++)
        {
            if (kind == AssignmentLossKind.CutoffCrossEntropy)
            {
                total -= targetLogProbs[cutoff * rows + i];
                gradient[cutoff * rows + i] = (float)(-1.0 / rows);
                continue;
            }
            int best = cutoff;
            for (int k = cutoff + 1; k < steps; k++)
            {
                if (targetLogProbs[k * rows + i] > targetLogProbs[best * rows + i])
                    best = k;
            }
            double logProb = targetLogProbs[best * rows + i];
            if (kind == AssignmentLossKind.Probability)
            {
                double probability = Math.Exp(logProb);
                total -= probability;
                gradient[best * rows + i] = (float)(-probability / rows);
            }
            else
            {
                total -= logProb;
                gradient[best * rows + i] = (float)(-1.0 / rows);
            }
        }
        return total / rows;
    }

    /// <summary>
    /// The loss of an assign with targets; fills <paramref name="gradient"/> [steps, rows] on the backend,
    /// ready for <see cref="ZoneAssigner.Backward"/>.
    /// </summary>
    public static double Evaluate(AssignResult forward, AssignmentLossKind kind, FloatBuffer gradient)
    {
        var logProbs = forward.TargetLogProbs ?? throw new ArgumentException("The assign recorded no target log-probabilities; pass targets.", nameof(forward));
        int needed = StepsRead(kind, forward.Steps);
        if (forward.EvaluatedSteps < needed)
            throw new ArgumentException(
                $"The {Name(kind)} loss reads steps up to {needed - 1}, but the assign evaluated only {forward.EvaluatedSteps} of {forward.Steps}.", nameof(forward));
        ZoneChecks.Length(gradient, logProbs.Length, nameof(gradient));
        var host = logProbs.ToArray();
        var hostGradient = new float[host.Length];
        double loss = Evaluate(host, forward.Steps, forward.Rows, kind, hostGradient);
        gradient.Backend.Upload(hostGradient, gradient);
        return loss;
    }
}
