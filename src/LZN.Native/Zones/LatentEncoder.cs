using LZN.Native.Backends;

namespace LZN.Native.Zones;

/// <summary>
/// Gradients of an encode, each accumulated (+=) when given. For an encode of anchor rows the query
/// path lands in <see cref="Anchors"/> (which is then required) and <see cref="Queries"/> must be null.
/// </summary>
public readonly record struct EncodeGradients(
    FloatBuffer? Anchors = null, // [anchorCount, dim]
    FloatBuffer? Queries = null, // [rows, dim]
    FloatBuffer? Noise = null, // [rows, dim]
    FloatBuffer? LogPriors = null); // [anchorCount]

/// <summary>A forward latent flow whose backward <see cref="LatentEncoder.Backward"/> runs: Euler or DPM-Solver++.</summary>
internal interface ILatentFlow : IDisposable
{
    ZoneAnchors Anchors { get; }

    bool HasTrajectory { get; }

    /// <summary>
    /// <paramref name="adjoint"/> [rows, dim] holds dL/dx_K on entry and dL/dx_0 on return; anchor and prior gradients
    /// accumulate (+=). With <paramref name="selfAnchorOffset"/> the rows are anchor rows from that offset and their
    /// whole query path lands in <paramref name="anchorsGrad"/> (the backward runs in u = x - (1 - t) q, whose start
    /// carries no q); the adjoint still returns dL/dx_0 for the noise.
    /// </summary>
    void Backward(FloatBuffer adjoint, FloatBuffer? anchorsGrad, FloatBuffer? logPriorsGrad, int? selfAnchorOffset);
}

/// <summary>The latents of an encode and, when kept, the trajectory its backward recomputes from.</summary>
public sealed class EncodeResult : IDisposable
{
    private readonly ILatentFlow _flow;

    internal EncodeResult(FloatBuffer latents, int rows, double epsilon, float noiseScale, int? firstAnchorRow, ILatentFlow flow)
    {
        Latents = latents;
        Rows = rows;
        Epsilon = epsilon;
        NoiseScale = noiseScale;
        FirstAnchorRow = firstAnchorRow;
        _flow = flow;
    }

    /// <summary>x_K [Rows, Dim].</summary>
    public FloatBuffer Latents { get; }

    public int Rows { get; }

    public double Epsilon { get; }

    public float NoiseScale { get; }

    /// <summary>The first anchor row used as a query, or null when the queries were given points.</summary>
    public int? FirstAnchorRow { get; }

    public bool HasTrajectory => _flow.HasTrajectory;

    internal ILatentFlow Flow => _flow;

    public void Dispose()
    {
        Latents.Dispose();
        _flow.Dispose();
    }
}

/// <summary>
/// The forward latent flow, anchor -> latent (docs/math.md section 4):
/// x_0 = eps alpha z + (1 - eps) q at t = eps, then K solver steps of dx/dt = (x - m(x, t))/t.
/// </summary>
public static class LatentEncoder
{
    /// <summary>Encodes every anchor: queries = A, rows = anchors.Count; noise [Count, Dim] or null.</summary>
    public static EncodeResult Encode(ZoneAnchors anchors, FloatBuffer? noise, EncodeOptions? options = null) =>
        EncodeAnchorRows(anchors, 0, anchors.Count, noise, options);

    /// <summary>Encodes anchor rows [firstRow, firstRow + rows) (e.g. this device's share of a batch); noise [rows, Dim] or null.</summary>
    public static EncodeResult EncodeAnchorRows(ZoneAnchors anchors, int firstRow, int rows, FloatBuffer? noise, EncodeOptions? options = null)
    {
        anchors.Validate();
        if (firstRow < 0 || rows <= 0 || firstRow + rows > anchors.Count)
            throw new ArgumentOutOfRangeException(nameof(rows), $"Anchor rows [{firstRow}, {firstRow + rows}) are outside [0, {anchors.Count}).");
        var queries = anchors.Anchors.Slice((long)firstRow * anchors.Dim, (long)rows * anchors.Dim);
        return Run(anchors, queries, rows, firstRow, noise, options ?? new EncodeOptions());
    }

    /// <summary>
    /// Encodes given query points [rows, dim] (not anchor rows) with prior noise [rows, dim] (null = no noise,
    /// the zone's anchor-side start) through the flow over <paramref name="anchors"/>.
    /// </summary>
    public static EncodeResult Encode(ZoneAnchors anchors, FloatBuffer queries, int rows, FloatBuffer? noise, EncodeOptions? options = null)
    {
        anchors.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        return Run(anchors, queries, rows, null, noise, options ?? new EncodeOptions());
    }

    private static EncodeResult Run(ZoneAnchors anchors, FloatBuffer queries, int rows, int? firstAnchorRow, FloatBuffer? noise, EncodeOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Steps);
        long rowElements = (long)rows * anchors.Dim;
        ZoneChecks.Length(queries, rowElements, nameof(queries));
        ZoneChecks.Length(noise, rowElements, nameof(noise));
        double epsilon = options.EffectiveEpsilon;
        if (!(epsilon > 0 && epsilon < 0.5))
            throw new ArgumentOutOfRangeException(nameof(options), epsilon, "Epsilon must lie in (0, 0.5).");
        if (options.Solver == FlowSolver.DpmSolverPlusPlus && options.SolverOrder is < 1 or > 3)
            throw new ArgumentOutOfRangeException(nameof(options), options.SolverOrder, "DPM-Solver++ order must be 1, 2 or 3.");

        var latents = anchors.Backend.AllocateFloat(rowElements); // [rows, dim]
        using var start = new EncodeStart(queries, noise, epsilon, options.NoiseScale);
        if (options.Solver == FlowSolver.DpmSolverPlusPlus)
        {
            var dpm = DpmSolverPlusPlus.Run(anchors, start, latents, rows, options.Steps, options.SolverOrder, epsilon, 1 - epsilon, options.KeepTrajectory);
            return new EncodeResult(latents, rows, epsilon, options.NoiseScale, firstAnchorRow, dpm);
        }

        var flow = EulerFlow.Run(anchors, start.Points, latents, rows, options.Steps, epsilon, (1 - epsilon) / options.Steps,
            options.KeepTrajectory, firstStep: start);
        return new EncodeResult(latents, rows, epsilon, options.NoiseScale, firstAnchorRow, flow);
    }

    /// <summary>
    /// Backward of an encode (either solver) given dL/dlatents [rows, dim]: key/value gradients into anchors (and
    /// log-priors); the query path into anchors (anchor-row queries) or into Queries as (1 - eps) lambda_0
    /// (given points); dz += eps alpha lambda_0.
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
        if (forward.FirstAnchorRow is not null && (gradients.Anchors is null || gradients.Queries is not null))
            throw new ArgumentException("An encode of anchor rows takes its query gradient in Anchors; pass Anchors and no Queries.", nameof(gradients));

        var backend = anchors.Backend;
        using var adjoint = backend.AllocateFloat(rowElements); // [rows, dim]
        backend.Copy(latentsGrad, adjoint);
        flow.Backward(adjoint, gradients.Anchors, gradients.LogPriors, forward.FirstAnchorRow);
        if (gradients.Queries is not null)
            backend.Axpby((float)(1 - forward.Epsilon), adjoint, 1f, gradients.Queries);
        if (gradients.Noise is not null)
            backend.Axpby((float)(forward.Epsilon * forward.NoiseScale), adjoint, 1f, gradients.Noise);
    }
}
