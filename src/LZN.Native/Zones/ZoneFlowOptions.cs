namespace LZN.Native.Zones;

/// <summary>ODE solver of the forward (encode) flow.</summary>
public enum FlowSolver
{
    /// <summary>Explicit Euler (docs/math.md section 7 has its adjoint).</summary>
    Euler,

    /// <summary>Multistep DPM-Solver++ (orders 1-3), with gradients through its linear multistep update (docs/zones.md).</summary>
    DpmSolverPlusPlus,
}

/// <summary>Settings of <see cref="LatentEncoder.Encode(ZoneAnchors, Backends.FloatBuffer?, EncodeOptions?)"/> and its other overloads.</summary>
public sealed record EncodeOptions
{
    /// <summary>Solver steps K (20 in every case study).</summary>
    public int Steps { get; init; } = 20;

    /// <summary>
    /// Start time eps: x_0 = eps * alpha * z + (1 - eps) * q at t = eps. Null picks the solver's default:
    /// 1e-4 for Euler (which then ends at t = 1) and 1e-3 for DPM-Solver++ (which ends at t = 1 - eps).
    /// </summary>
    public double? Epsilon { get; init; }

    /// <summary>alpha, the scale of the prior noise z (1; 0.45 in representation learning).</summary>
    public float NoiseScale { get; init; } = 1f;

    public FlowSolver Solver { get; init; } = FlowSolver.Euler;

    /// <summary>Order of DPM-Solver++ (1, 2 or 3); ignored by Euler.</summary>
    public int SolverOrder { get; init; } = 3;

    /// <summary>Keep the trajectory (K x rows x dim points and means, K x rows lse) for <see cref="LatentEncoder.Backward"/>.</summary>
    public bool KeepTrajectory { get; init; }

    internal double EffectiveEpsilon => Epsilon ?? (Solver == FlowSolver.Euler ? 1e-4 : 1e-3);
}

/// <summary>Settings of <see cref="ZoneAssigner.Assign"/>.</summary>
public sealed record AssignOptions
{
    /// <summary>Euler steps K of the reverse flow (20 for image anchors, 100 for label anchors).</summary>
    public int Steps { get; init; } = 20;

    /// <summary>Keep the trajectory for <see cref="ZoneAssigner.Backward"/>.</summary>
    public bool KeepTrajectory { get; init; }

    /// <summary>Record the full zone probabilities [Steps, rows, anchorCount] (small anchor counts only).</summary>
    public bool RecordProbabilities { get; init; }

    /// <summary>
    /// Evaluate only the first E of the K steps (same step size 1/K), or all when null. A loss that reads one early
    /// step (<see cref="AssignmentLossKind.CutoffCrossEntropy"/> needs E = u + 1) then costs E/K of the flow, forward
    /// and backward. The final points are x_E at t = 1 - E/K, not zone ends; the target log-probabilities and
    /// probabilities of steps k >= E read NaN.
    /// </summary>
    public int? EvaluatedSteps { get; init; }
}
