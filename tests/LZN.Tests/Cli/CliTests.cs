using System.Text.Json;
using LZN.Native.IO;

namespace LZN.Tests.Cli;

public class CliTests
{
    [Test]
    public void SelftestOnTheCpuPassesAndPrintsTheTable()
    {
        var result = CliProcess.Run("selftest", "--device", "cpu", "--seed", "7");
        Assert.That(result.ExitCode, Is.Zero, result.Output + result.Error);
        Assert.That(result.Output, Does.Contain("gemm NT").And.Contain("philox normal").And.Contain("max rel err"));
        Assert.That(result.Output, Does.Match(@"selftest: \d+ passed, 0 failed"));
    }

    [Test]
    public void KernelsReportsEachKernelOrRefusesAnUnknownArchitecture()
    {
        LZN.Tests.Kernels.NvrtcRequirement.EnsureLoaded();
        var report = CliProcess.Run("kernels", "--arch", "sm_80");
        Assert.That(report.ExitCode, Is.Zero, report.Error);
        Assert.That(report.Output, Does.Contain("sm_80").And.Contain("zone_backward_anchors_tiles_64").And.Contain("static"));
        var unknown = CliProcess.Run("kernels", "--arch", "sm_12");
        Assert.That(unknown.ExitCode, Is.EqualTo(2));
        Assert.That(unknown.Error, Does.Contain("sm_12 has no limits table"));
    }

    [Test]
    public void AnUnknownDeviceIsAClearError()
    {
        var result = CliProcess.Run("selftest", "--device", "tpu");
        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Error, Does.Contain("Unknown device 'tpu'"));
    }

    [Test]
    public void AutoFallsBackToTheCpuAndSaysWhy()
    {
        if (LZN.Native.Backends.Cuda.CudaBackend.TryCreate(0, out var cuda, out _))
        {
            cuda.Dispose();
            Assert.Ignore("a CUDA device is present; auto picks it");
        }
        var result = CliProcess.Run(new Dictionary<string, string?> { ["LZN_DEVICE"] = null }, "selftest", "--seed", "3");
        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.Error, Does.Contain("device: auto -> CPU").And.Contain("CUDA unavailable"));
    }

    [Test]
    public void InfoReportsTheCpuBackendAndWhyCudaIsUnavailable()
    {
        if (LZN.Native.Backends.Cuda.CudaBackend.TryCreate(0, out var cuda, out _))
        {
            cuda.Dispose();
            Assert.Ignore("a CUDA device is present");
        }
        var result = CliProcess.Run("info");
        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.Output, Does.Contain("backend: CPU").And.Contain("unavailable: libcuda").And.Contain("kernel cache:"));
    }

    [Test]
    public void ZonesEncodeThenAssignReturnsWellSeparatedAnchorsToTheirZones()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-zones-").FullName;
        try
        {
            const int count = 40, dim = 24;
            var random = new Random(11);
            // Anchors on scaled one-hot directions are far apart; the prior noise is N(0, 1).
            var anchors = new float[count * dim];
            for (int i = 0; i < count; i++)
                anchors[i * dim + i % dim] = i < dim ? 6f : -6f;
            var prior = Enumerable.Range(0, count * dim).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            string a = Path.Combine(folder, "A.npy"), z = Path.Combine(folder, "Z.npy");
            string latents = Path.Combine(folder, "L.npy"), zones = Path.Combine(folder, "zones.npy"), final = Path.Combine(folder, "P.npy");
            Npy.Write(a, anchors, count, dim);
            Npy.Write(z, prior, count, dim);

            var encode = CliProcess.Run("zones", "encode", "--anchors", a, "--prior", z, "--steps", "20", "--alpha", "0.45", "--device", "cpu", "--out", latents);
            Assert.That(encode.ExitCode, Is.Zero, encode.Error);
            Assert.That(Npy.Read(latents).Shape, Is.EqualTo(new[] { count, dim }));

            var assign = CliProcess.Run("zones", "assign", "--latents", latents, "--anchors", a, "--steps", "20", "--device", "cpu", "--out", zones, "--final-points", final);
            Assert.That(assign.ExitCode, Is.Zero, assign.Error);
            Assert.That(Npy.Read(final).Shape, Is.EqualTo(new[] { count, dim }));
            byte[] bytes = File.ReadAllBytes(zones);
            int headerLength = BitConverter.ToUInt16(bytes, 8);
            var zoneOfRow = Enumerable.Range(0, count).Select(i => BitConverter.ToInt32(bytes, 10 + headerLength + 4 * i)).ToArray();
            Assert.That(zoneOfRow, Is.EqualTo(Enumerable.Range(0, count).ToArray()));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void ZonesEncodeRejectsMismatchedShapesNamingTheFile()
    {
        string folder = Directory.CreateTempSubdirectory("lzn-cli-zones-").FullName;
        try
        {
            string a = Path.Combine(folder, "A.npy"), z = Path.Combine(folder, "Z.npy");
            Npy.Write(a, new float[12], 4, 3);
            Npy.Write(z, new float[10], 5, 2);
            var result = CliProcess.Run("zones", "encode", "--anchors", a, "--prior", z, "--device", "cpu", "--out", Path.Combine(folder, "L.npy"));
            Assert.That(result.ExitCode, Is.EqualTo(2));
            Assert.That(result.Error, Does.Contain(z).And.Contain("differs from the anchors'"));
            Assert.That(File.Exists(Path.Combine(folder, "L.npy")), Is.False);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void BenchZonesWritesTimingsAndAccuracy()
    {
        string json = Path.Combine(Path.GetTempPath(), $"lzn-bench-{Guid.NewGuid():N}.json");
        try
        {
            var result = CliProcess.Run("bench", "zones", "--device", "cpu", "--size", "64,128,16,10", "--json", json);
            Assert.That(result.ExitCode, Is.Zero, result.Output + result.Error);
            Assert.That(result.Output, Does.Contain("encode fwd+bwd").And.Contain("encode rel. error vs float64"));
            using var document = JsonDocument.Parse(File.ReadAllText(json));
            var rows = document.RootElement.GetProperty("results").EnumerateArray().ToList();
            Assert.That(rows, Has.Count.EqualTo(3));
            Assert.That(rows.Select(r => r.GetProperty("median_ms").GetDouble()), Is.All.GreaterThan(0));
            Assert.That(rows[0].GetProperty("encode_relative_error").GetDouble(), Is.LessThan(5e-4));
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Test]
    public void BenchTrainWritesStepTimesPhasesAndTheEpochTheyImply()
    {
        string json = Path.Combine(Path.GetTempPath(), $"lzn-bench-train-{Guid.NewGuid():N}.json");
        try
        {
            var result = CliProcess.Run("bench", "train", "--device", "cpu", "--preset", "tiny", "--steps", "2", "--json", json);
            Assert.That(result.ExitCode, Is.Zero, result.Output + result.Error);
            Assert.That(result.Output, Does.Contain("tiny").And.Contain("decoder rf fwd+bwd"));
            using var document = JsonDocument.Parse(File.ReadAllText(json));
            var row = document.RootElement.GetProperty("results").EnumerateArray().Single();
            Assert.That(row.GetProperty("preset").GetString(), Is.EqualTo("tiny"));
            double step = row.GetProperty("step_median_ms").GetDouble();
            Assert.That(step, Is.GreaterThan(0));
            Assert.That(row.GetProperty("epoch_seconds").GetDouble(), Is.EqualTo(60_000 / 32 * step / 1000).Within(1e-9));
            Assert.That(row.GetProperty("phases_median_ms").EnumerateObject().Select(p => p.Name),
                Does.Contain("encoder fwd").And.Contain("label flow fwd+bwd + loss").And.Contain("clip + adamw + ema"));

            var unknown = CliProcess.Run("bench", "train", "--device", "cpu", "--preset", "huge");
            Assert.That(unknown.ExitCode, Is.EqualTo(2));
            Assert.That(unknown.Error, Does.Contain("unknown preset 'huge'"));
        }
        finally
        {
            File.Delete(json);
        }
    }
}
