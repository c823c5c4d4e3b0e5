namespace LZN.Native.Backends;

/// <summary>
/// The latent-zone kernels (docs/math.md sections 3, 6, 7): one velocity evaluation over all
/// anchors with an online softmax, fused with the Euler update, and its backward by recomputation.
/// Nothing of size rows x anchorCount x dim is ever materialised; rows x anchorCount only when
/// <see cref="ZoneStepArgs.Probabilities"/> is requested.
/// </summary>
public interface IZoneKernels
{
    /// <summary>
    /// For each row i: logit_ij = (c/t^2) x_i.a_j - (c^2/(2t^2))|a_j|^2 + b_j (c = 1 - t),
    /// lse_i = logsumexp_j logit_ij, m_i = sum_j softmax_j(logit_ij) a_j, v_i = (x_i - m_i)/t,
    /// next_i = x_i + stepSize * v_i. Optional outputs: target log-probabilities and full probabilities.
    /// </summary>
    void Step(in ZoneStepArgs args);

    /// <summary>
    /// Backward of <see cref="Step"/>'s velocity (not of the Euler update: the caller passes
    /// g = dL/dv already scaled by the step size) plus an optional loss on the target log-probability.
    /// Accumulates (+=) into PointsGrad, AnchorsGrad and LogPriorsGrad.
    /// </summary>
    void StepBackward(in ZoneBackwardArgs args);

    /// <summary>
    /// |a_j|^2 of <paramref name="anchors"/> [anchorCount, dim], for a flow to compute once and hand to each of its
    /// steps and their backwards (<see cref="ZoneStepArgs.AnchorNorms"/>) instead of every call computing them again.
    /// </summary>
    ZoneAnchorNorms SquaredNorms(FloatBuffer anchors, int anchorCount, int dim);
}

/// <summary>
/// The squared norms |a_j|^2 [AnchorCount] of one anchor buffer, as <see cref="IZoneKernels.SquaredNorms"/> of that
/// backend computed them: bit for bit what a step computes when it is given none (the CPU keeps them in float64, the
/// CUDA kernels in float32), so a step's results do not depend on whether it was given them. They stay valid while the
/// anchors' values do not change, and belong to the buffer they were computed from: a step over another is refused.
/// </summary>
public abstract class ZoneAnchorNorms : IDisposable
{
    private protected ZoneAnchorNorms(FloatBuffer anchors, int anchorCount, int dim)
    {
        ArgumentNullException.ThrowIfNull(anchors);
        Anchors = anchors;
        AnchorCount = anchorCount;
        Dim = dim;
    }

    /// <summary>The anchor buffer [AnchorCount, Dim] the norms were computed from.</summary>
    public FloatBuffer Anchors { get; }

    public int AnchorCount { get; }

    public int Dim { get; }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>Arguments of <see cref="IZoneKernels.Step"/>. Shapes use rows = B, anchorCount = N, dim = d.</summary>
public readonly record struct ZoneStepArgs
{
    public required int Rows { get; init; }
    public required int AnchorCount { get; init; }
    public required int Dim { get; init; }

    /// <summary>Flow time t in (0, 1]; the softmax temperature is t^2 / c.</summary>
    public required float Time { get; init; }

    /// <summary>next = x + StepSize * v: +h for the forward (encode) flow, -h for the reverse (assign) flow.</summary>
    public required float StepSize { get; init; }

    /// <summary>x [Rows, Dim].</summary>
    public required FloatBuffer Points { get; init; }

    /// <summary>A [AnchorCount, Dim].</summary>
    public required FloatBuffer Anchors { get; init; }

    /// <summary>b [AnchorCount] class log-priors, or null for uniform.</summary>
    public FloatBuffer? LogPriors { get; init; }

    /// <summary>|a_j|^2 of <see cref="Anchors"/> computed once for the whole flow, or null: the step computes them.</summary>
    public ZoneAnchorNorms? AnchorNorms { get; init; }

    /// <summary>x + StepSize * v [Rows, Dim]; must not alias <see cref="Points"/>.</summary>
    public required FloatBuffer NextPoints { get; init; }

    /// <summary>m [Rows, Dim], the softmax-weighted anchor mean (kept for the backward), or null.</summary>
    public FloatBuffer? WeightedMean { get; init; }

    /// <summary>lse [Rows], the row log-sum-exp of the logits (kept for the backward), or null.</summary>
    public FloatBuffer? LogSumExp { get; init; }

    /// <summary>Target anchor per row [Rows], used with <see cref="TargetLogProb"/>.</summary>
    public IntBuffer? Targets { get; init; }

    /// <summary>log p(i -> Targets[i]) [Rows] = logit_{i,tgt} - lse_i, or null.</summary>
    public FloatBuffer? TargetLogProb { get; init; }

    /// <summary>Full probabilities [Rows, AnchorCount] (small N only, e.g. label anchors), or null.</summary>
    public FloatBuffer? Probabilities { get; init; }
}

/// <summary>Arguments of <see cref="IZoneKernels.StepBackward"/>.</summary>
public readonly record struct ZoneBackwardArgs
{
    public required int Rows { get; init; }
    public required int AnchorCount { get; init; }
    public required int Dim { get; init; }
    public required float Time { get; init; }

    /// <summary>x [Rows, Dim] at which the velocity was evaluated.</summary>
    public required FloatBuffer Points { get; init; }

    /// <summary>A [AnchorCount, Dim].</summary>
    public required FloatBuffer Anchors { get; init; }

    /// <summary>b [AnchorCount], or null for uniform.</summary>
    public FloatBuffer? LogPriors { get; init; }

    /// <summary>|a_j|^2 of <see cref="Anchors"/> computed once for the whole flow, or null: the backward computes them.</summary>
    public ZoneAnchorNorms? AnchorNorms { get; init; }

    /// <summary>m [Rows, Dim] saved by the forward step.</summary>
    public required FloatBuffer WeightedMean { get; init; }

    /// <summary>lse [Rows] saved by the forward step.</summary>
    public required FloatBuffer LogSumExp { get; init; }

    /// <summary>g = dL/dv [Rows, Dim], or null when only a target loss flows back.</summary>
    public FloatBuffer? VelocityGrad { get; init; }

    /// <summary>Target anchor per row [Rows], with <see cref="TargetLogProbGrad"/>.</summary>
    public IntBuffer? Targets { get; init; }

    /// <summary>beta_i = dL/d log p(i -> Targets[i]) [Rows], or null.</summary>
    public FloatBuffer? TargetLogProbGrad { get; init; }

    /// <summary>dL/dx [Rows, Dim], accumulated (+=).</summary>
    public required FloatBuffer PointsGrad { get; init; }

    /// <summary>dL/dA [AnchorCount, Dim], accumulated (+=), or null.</summary>
    public FloatBuffer? AnchorsGrad { get; init; }

    /// <summary>dL/db [AnchorCount], accumulated (+=), or null.</summary>
    public FloatBuffer? LogPriorsGrad { get; init; }

    /// <summary>
    /// Set when the rows are an encode of anchor rows: row i's query q_i is anchor SelfAnchorOffset + i.
    /// The kernel then also accumulates that query's gradient, per step, into AnchorsGrad row
    /// SelfAnchorOffset + i: (1/t) g_i + (1 - t) (c/t^2) sum_j ds_ij a_j. It must fuse the first term into
    /// the weighted-mean product as -(1/t) (P - S)^T G, with S_ij = 1 at j = SelfAnchorOffset + i, so that an
    /// exactly one-hot row contributes exactly zero: summed separately over an encode from t = 1e-4 the two
    /// paths are each ~1/eps = 1e4 times the total, and fp32 would keep only three digits of it.
    /// (This is the adjoint of the flow written in u = x - (1 - t) q, where x_0 and x_K carry no q.)
    /// Requires AnchorsGrad and SelfAnchorOffset + Rows &lt;= AnchorCount; null for other rows.
    /// </summary>
    public int? SelfAnchorOffset { get; init; }
}
