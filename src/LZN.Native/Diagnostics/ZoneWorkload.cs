using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.Verification;
using LZN.Native.Zones;

namespace LZN.Native.Diagnostics;

/// <summary>One zone benchmark size: rows B, anchors N, dim d, steps K.</summary>
public sealed record ZoneCase(int Rows, int AnchorCount, int Dim, int Steps, bool ForwardOnly = false)
{
    /// <summary>2 * 2 B N d K: the logits and the weighted sum of every forward velocity.</summary>
    public double ForwardFlops => 4.0 * Rows * AnchorCount * Dim * Steps;

    /// <summary>The sizes `lzn bench zones` measures on a GPU by default (the targets of docs/kernels.md are set at them).</summary>
    public static IReadOnlyList<ZoneCase> GpuSizes { get; } =
    [
        new(250, 2000, 200, 20),
        new(1024, 8192, 256, 20),
        new(8192, 8192, 256, 20),
        new(32768, 32768, 256, 20, ForwardOnly: true),
    ];

    /// <summary>The sizes it measures on the CPU by default (numpy's float32 encode is the bar, docs/zones.md).</summary>
    public static IReadOnlyList<ZoneCase> CpuSizes { get; } =
    [
        new(256, 2048, 256, 20),
        new(1024, 1024, 64, 20),
        new(2048, 2048, 256, 20),
    ];

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Rows}x{AnchorCount}x{Dim}x{Steps}");
}

/// <summary>The three measured zone operations on seeded inputs (queries are the first B anchors).</summary>
public sealed class ZoneWorkload : IDisposable
{
    /// <summary>Representation-learning settings: prior noise scale 0.45, Euler, eps = 1e-4.</summary>
    public const float NoiseScale = 0.45f;

    public const double Epsilon = 1e-4;

    private readonly FloatBuffer _anchors;     // [anchorCount, dim]
    private readonly FloatBuffer _noise;       // [rows, dim]
    private readonly FloatBuffer _latentsGrad; // [rows, dim]
    private readonly FloatBuffer _anchorsGrad; // [anchorCount, dim]
    private readonly FloatBuffer _lossGrad;    // [steps, rows]
    private readonly IntBuffer _targets;       // [rows]

    public ZoneWorkload(IBackend backend, ZoneCase zoneCase)
    {
        if (zoneCase.Rows > zoneCase.AnchorCount)
            throw new ArgumentException($"The queries are anchor rows, so B = {zoneCase.Rows} must not exceed N = {zoneCase.AnchorCount}.", nameof(zoneCase));
        Backend = backend;
        Case = zoneCase;
        _anchors = backend.AllocateFloat((long)zoneCase.AnchorCount * zoneCase.Dim);
        backend.FillNormal(_anchors, seed: 1, offset: 0, mean: 0f, std: 1f);
        _noise = backend.AllocateFloat((long)zoneCase.Rows * zoneCase.Dim);
        backend.FillNormal(_noise, seed: 2, offset: 0, mean: 0f, std: 1f);
        _latentsGrad = backend.AllocateFloat((long)zoneCase.Rows * zoneCase.Dim);
        backend.FillNormal(_latentsGrad, seed: 3, offset: 0, mean: 0f, std: 1f);
        _anchorsGrad = backend.AllocateFloat((long)zoneCase.AnchorCount * zoneCase.Dim);
        _lossGrad = backend.AllocateFloat((long)zoneCase.Steps * zoneCase.Rows);
        // Row i's target is anchor i, as in representation learning (two views of one batch).
        _targets = backend.FromHost(Enumerable.Range(0, zoneCase.Rows).ToArray());
    }

    public IBackend Backend { get; }

    public ZoneCase Case { get; }

    private ZoneAnchors Anchors => new(_anchors, Case.AnchorCount, Case.Dim);

    private EncodeResult Encode(bool keepTrajectory) => LatentEncoder.EncodeAnchorRows(Anchors, 0, Case.Rows, _noise,
        new EncodeOptions { Steps = Case.Steps, NoiseScale = NoiseScale, Epsilon = Epsilon, KeepTrajectory = keepTrajectory });

    public void EncodeForward()
    {
        using var encoded = Encode(keepTrajectory: false);
        Backend.Synchronize();
    }

    public void EncodeForwardBackward()
    {
        using var encoded = Encode(keepTrajectory: true);
        LatentEncoder.Backward(encoded, _latentsGrad, new EncodeGradients(Anchors: _anchorsGrad));
        Backend.Synchronize();
    }

    /// <summary>The reference's training step: encode without gradients, assign with targets, CE loss, backward.</summary>
    public void EncodeThenAssignLoss()
    {
        using var encoded = Encode(keepTrajectory: false);
        using var assigned = ZoneAssigner.Assign(Anchors, encoded.Latents, Case.Rows, _targets,
            new AssignOptions { Steps = Case.Steps, KeepTrajectory = true });
        AssignmentLoss.Evaluate(assigned, AssignmentLossKind.CrossEntropy, _lossGrad);
        ZoneAssigner.Backward(assigned, null, _lossGrad, new AssignGradients(Latents: _latentsGrad, Anchors: _anchorsGrad));
        Backend.Synchronize();
    }

    /// <summary>
    /// Relative error of the encode latents against the float64 oracle on <paramref name="sampleRows"/> rows spread
    /// over the batch (each row's flow depends only on its own start and all anchors, so a sample is exact).
    /// </summary>
    public double EncodeRelativeError(int sampleRows = 8)
    {
        int rows = Math.Min(sampleRows, Case.Rows), dim = Case.Dim;
        using var encoded = Encode(keepTrajectory: false);
        float[] anchors = _anchors.ToArray();
        var queries = new double[rows * dim];
        var noise = new double[rows * dim];
        var actual = new float[rows * dim];
        var row = new float[dim];
        for (int s = 0; s < rows; s++)
        {
            long index = (long)s * Case.Rows / rows;
            Backend.Download(encoded.Latents.Slice(index * dim, dim), row);
            row.CopyTo(actual, s * dim);
            Backend.Download(_noise.Slice(index * dim, dim), row);
            for (int k = 0; k < dim; k++)
            {
                noise[s * dim + k] = row[k];
                queries[s * dim + k] = anchors[index * dim + k];
            }
        }
        var problem = new OracleProblem(Array.ConvertAll(anchors, v => (double)v), Case.AnchorCount, dim);
        var expected = ZoneOracle.Encode(problem, queries, rows, noise, NoiseScale, Epsilon, Case.Steps).Final;
        return ErrorMeasure.Normwise.Error(actual, expected);
    }

    public void Dispose()
    {
        _anchors.Dispose();
        _noise.Dispose();
        _latentsGrad.Dispose();
        _anchorsGrad.Dispose();
        _lossGrad.Dispose();
        _targets.Dispose();
    }
}
