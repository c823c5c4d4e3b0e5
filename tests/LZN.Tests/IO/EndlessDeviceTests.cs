using System.Diagnostics;
using LZN.Native.IO;

namespace LZN.Tests.IO;

/// <summary>
/// Readers stream their files and check a header before reading on: a device that never ends (/dev/zero ran out of
/// memory after 25 s, /dev/urandom hung) is refused after its first bytes.
/// </summary>
public class EndlessDeviceTests
{
    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (string device in new[] { "/dev/zero", "/dev/urandom" })
        {
            yield return new TestCaseData(device, (Action<string>)(path => Npy.Read(path)), "not a .npy file").SetArgDisplayNames(device, ".npy");
            yield return new TestCaseData(device, (Action<string>)(path => Safetensors.Read(path)), "not a safetensors file").SetArgDisplayNames(device, "safetensors");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void IsRefusedAtOnce(string device, Action<string> read, string problem)
    {
        if (!File.Exists(device))
            Assert.Ignore($"{device} does not exist here");
        var clock = Stopwatch.StartNew();
        Assert.That(() => read(device), Throws.InstanceOf<FormatException>().With.Message.StartsWith(device).And.Message.Contains(problem));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
    }
}
