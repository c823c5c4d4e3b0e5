using LZN.Native.Backends.Cuda;
using LZN.Native.Verification;
using LZN.Tests.Cuda;
using LZN.Tests.Emulator;

namespace LZN.Tests.Verification;

/// <summary>
/// The zone verification table on the CUDA backend with each zone kernel version the default does not run at the
/// tables' sizes (the other CUDA fixtures run auto, which takes v1 there): v2's tensor-core forward tiles and the gemm
/// path, held to the same float64 bounds. The gemm path runs twice: with its default scratch (one chunk of rows at
/// these sizes) and with 1,000 floats, which splits every batch of more than 1,000 / anchorCount rows into chunks
/// (uneven ones too); and once without skipping zeros (gemm-dense), so the GEMMs stay checked at small t too.
/// gemm-3xtf32 (the logits' product on the emulated TF32 tensor cores, split 3xTF32) runs in chunks, so each chunk's
/// points are split anew, and in one; and once more with the emulator's model of the hardware's truncating TF32 sums
/// (LZN_EMULATOR_TF32=truncate; a real GPU truncates anyway), under which v2 fails two rows as it did on an H200
/// (EmulatedTf32RoundingTests).
/// </summary>
[Category("GPU")]
[TestFixture(ZoneKernelVersion.V2, CudaZoneKernels.DefaultGemmScratchFloats, Tf32Rounding.Default)]
[TestFixture(ZoneKernelVersion.Gemm, CudaZoneKernels.DefaultGemmScratchFloats, Tf32Rounding.Default)]
[TestFixture(ZoneKernelVersion.Gemm, 1000L, Tf32Rounding.Default)]
[TestFixture(ZoneKernelVersion.GemmDense, CudaZoneKernels.DefaultGemmScratchFloats, Tf32Rounding.Default)]
[TestFixture(ZoneKernelVersion.Gemm3xTf32, CudaZoneKernels.DefaultGemmScratchFloats, Tf32Rounding.Default)]
[TestFixture(ZoneKernelVersion.Gemm3xTf32, 1000L, Tf32Rounding.Default)]
[TestFixture(ZoneKernelVersion.Gemm3xTf32, CudaZoneKernels.DefaultGemmScratchFloats, Tf32Rounding.Truncate)]
public sealed class ZoneKernelVersionTests(ZoneKernelVersion version, long gemmScratchFloats, Tf32Rounding rounding) : CudaFixture
{
    [OneTimeSetUp]
    public void ChooseZoneKernels()
    {
        Backend.UseZoneKernels(version, gemmScratchFloats);
        EmulatedDevice.TrySetTf32Rounding(rounding);
    }

    [OneTimeTearDown]
    public void RestoreTf32Rounding() => EmulatedDevice.TrySetTf32Rounding(Tf32Rounding.Default);

    public static IEnumerable<TestCaseData> Cases() => ZoneTable.Cases.Select(verificationCase =>
        new TestCaseData(verificationCase).SetArgDisplayNames($"{verificationCase.Family}: {verificationCase.Name}"));

    [TestCaseSource(nameof(Cases))]
    public void Verify(VerificationCase verificationCase)
    {
        Assert.That(Backend.ZoneKernels, Is.EqualTo(version));
        var result = verificationCase.Run(Backend, TableTests.Seed);
        TestContext.Out.WriteLine($"{Backend.Description}: error {result.Error:0.00e+00}, bound {result.Bound:0.#e+00}");
        if (!result.Passed)
            Assert.Fail(result.Failure!);
    }
}
