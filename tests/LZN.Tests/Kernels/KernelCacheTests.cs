using System.Text;
using LZN.Native.Kernels;

namespace LZN.Tests.Kernels;

public class KernelCacheTests
{
    private static readonly KernelTarget Ptx90 = new(90, KernelImageKind.Ptx);
    private static readonly Dictionary<string, string> Headers = new() { ["common.cuh"] = "#pragma once\n" };
    private string _folder = "";

    [SetUp]
    public void CreateFolder()
    {
        _folder = Path.Combine(Path.GetTempPath(), "lzn-kernel-cache-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private static byte[] KeyFor(string source = "src", string option = "--gpu-architecture=compute_90",
        string version = "11.8", KernelTarget? target = null, string header = "#pragma once\n") =>
        KernelCache.Key("k.cu", source, new Dictionary<string, string> { ["common.cuh"] = header }, [option, "-std=c++17"], version, target ?? Ptx90);

    [Test]
    public void TheSecondRequestHitsTheCacheWithoutCompiling()
    {
        var cache = new KernelCache(_folder);
        int compiles = 0;
        byte[] Compile() { compiles++; return "image-1"u8.ToArray(); }
        byte[] key = KeyFor();

        byte[] first = cache.GetOrAdd(key, Ptx90, Compile);
        byte[] second = new KernelCache(_folder).GetOrAdd(key, Ptx90, Compile);

        Assert.That(compiles, Is.EqualTo(1));
        Assert.That(second, Is.EqualTo(first));
        Assert.That(File.Exists(cache.EntryPath(key, Ptx90)), Is.True);
        Assert.That(Directory.GetFiles(_folder, "*.tmp"), Is.Empty);
    }

    [TestCase("flip-payload")]
    [TestCase("flip-header")]
    [TestCase("truncate")]
    [TestCase("extend")]
    [TestCase("empty")]
    public void ACorruptEntryIsRejectedRecompiledAndRewritten(string damage)
    {
        byte[] key = KeyFor();
        var writer = new KernelCache(_folder);
        writer.GetOrAdd(key, Ptx90, () => "the-good-image"u8.ToArray());
        string path = writer.EntryPath(key, Ptx90);
        byte[] entry = File.ReadAllBytes(path);
        switch (damage)
        {
            case "flip-payload": entry[^3] ^= 0x40; break;
            case "flip-header": entry[2] ^= 0x01; break;
            case "truncate": Array.Resize(ref entry, entry.Length - 5); break;
            case "extend": Array.Resize(ref entry, entry.Length + 7); break;
            default: entry = []; break;
        }
        File.WriteAllBytes(path, entry);

        var reader = new KernelCache(_folder);
        int compiles = 0;
        byte[] image = reader.GetOrAdd(key, Ptx90, () => { compiles++; return "the-good-image"u8.ToArray(); });

        Assert.That(compiles, Is.EqualTo(1), "a damaged entry must not be trusted");
        Assert.That(reader.Rejected, Is.EqualTo(1));
        Assert.That(image, Is.EqualTo("the-good-image"u8.ToArray()));
        var rereader = new KernelCache(_folder);
        rereader.GetOrAdd(key, Ptx90, () => throw new AssertionException("the rewritten entry should be valid"));
        Assert.That(rereader.Hits, Is.EqualTo(1));
    }

    [Test]
    public void AnEntryStoredUnderAnotherKeyIsStale()
    {
        byte[] keyA = KeyFor(source: "a"), keyB = KeyFor(source: "b");
        var cache = new KernelCache(_folder);
        cache.GetOrAdd(keyA, Ptx90, () => "image-a"u8.ToArray());
        File.Copy(cache.EntryPath(keyA, Ptx90), cache.EntryPath(keyB, Ptx90));

        byte[] image = cache.GetOrAdd(keyB, Ptx90, () => "image-b"u8.ToArray());

        Assert.That(image, Is.EqualTo("image-b"u8.ToArray()));
        Assert.That(cache.Rejected, Is.EqualTo(1));
    }

    [Test]
    public void TheKeyChangesWithEveryInput()
    {
        var keys = new[]
        {
            KeyFor(),
            KeyFor(source: "src2"),
            KeyFor(option: "--gpu-architecture=compute_80"),
            KeyFor(version: "13.0"),
            KeyFor(target: new KernelTarget(90, KernelImageKind.Cubin)),
            KeyFor(target: new KernelTarget(80, KernelImageKind.Ptx)),
            KeyFor(header: "#pragma once\n#define X 1\n"),
        }.Select(Convert.ToHexString).ToArray();
        Assert.That(keys, Is.Unique);
        Assert.That(Convert.ToHexString(KeyFor()), Is.EqualTo(keys[0]), "the key is deterministic");
    }

    [Test]
    public void EntriesForPtxAndCubinLiveInDifferentFiles()
    {
        var cache = new KernelCache(_folder);
        byte[] key = KeyFor();
        Assert.That(cache.EntryPath(key, Ptx90), Is.Not.EqualTo(cache.EntryPath(key, new KernelTarget(90, KernelImageKind.Cubin))));
    }

    [Test]
    public void TheDefaultFolderFollowsLznKernelCache()
    {
        string? saved = Environment.GetEnvironmentVariable("LZN_KERNEL_CACHE");
        try
        {
            Environment.SetEnvironmentVariable("LZN_KERNEL_CACHE", _folder);
            Assert.That(KernelCache.DefaultFolder(), Is.EqualTo(_folder));
            Environment.SetEnvironmentVariable("LZN_KERNEL_CACHE", null);
            Assert.That(KernelCache.DefaultFolder(), Does.EndWith(Path.Combine("lzn", "kernels")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("LZN_KERNEL_CACHE", saved);
        }
    }

    [Test]
    public void TheCompilerGoesThroughTheCache()
    {
        NvrtcRequirement.EnsureLoaded();
        var cache = new KernelCache(_folder);
        var compiler = new KernelCompiler(cache);
        const string source = "#include \"common.cuh\"\nextern \"C\" __global__ void k(float* x) { x[0] = 2.0f; }\n";

        byte[] first = compiler.Compile("k.cu", source, Headers, Ptx90);
        byte[] second = compiler.Compile("k.cu", source, Headers, Ptx90);
        compiler.Compile("k.cu", source, Headers, new KernelTarget(80, KernelImageKind.Ptx));

        Assert.That(second, Is.EqualTo(first));
        Assert.That(Encoding.UTF8.GetString(first), Does.Contain(".entry k("));
        Assert.That((cache.Hits, cache.Misses), Is.EqualTo((1L, 2L)));
    }
}
