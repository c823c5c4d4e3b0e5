using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LZN.Native.Backends.Cpu;
using LZN.Native.Distributed;
using LZN.Native.Interop;

namespace LZN.Tests.Distributed;

/// <summary>
/// The NCCL bindings against nccl.h (NCCL 2.x, as in the CUDA 13 header digest): NCCL is not installed where these
/// tests run, so its ABI is checked here and its code runs only on a machine that has it (docs/distributed.md).
/// </summary>
public class NcclContractTests
{
    /// <summary>The nccl.h functions the bindings call, by their C names.</summary>
    private static readonly string[] Functions =
    [
        "ncclGetVersion", "ncclGetUniqueId", "ncclCommInitRank", "ncclCommDestroy", "ncclAllGather", "ncclReduceScatter",
        "ncclAllReduce", "ncclGroupStart", "ncclGroupEnd", "ncclGetErrorString",
    ];

    [Test]
    public void TheUniqueIdIsNcclUniqueIdBytesPassedByValue()
    {
        Assert.That(Unsafe.SizeOf<NcclUniqueId>(), Is.EqualTo(128));
        Assert.That(Marshal.SizeOf<NcclUniqueId>(), Is.EqualTo(128));
        var initRank = typeof(Nccl).GetMethod(nameof(Nccl.CommInitRank))!;
        Assert.That(initRank.GetParameters()[2].ParameterType, Is.EqualTo(typeof(NcclUniqueId)), "ncclCommInitRank takes the id by value");
    }

    [Test]
    public void EnumValuesAreNcclHs()
    {
        Assert.That((int)NcclResult.Success, Is.Zero);
        Assert.That((int)NcclResult.InProgress, Is.EqualTo(7));
        Assert.That((int)NcclDataType.Int32, Is.EqualTo(2));
        Assert.That((int)NcclDataType.Float32, Is.EqualTo(7));
        Assert.That((int)NcclDataType.Float64, Is.EqualTo(8));
        Assert.That((int)NcclReduction.Sum, Is.Zero);
    }

    [Test]
    public void EveryBindingNamesAnNcclFunctionOnTheResolvedLibrary()
    {
        var bindings = typeof(Nccl).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Select(method => method.GetCustomAttribute<LibraryImportAttribute>())
            .OfType<LibraryImportAttribute>().ToList();
        Assert.That(bindings.Select(binding => binding.EntryPoint), Is.EquivalentTo(Functions));
        Assert.That(bindings.Select(binding => binding.LibraryName).Distinct(), Is.EqualTo(new[] { NativeLibraries.Nccl }));
    }

    [Test]
    public void CountsAreSizeTAndPointersAreWordSized()
    {
        foreach (string name in new[] { nameof(Nccl.AllGather), nameof(Nccl.ReduceScatter), nameof(Nccl.AllReduce) })
        {
            var parameters = typeof(Nccl).GetMethod(name)!.GetParameters();
            Assert.That(parameters[2].ParameterType, Is.EqualTo(typeof(nuint)), $"{name}: the count is size_t");
            Assert.That(parameters[0].ParameterType, Is.EqualTo(typeof(ulong)), $"{name}: device addresses are 64-bit");
            Assert.That(parameters[^1].ParameterType, Is.EqualTo(typeof(IntPtr)), $"{name}: the stream is a pointer");
        }
    }

    [Test]
    public void WithoutNcclTheResolverListsWhereItLookedAndTheHostCollectiveServes()
    {
        if (NcclCollective.IsAvailable)
            Assert.Ignore("NCCL is installed here");
        var attempts = NativeLibraries.TryLoad(NativeLibraries.Nccl).Attempts;
        Assert.That(attempts, Has.Some.Contains("libnccl.so.2"));
        using var cpu = new CpuBackend();
        Assert.That(DistributedLaunch.ForDevice(SingleProcessCollective.Instance, cpu), Is.Null);
    }
}
