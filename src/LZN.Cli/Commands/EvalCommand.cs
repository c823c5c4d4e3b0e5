using System.CommandLine;
using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.Data;
using LZN.Native.Metrics;
using LZN.Native.Training;
using LZN.Native.Zones;

namespace LZN.Cli.Commands;

/// <summary>`lzn eval --checkpoint FILE`: test accuracy of a joint-task checkpoint.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a checkpoint.safetensors written by lzn train", Required = true };
        var data = new Option<string?>("--data") { Description = "fashion-mnist | synthetic | a folder (default: the data the checkpoint was trained on)" };
        var testLimit = CliOptions.Int("--test-limit", "evaluate on only the first N test images (N >= 1)", min: 1);
        var priorStd = CliOptions.Single("--prior-std", "std of the prior noise of the test latents (default 0: the zone's anchor-side start)", 0f, min: 0);
        var seed = CliOptions.UInt64("--seed", "seed of that noise", 1);
        var evalBatch = CliOptions.Int("--eval-batch", "test images encoded together, each other's anchors (default: the checkpoint's config)");
        var split = CliOptions.ChoiceOrDefault("--split", "test | train: the split to classify (train shows how well the model fits)", "test", "test", "train");
        var ema = new Option<bool>("--ema") { Description = "evaluate the EMA weights instead of the trained ones" };
        var fd = new Option<bool>("--fd")
        {
            Description = "also report the Frechet distance of class-balanced samples to the test split (docs/metrics.md: the project's "
                + "feature classifier, trained once on the training split and cached)",
        };
        var classPrior = CliOptions.ChoiceOrDefault("--class-prior",
            "uniform | train: the label flow's class priors, uniform or the training split's class frequencies", "uniform", "uniform", "train");
        var sweep = StdList();
        var reconstruction = new Option<bool>("--reconstruction")
        {
            Description = "generation checkpoints: invert test images to noise with the decoder's ODE (Euler), regenerate, report mean L2 per image ([-1, 1] units) and PSNR on [0, 1]",
        };
        var reconSamples = CliOptions.Int("--recon-samples", "test images for --reconstruction", 1000, 1, 100_000);
        var fdSamples = CliOptions.Int("--fd-samples", "generated samples for --fd (the protocol uses 10000)", 10_000, 2, 1_000_000);
        var fdLatents = CliOptions.ChoiceOrDefault("--fd-latents",
            "generation checkpoints with --fd: prior | encoded: the samples' latents are prior draws, or the latents of the first --fd-samples "
            + "test images (encoded as --reconstruction encodes them; the same image noise), which scores the decoder apart from the prior", "prior", "prior", "encoded");
        var device = CommonOptions.Device();
        var command = new Command("eval", "Report a checkpoint's classification accuracy (and, with --fd, its sample quality) on the test split.")
        {
            checkpoint, data, testLimit, priorStd, seed, evalBatch, split, ema, classPrior, sweep, fd, fdSamples, fdLatents, reconstruction, reconSamples, device,
        };
        command.SetAction(result => CommonOptions.Run(() =>
        {
            var info = Checkpoint.Open(result.GetValue(checkpoint)!);
            foreach (string warning in info.Warnings)
                Console.Error.WriteLine($"warning: {warning}");
            Checkpoint.RequireTask(info, "lzn eval", TrainingTask.Joint, TrainingTask.Generation);
            var config = info.Config with { Schedule = info.Config.Schedule with { EvalBatch = result.GetValue(evalBatch) ?? info.Config.Schedule.EvalBatch } };
            config.Validate();
            string dataName = result.GetValue(data) ?? info.Config.Data.Source;
            var (train, test) = DataSources.LoadAsync(dataName, classCount: info.Config.Data.ClassCount).GetAwaiter().GetResult();
            string splitName = result.GetValue(split)!;
            if (splitName == "train")
                test = train;
            if (result.GetValue(testLimit) is int limit)
                test = test.Take(limit);
            if (test.Shape != RunOutputs.Shape(info.Config))
                throw new ArgumentException($"{dataName}: images of {test.Shape} do not fit the checkpoint's model ({RunOutputs.Shape(info.Config)}).");
            using var backend = CommonOptions.CreateBackend(result.GetValue(device));
            if (config.Task == TrainingTask.Generation)
            {
                if (!result.GetValue(fd) && !result.GetValue(reconstruction))
                    throw new ArgumentException($"{info.Path}: a generation-task checkpoint has no classification accuracy; give --fd and/or --reconstruction.");
                using var generator = new GenerationModel(backend, config);
                Checkpoint.LoadModel(info, generator.Parameters, result.GetValue(ema));
                if (result.GetValue(fd) && result.GetValue(fdLatents) == "encoded")
                    ReportEncodedLatentFrechetDistance(backend, dataName, train, test, generator, result.GetValue(fdSamples), result.GetValue(seed));
                else if (result.GetValue(fd))
                    ReportFrechetDistance(backend, dataName, train, test, result.GetValue(fdSamples), "unconditional samples (latents from the prior)", generator.Generate, result.GetValue(seed));
                if (result.GetValue(reconstruction))
                    ReportReconstruction(generator, test, result.GetValue(reconSamples), result.GetValue(seed));
                return 0;
            }
            if (result.GetResult(fdLatents) is { Implicit: false })
                throw new ArgumentException("--fd-latents: a joint-task checkpoint's samples draw their latents from the label flow; the option is for generation-task checkpoints.");
            if (result.GetValue(reconstruction))
                throw new ArgumentException("--reconstruction: a joint-task checkpoint's decoder is conditioned on labels; the protocol is for generation-task checkpoints.");
            using var model = new JointModel(backend, config);
            Checkpoint.LoadModel(info, model, result.GetValue(ema));
            if (result.GetValue(sweep) is not null && result.GetResult(priorStd) is { Implicit: false })
                throw new ArgumentException("--prior-std evaluates one std and --prior-std-sweep a list; give one of them.");
            string priorName = result.GetValue(classPrior)!;
            float[]? logPriors = priorName == "train" ? JointModel.BatchLogPriors(train.Labels, config.Data.ClassCount) : null;
            float[] stds = result.GetValue(sweep) is string list ? ParseStds(list) : [result.GetValue(priorStd)];
            foreach (float std in stds)
            {
                double accuracy = model.Accuracy(test.Images, test.Labels, std, result.GetValue(seed), logPriors);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{splitName} accuracy {accuracy:F4} ({accuracy:P2}) on {test.Count} {dataName} {splitName} images, eval batch {model.Config.Schedule.EvalBatch}, prior std {std}, {priorName} class priors, {(result.GetValue(ema) ? "EMA" : "trained")} weights, step {info.Step}"));
            }
            if (result.GetValue(fd))
            {
                float[] ClassBalanced(int count, ulong chunkSeed) =>
                    model.Generate([.. Enumerable.Range(0, count).Select(i => i % model.Config.Data.ClassCount)], chunkSeed);
                ReportFrechetDistance(backend, dataName, train, test, result.GetValue(fdSamples), "class-balanced samples", ClassBalanced, result.GetValue(seed));
            }
            return 0;
        }, new Dictionary<string, string>(StringComparer.Ordinal) { ["eval_batch"] = "--eval-batch" }));
        return command;
    }

    /// <summary>"--prior-std-sweep 0,0.2,0.4": non-negative finite stds separated by commas; anything else is a parse error naming the option.</summary>
    private static Option<string?> StdList()
    {
        var option = new Option<string?>("--prior-std-sweep")
        {
            Description = "evaluate at each std of a comma-separated list, e.g. 0,0.2,0.4,0.6,0.8,1,1.2 (the paper's sweep)",
        };
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count == 1 && TryParseStds(result.Tokens[0].Value) is null)
                result.AddError($"--prior-std-sweep {result.Tokens[0].Value}: expected numbers >= 0 separated by commas, e.g. 0,0.2,0.4.");
        });
        return option;
    }

    private static float[] ParseStds(string text) => TryParseStds(text) ?? throw new ArgumentException($"bad std list '{text}'.");

    private static float[]? TryParseStds(string text)
    {
        var stds = new List<float>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!float.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out float std) || !float.IsFinite(std) || std < 0)
                return null;
            stds.Add(std);
        }
        return [.. stds];
    }

    /// <summary>The FD protocol of docs/metrics.md: class-balanced samples vs the test split, in the feature classifier's space.</summary>
    private static void ReportFrechetDistance(IBackend backend, string dataName, ImageDataset train, ImageDataset test,
        int sampleCount, string what, Func<int, ulong, float[]> generate, ulong seed)
    {
        var progress = new Progress<EpochSummary>(epoch => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"feature classifier epoch {epoch.Epoch}: loss {epoch.MeanLoss:F4}, train accuracy {epoch.TrainAccuracy:P2}")));
        using var classifier = FeatureClassifierCache.GetOrTrain(backend, DatasetId(dataName), train, new FeatureClassifierOptions(), seed: 1, progress: progress);
        const int chunk = 500;
        var generated = new float[(long)sampleCount * train.Shape.Size];
        for (int first = 0; first < sampleCount; first += chunk)
        {
            int rows = Math.Min(chunk, sampleCount - first);
            generate(rows, seed + (ulong)first).CopyTo(generated.AsSpan(first * train.Shape.Size));
        }
        var fd = new FrechetEvaluator(classifier).Evaluate(generated, sampleCount, test);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"frechet distance {fd.Distance:F3}: {fd.GeneratedCount} {what} vs {fd.RealCount} {fd.RealData} images, features of {fd.FeatureNetId} ({fd.FeatureDim}-wide {fd.FeatureLayer})"));
    }

    /// <summary>
    /// `--fd-latents encoded`: the FD of samples conditioned on the latents of the first test images, and those latents'
    /// statistics against the prior's (mean 0, std 1, norm / sqrt(d) about 1).
    /// </summary>
    private static void ReportEncodedLatentFrechetDistance(IBackend backend, string dataName, ImageDataset train, ImageDataset test, GenerationModel model,
        int sampleCount, ulong seed)
    {
        if (model.Config.Decoder.ZeroLatent)
            throw new ArgumentException("--fd-latents encoded: a latent none checkpoint (the plain rectified-flow baseline) has no latents to encode.");
        if (sampleCount > test.Count)
            throw new ArgumentException($"--fd-latents encoded: --fd-samples {sampleCount} needs that many test images; there are {test.Count}.");
        int dim = model.Config.Latent.Dim, next = 0;
        double sum = 0, squares = 0, norms = 0;
        float[] FromTestImages(int rows, ulong chunkSeed)
        {
            // ReportFrechetDistance asks for its chunks in order, so the next chunk takes the next test images.
            var (samples, latents) = model.GenerateFromEncoded(test.Images.AsSpan(next * test.Shape.Size, rows * test.Shape.Size), rows, chunkSeed);
            next += rows;
            for (int row = 0; row < rows; row++)
            {
                double norm = 0;
                foreach (float value in latents.AsSpan(row * dim, dim))
                    (sum, norm) = (sum + value, norm + (double)value * value);
                squares += norm;
                norms += Math.Sqrt(norm / dim);
            }
            return samples;
        }
        ReportFrechetDistance(backend, dataName, train, test, sampleCount, "samples conditioned on encoded test images' latents", FromTestImages, seed);
        double values = (double)sampleCount * dim, mean = sum / values;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"encoded latents: mean {mean:F4}, std {Math.Sqrt(squares / values - mean * mean):F4}, norm / sqrt(d) {norms / sampleCount:F4} over {sampleCount} test images (the prior N(0, I): 0, 1, about 1)"));
    }

    private static void ReportReconstruction(GenerationModel model, ImageDataset test, int count, ulong seed)
    {
        var images = test.Take(Math.Min(count, test.Count));
        var scores = GenerationModel.ReconstructionScores(images.Images, model.Reconstruct(images.Images, images.Count, seed), images.Count);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"reconstruction_l2 {scores.L2:F4} (mean per image, [-1, 1] units), reconstruction_psnr {scores.Psnr:F2} dB (on [0, 1]): "
            + $"{images.Count} test images, eval batch {model.Config.Schedule.EvalBatch}, Euler {model.Config.Decoder.SampleSteps} steps each way, seed {seed}, latent {LatentFlow(model.Config)}"));
    }

    /// <summary>"none", or "lzn (DPM-Solver++ order 3, 20 steps)": the encoder flow the checkpoint was trained with, which its latents use.</summary>
    private static string LatentFlow(TrainingConfig config) => config.Decoder.ZeroLatent ? "none"
        : config.Latent.Solver == FlowSolver.Euler ? $"lzn (Euler, {config.Latent.Steps} steps)"
        : $"lzn (DPM-Solver++ order {config.Latent.SolverOrder}, {config.Latent.Steps} steps)";

    // The cache key names the data; a folder is named by its last component.
    private static string DatasetId(string dataName) =>
        Directory.Exists(dataName) ? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dataName))) : dataName;
}
