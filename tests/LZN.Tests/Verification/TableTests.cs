using LZN.Native.Verification;
using LZN.Tests.Backends;

namespace LZN.Tests.Verification;

/// <summary>
/// Every family's verification table (src/LZN.Native/Verification, docs/verification.md) on every backend: each case
/// is its own test, named "family: op size", on CpuOpenBlas, CpuManaged and Cuda (category GPU). `lzn selftest` runs
/// the same cases.
/// </summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class TableTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    /// <summary>The input seed of every NUnit run (`lzn selftest` draws a fresh one unless given).</summary>
    public const int Seed = 20_240_611;

    public static IEnumerable<TestCaseData> Cases() => VerificationTables.All.Select(verificationCase =>
        new TestCaseData(verificationCase).SetArgDisplayNames($"{verificationCase.Family}: {verificationCase.Name}"));

    [TestCaseSource(nameof(Cases))]
    public void Verify(VerificationCase verificationCase)
    {
        var result = verificationCase.Run(Backend, Seed);
        TestContext.Out.WriteLine($"{Backend.Description}: error {result.Error:0.00e+00}, bound {result.Bound:0.#e+00}");
        if (!result.Passed)
            Assert.Fail(result.Failure!);
    }
}
