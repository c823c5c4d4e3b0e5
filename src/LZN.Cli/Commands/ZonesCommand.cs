using System.CommandLine;
using LZN.Native.Backends;
using LZN.Native.IO;
using LZN.Native.Zones;

namespace LZN.Cli.Commands;

/// <summary>`lzn zones encode|assign`: the latent flow on .npy files, for scripting.</summary>
internal static class ZonesCommand
{
    public static Command Create() => new("zones", "Latent-zone flows on .npy files (float32/float64, C order).")
    {
        Encode(),
        Assign(),
    };

    private static Command Encode()
    {
        var anchors = new Option<FileInfo>("--anchors") { Description = "anchors A [N, d] (.npy); every row is also a query", Required = true };
        var prior = new Option<FileInfo>("--prior") { Description = "prior noise Z [N, d] (.npy), same shape as A", Required = true };
        var steps = new Option<int>("--steps") { Description = "flow steps K", DefaultValueFactory = _ => 20 };
        var alpha = new Option<float>("--alpha") { Description = "scale of the prior noise", DefaultValueFactory = _ => 1f };
        var solver = new Option<string>("--solver") { Description = "euler | dpm (DPM-Solver++, order 3)", DefaultValueFactory = _ => "euler" };
        var output = new Option<FileInfo>("--out") { Description = "latents [N, d] (float32 .npy)", Required = true };
        var device = CommonOptions.Device();
        var command = new Command("encode", "Encode every row of A into the Gaussian latent space (queries = anchors).")
        {
            anchors, prior, steps, alpha, solver, output, device,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var flowSolver = result.GetValue(solver)!.ToLowerInvariant() switch
            {
                "euler" => FlowSolver.Euler,
                "dpm" or "dpm++" or "dpmsolver++" => FlowSolver.DpmSolverPlusPlus,
                string other => throw new FormatException($"Unknown solver '{other}'; expected euler or dpm."),
            };
            var anchorArray = ReadMatrix(result.GetValue(anchors)!);
            var priorArray = ReadMatrix(result.GetValue(prior)!);
            if (!anchorArray.Shape.SequenceEqual(priorArray.Shape))
            {
                throw new FormatException(
                    $"{result.GetValue(prior)!.FullName}: shape ({string.Join(", ", priorArray.Shape)}) differs from the anchors' ({string.Join(", ", anchorArray.Shape)}).");
            }
            int stepCount = PositiveSteps(result.GetValue(steps));
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
            Npy.Write(result.GetValue(output)!.FullName, encoded.Latents.ToArray(), rows, dim);
            Console.Error.WriteLine($"encoded {rows} x {dim} with {stepCount} {flowSolver} steps on {backend.Description}");
            return 0;
        }));
        return command;
    }

    private static Command Assign()
    {
        var latents = new Option<FileInfo>("--latents") { Description = "latents L [B, d] (.npy)", Required = true };
        var anchors = new Option<FileInfo>("--anchors") { Description = "anchors A [N, d] (.npy)", Required = true };
        var steps = new Option<int>("--steps") { Description = "flow steps K", DefaultValueFactory = _ => 20 };
        var output = new Option<FileInfo>("--out") { Description = "zone index per row [B] (int32 .npy)", Required = true };
        var finalPoints = new Option<FileInfo?>("--final-points") { Description = "also write the flow's end points [B, d] (float32 .npy)" };
        var device = CommonOptions.Device();
        var command = new Command("assign", "Flow latents back onto the anchors and write each row's zone.")
        {
            latents, anchors, steps, output, finalPoints, device,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var latentArray = ReadMatrix(result.GetValue(latents)!);
            var anchorArray = ReadMatrix(result.GetValue(anchors)!);
            var (rows, dim) = latentArray.Matrix;
            var (anchorCount, anchorDim) = anchorArray.Matrix;
            if (dim != anchorDim)
                throw new FormatException($"{result.GetValue(latents)!.FullName}: latent dimension {dim} differs from the anchors' {anchorDim}.");
            int stepCount = PositiveSteps(result.GetValue(steps));

            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            using var anchorBuffer = backend.FromHost(anchorArray.Data);       // [N, d]
            using var latentBuffer = backend.FromHost(latentArray.Data);       // [B, d]
            var zoneAnchors = new ZoneAnchors(anchorBuffer, anchorCount, dim);
            using var assigned = ZoneAssigner.Assign(zoneAnchors, latentBuffer, rows, targets: null, new AssignOptions { Steps = stepCount });
            int[] zones = ZoneAssigner.NearestAnchors(zoneAnchors, assigned.FinalPoints, rows);
            Npy.Write(result.GetValue(output)!.FullName, zones, rows);
            if (result.GetValue(finalPoints) is { } pointsFile)
                Npy.Write(pointsFile.FullName, assigned.FinalPoints.ToArray(), rows, dim);
            Console.Error.WriteLine($"assigned {rows} rows to {anchorCount} zones with {stepCount} steps on {backend.Description}");
            return 0;
        }));
        return command;
    }

    private static NpyArray ReadMatrix(FileInfo file)
    {
        var array = Npy.Read(file.FullName);
        if (array.Rank != 2)
            throw new NpyFormatException(file.FullName, $"expected a 2-D array [rows, dim]; shape is ({string.Join(", ", array.Shape)}).");
        if (array.Shape[0] == 0 || array.Shape[1] == 0)
            throw new NpyFormatException(file.FullName, "the array is empty.");
        return array;
    }

    private static int PositiveSteps(int steps) =>
        steps > 0 ? steps : throw new ArgumentException($"--steps must be positive (got {steps}).");
}
