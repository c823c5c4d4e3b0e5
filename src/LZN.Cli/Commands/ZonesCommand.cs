using System.CommandLine;
using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.IO;
using LZN.Native.Zones;

namespace LZN.Cli.Commands;

/// <summary>`lzn zones encode|assign`: the latent flow on .npy files, for scripting.</summary>
internal static class ZonesCommand
{
    /// <summary>
    /// The prior noise scale alpha `encode` uses by default: the README's example and the representation-learning
    /// case study use 0.45; at alpha 1 with 20 Euler steps only about 60% of separated anchors return to their own zone.
    /// </summary>
    public const float DefaultAlpha = 0.45f;

    /// <summary>Below this share of rows returning to their own zone, a round trip is reported as poor, with the fix.</summary>
    public const double GoodIdentityRate = 0.99;

    /// <summary>The most flow steps a command accepts: each step costs a full pass over every anchor for every row.</summary>
    public const int MaxSteps = 10_000;

    public static Command Create() => new("zones", "Latent-zone flows on .npy files (float32/float64, C order).")
    {
        Encode(),
        Assign(),
    };

    private static Command Encode()
    {
        var anchors = new Option<FileInfo>("--anchors") { Description = "anchors A [N, d] (.npy); every row is also a query", Required = true };
        var prior = new Option<FileInfo>("--prior") { Description = "prior noise Z [N, d] (.npy), same shape as A", Required = true };
        var steps = CliOptions.Int("--steps", "flow steps K", 20, 1, MaxSteps);
        var alpha = CliOptions.Single("--alpha", $"scale of the prior noise (default {DefaultAlpha.ToString(CultureInfo.InvariantCulture)}; larger values need more steps to round-trip)", DefaultAlpha, min: 0);
        var solver = CliOptions.ChoiceOrDefault("--solver", "euler | dpm (DPM-Solver++, order 3)", "euler", "euler", "dpm");
        var output = new Option<FileInfo>("--out") { Description = "latents [N, d] (float32 .npy)", Required = true };
        var skipCheck = new Option<bool>("--skip-check") { Description = "do not flow the latents back to measure how many rows return to their own zone (saves one flow)" };
        var device = CommonOptions.Device();
        var command = new Command("encode", "Encode every row of A into the Gaussian latent space (queries = anchors), then check the round trip.")
        {
            anchors, prior, steps, alpha, solver, output, skipCheck, device,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var flowSolver = result.GetValue(solver) == "dpm" ? FlowSolver.DpmSolverPlusPlus : FlowSolver.Euler;
            var anchorArray = ReadMatrix(result.GetValue(anchors)!, "anchors");
            var priorArray = ReadMatrix(result.GetValue(prior)!, "prior noise");
            if (!anchorArray.Shape.SequenceEqual(priorArray.Shape))
            {
                throw new FormatException(
                    $"{result.GetValue(prior)!.FullName}: shape ({string.Join(", ", priorArray.Shape)}) differs from the anchors' ({string.Join(", ", anchorArray.Shape)}).");
            }
            int stepCount = result.GetValue(steps);
            var (rows, dim) = anchorArray.Matrix;

            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            using var anchorBuffer = backend.FromHost(anchorArray.Data);       // [N, d]
            using var noiseBuffer = backend.FromHost(priorArray.Data);         // [N, d]
            var zoneAnchors = new ZoneAnchors(anchorBuffer, rows, dim);
            using var encoded = LatentEncoder.Encode(zoneAnchors, noiseBuffer, new EncodeOptions
            {
                Steps = stepCount,
                NoiseScale = result.GetValue(alpha),
                Solver = flowSolver,
            });
            float[] latents = encoded.Latents.ToArray();
            RequireFiniteOutput(latents, rows, dim, "latents");
            Npy.Write(result.GetValue(output)!.FullName, latents, rows, dim);
            Console.Error.WriteLine($"encoded {rows} x {dim} with {stepCount} {flowSolver} steps on {backend.Description}");
            if (!result.GetValue(skipCheck))
            {
                int[] zones = AssignZones(zoneAnchors, encoded.Latents, rows, stepCount);
                // The prior is N(0, I): anchors spread far wider squeeze their zones thinner than the steps resolve.
                double rms = Math.Sqrt(anchorArray.Data.Average(value => (double)value * value));
                string rescale = rms > 3 ? string.Create(CultureInfo.InvariantCulture, $", or scale the anchors down (their RMS is {rms:G3}, the prior's is 1)") : "";
                ReportIdentityRate(zones, anchorArray.Data, dim, $"round trip (assign with --steps {stepCount})",
                    $"raise --steps (e.g. {Math.Min(stepCount * 5, MaxSteps)}) or lower --alpha (e.g. 0.3){rescale}, and encode again");
            }
            return 0;
        }));
        return command;
    }

    private static Command Assign()
    {
        var latents = new Option<FileInfo>("--latents") { Description = "latents L [B, d] (.npy)", Required = true };
        var anchors = new Option<FileInfo>("--anchors") { Description = "anchors A [N, d] (.npy)", Required = true };
        var steps = CliOptions.Int("--steps", "flow steps K", 20, 1, MaxSteps);
        var output = new Option<FileInfo>("--out") { Description = "zone index per row [B] (int32 .npy)", Required = true };
        var finalPoints = new Option<FileInfo?>("--final-points") { Description = "also write the flow's end points [B, d] (float32 .npy)" };
        var device = CommonOptions.Device();
        var command = new Command("assign", "Flow latents back onto the anchors and write each row's zone; with one latent per anchor, report how many rows land in their own anchor's zone.")
        {
            latents, anchors, steps, output, finalPoints, device,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var latentArray = ReadMatrix(result.GetValue(latents)!, "latents");
            var anchorArray = ReadMatrix(result.GetValue(anchors)!, "anchors");
            var (rows, dim) = latentArray.Matrix;
            var (anchorCount, anchorDim) = anchorArray.Matrix;
            if (dim != anchorDim)
                throw new FormatException($"{result.GetValue(latents)!.FullName}: latent dimension {dim} differs from the anchors' {anchorDim}.");
            int stepCount = result.GetValue(steps);

            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            using var anchorBuffer = backend.FromHost(anchorArray.Data);       // [N, d]
            using var latentBuffer = backend.FromHost(latentArray.Data);       // [B, d]
            var zoneAnchors = new ZoneAnchors(anchorBuffer, anchorCount, dim);
            using var assigned = ZoneAssigner.Assign(zoneAnchors, latentBuffer, rows, targets: null, new AssignOptions { Steps = stepCount });
            float[] points = assigned.FinalPoints.ToArray();
            RequireFiniteOutput(points, rows, dim, "flow end points");
            int[] zones = ZoneAssigner.NearestAnchors(zoneAnchors, assigned.FinalPoints, rows);
            Npy.Write(result.GetValue(output)!.FullName, zones, rows);
            if (result.GetValue(finalPoints) is { } pointsFile)
                Npy.Write(pointsFile.FullName, points, rows, dim);
            Console.Error.WriteLine($"assigned {rows} rows to {anchorCount} zones with {stepCount} steps on {backend.Description}");
            // One latent per anchor: most likely encoded from these anchors, where row i belongs in zone i.
            if (rows == anchorCount)
            {
                ReportIdentityRate(zones, anchorArray.Data, dim, "identity rate (if the latents were encoded from these anchors)",
                    "encode again with more --steps or a lower --alpha, and assign with as many --steps");
            }
            return 0;
        }));
        return command;
    }

    private static int[] AssignZones(ZoneAnchors anchors, FloatBuffer latents, int rows, int steps)
    {
        using var assigned = ZoneAssigner.Assign(anchors, latents, rows, targets: null, new AssignOptions { Steps = steps });
        return ZoneAssigner.NearestAnchors(anchors, assigned.FinalPoints, rows);
    }

    /// <summary>
    /// Prints the share of rows whose zone is their own anchor's (or an identical anchor's) and, when it is poor, a
    /// warning with <paramref name="fix"/>.
    /// </summary>
    private static void ReportIdentityRate(int[] zones, float[] anchors, int dim, string what, string fix)
    {
        int home = 0;
        for (int row = 0; row < zones.Length; row++)
        {
            if (zones[row] == row || anchors.AsSpan(zones[row] * dim, dim).SequenceEqual(anchors.AsSpan(row * dim, dim)))
                home++;
        }
        double rate = (double)home / zones.Length;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}: {home} of {zones.Length} rows ({rate * 100:F1}%) are in their own anchor's zone"));
        if (rate < GoodIdentityRate)
            Console.Error.WriteLine($"warning: the round trip is poor; {fix}.");
    }

    /// <summary>
    /// A 2-D, non-empty, finite array whose values are at most <see cref="ZoneAnchors.MaxMagnitude"/>: beyond that the
    /// flow's squared distances leave float32's range and every zone index would be arbitrary.
    /// </summary>
    private static NpyArray ReadMatrix(FileInfo file, string what)
    {
        var array = Npy.Read(file.FullName);
        if (array.Rank != 2)
            throw new NpyFormatException(file.FullName, $"expected a 2-D array [rows, dim] of {what}; shape is ({string.Join(", ", array.Shape)}).");
        if (array.Shape[0] == 0 || array.Shape[1] == 0)
            throw new NpyFormatException(file.FullName, $"the {what} array is empty.");
        array.RequireFinite(file.FullName, what, ZoneAnchors.MaxMagnitude);
        return array;
    }

    /// <summary>Finite inputs within bounds give finite outputs; this is the guard that no NaN reaches a file if not.</summary>
    private static void RequireFiniteOutput(float[] values, int rows, int dim, string what)
    {
        long bad = FiniteValues.FirstOutside(values);
        if (bad >= 0)
            throw new InvalidOperationException($"the flow produced a non-finite value in its {what} at {FiniteValues.FormatIndex(bad, [rows, dim])}; nothing was written.");
    }
}
