using LZN.Native.Backends;

namespace LZN.Native.Zones;

/// <summary>
/// Gradients of an encode, each accumulated (+=) when given. Queries may be a slice of Anchors
/// (when the queries are anchor rows), so both the query and the key/value paths land in one buffer.
/// </summary>
public readonly record struct EncodeGradients(
    FloatBuffer? Anchors = null, // [anchorCount, dim]
    FloatBuffer? Queries = null, // [rows, dim]
    FloatBuffer? Noise = null, // [rows, dim]
    FloatBuffer? LogPriors = null); // [anchorCount]

/// <summary>The latents of an encode and, when kept, the trajectory its backward recomputes from.</summary>
public sealed class EncodeResult : IDisposable
{
    private readonly EulerFlow? _flow;

    internal EncodeResult(FloatBuffer latents, int rows, double epsilon, float noiseScale, EulerFlow? flow)
    {
        Latents = latents;
        Rows = rows;
        Epsilon = epsilon;
        NoiseScale = noiseScale;
        _flow = flow;
    }

    /// <summary>x_K [Rows, Dim].</summary>
    public FloatBuffer Latents { get; }

    public int Rows { get; }

    public double Epsilon { get; }

    public float NoiseScale { get; }

    public bool HasTrajectory => _flow?.HasTrajectory == true;

    internal EulerFlow Flow => _flow ?? throw new InvalidOperationException("Gradients need an Euler encode with KeepTrajectory.");

    public void Dispose()
    {
        Latents.Dispose();
        _flow?.Dispose();
    }
}

/// <summary>
/// The forward latent flow, anchor -> latent (design/lzn-math.md section 4):
/// x_0 = eps alpha z + (1 - eps) q at t = eps, then K solver steps of dx/dt = (x - m(x, t))/t.
/// </summary>
public static class LatentEncoder
{
    /// <summary>
    /// Encodes query points <paramref name="queries"/> [rows, dim] (all of A, a row slice of A, or any points)
    /// with prior noise <paramref name="noise"/> [rows, dim] (null = no noise, the zone's anchor-side start)
    /// through the flow over <paramref name="anchors"/>. Returns latents [rows, dim] on the anchors' backend.
    /// </summary>
    public static EncodeResult Encode(ZoneAnchors anchors, FloatBuffer queries, int rows, FloatBuffer? noise, EncodeOptions? options = null)
    {
        options ??= new EncodeOptions();
        anchors.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Steps);
        long rowElements = (long)rows * anchors.Dim;
        ZoneChecks.Length(queries, rowElements, nameof(queries));
        ZoneChecks.Length(noise, rowElements, nameof(noise));
        double epsilon = options.EffectiveEpsilon;
        if (!(epsilon > 0 && epsilon < 0.5))
            throw new ArgumentOutOfRangeException(nameof(options), epsilon, "Epsilon must lie in (0, 0.5).");
        if (options.Solver != FlowSolver.Euler && options.KeepTrajectory)
            throw new ArgumentException("Only the Euler solver keeps a trajectory for gradients.", nameof(options));

        var backend = anchors.Backend;
        var latents = backend.AllocateFloat(rowElements); // [rows, dim]
        using var start = backend.AllocateFloat(rowElements); // [rows, dim] x_0
        backend.Copy(queries, start);
        if (noise is null)
            backend.ScaleShift(start, (float)(1 - epsilon), 0f);
        else
            backend.Axpby((float)(epsilon * options.NoiseScale), noise, (float)(1 - epsilon), start);

        if (options.Solver == FlowSolver.DpmSolverPlusPlus)
        {
            DpmSolverPlusPlus.Integrate(anchors, start, latents, rows, options.Steps, options.SolverOrder, epsilon, 1 - epsilon);
            return new EncodeResult(latents, rows, epsilon, options.NoiseScale, null);
        }

        var flow = EulerFlow.Run(anchors, start, latents, rows, options.Steps, epsilon, (1 - epsilon) / options.Steps, options.KeepTrajectory);
        return new EncodeResult(latents, rows, epsilon, options.NoiseScale, flow);
    }

    /// <summary>
    /// Backward of <see cref="Encode"/> given dL/dlatents [rows, dim]: dq += (1 - eps) lambda_0,
    /// dz += eps alpha lambda_0, and the key/value gradients into anchors (and log-priors).
    /// </summary>
    public static void Backward(EncodeResult forward, FloatBuffer latentsGrad, EncodeGradients gradients)
    {
        var flow = forward.Flow;
        var anchors = flow.Anchors;
        long rowElements = (long)forward.Rows * anchors.Dim;
        ZoneChecks.Length(latentsGrad, rowElements, nameof(latentsGrad));
        ZoneChecks.Length(gradients.Anchors, (long)anchors.Count * anchors.Dim, nameof(gradients.Anchors));
        ZoneChecks.Length(gradients.Queries, rowElements, nameof(gradients.Queries));
        ZoneChecks.Length(gradients.Noise, rowElements, nameof(gradients.Noise));
        ZoneChecks.Length(gradients.LogPriors, anchors.Count, nameof(gradients.LogPriors));

        var backend = anchors.Backend;
        using var adjoint = backend.AllocateFloat(rowElements); // [rows, dim]
        backend.Copy(latentsGrad, adjoint);
        flow.Backward(adjoint, null, null, gradients.Anchors, gradients.LogPriors);
        if (gradients.Queries is not null)
            backend.Axpby((float)(1 - forward.Epsilon), adjoint, 1f, gradients.Queries);
        if (gradients.Noise is not null)
            backend.Axpby((float)(forward.Epsilon * forward.NoiseScale), adjoint, 1f, gradients.Noise);
    }
}
