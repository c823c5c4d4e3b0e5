using LZN.Native.Backends.Cuda;
using LZN.Native.Interop.Cuda;
using LZN.Native.Verification;
using LZN.Tests.Cuda;
using LZN.Tests.Verification;

namespace LZN.Tests.Emulator;

/// <summary>
/// The emulator's model of the hardware's TF32 sums (LZN_EMULATOR_TF32=truncate, set in process here): the addends of a
/// tensor-core sum aligned to the largest one's exponent and cut toward zero 3 bits below fp32's last, the sum cut
/// toward zero to fp32, and cuBLAS's TF32 operands truncated to 10 mantissa bits. Held to a host mirror of the model in
/// lzn_emu_tf32_accumulate, the mma and the emulated cuBLAS; and to what an H200 measured: v2 fails the same two
/// zone-step rows under the model, and only those, while the default rounding to nearest passes them.
/// </summary>
[Category("Emulator")]
public sealed unsafe class EmulatedTf32RoundingTests : EmulatedDeviceTest
{
    /// <summary>The model on the host: exact addends aligned 3 bits below fp32 at the largest exponent, cut toward zero.</summary>
    private static float TruncatedSum(IReadOnlyList<double> terms)
    {
        int largest = terms.Where(term => term != 0).Select(Math.ILogB).DefaultIfEmpty(int.MinValue).Max();
        if (largest == int.MinValue)
            return 0f;
        double quantum = Math.ScaleB(1.0, largest - 26), sum = 0;
        foreach (double term in terms)
            sum += Math.Truncate(term / quantum) * quantum;
        float nearest = (float)sum;
        return Math.Abs((double)nearest) > Math.Abs(sum) ? MathF.BitDecrement(Math.Abs(nearest)) * Math.Sign(nearest) : nearest;
    }

    private static float[] Random(int length, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => (2 * random.NextSingle() - 1) * MathF.Pow(2, random.Next(-6, 7)))];
    }

    /// <summary>
    /// 1 + 0.75 ulp rounds up to nearest and is cut to 1 by the model; -2^-30 is below the alignment quantum of 1 and
    /// vanishes (a plain round toward zero of the exact sum would give 1 - 2^-24); signs are symmetric; random sums of
    /// 9 addends over 12 binades match the host mirror bit for bit.
    /// </summary>
    [Test]
    public void TruncatingSumsAlignToTheLargestAddendAndCutTowardZero()
    {
        double quarterUlpTimes3 = 3 * Math.ScaleB(1.0, -25);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(EmulatedDevice.Tf32Accumulate([1, quarterUlpTimes3], truncate: false), Is.EqualTo(1f + MathF.Pow(2, -23)));
            Assert.That(EmulatedDevice.Tf32Accumulate([1, quarterUlpTimes3], truncate: true), Is.EqualTo(1f));
            Assert.That(EmulatedDevice.Tf32Accumulate([-1, -quarterUlpTimes3], truncate: true), Is.EqualTo(-1f));
            Assert.That(EmulatedDevice.Tf32Accumulate([1, -Math.ScaleB(1.0, -30)], truncate: true), Is.EqualTo(1f));
            Assert.That(EmulatedDevice.Tf32Accumulate([0, 0], truncate: true), Is.Zero);
            var random = new Random(3);
            for (int trial = 0; trial < 2000; trial++)
            {
                double[] terms = [.. Enumerable.Range(0, 9).Select(_ => (2 * random.NextDouble() - 1) * Math.ScaleB(1.0, random.Next(-6, 7)))];
                terms = [.. terms.Select(term => (double)(float)term)];
                Assert.That(EmulatedDevice.Tf32Accumulate(terms, truncate: true), Is.EqualTo(TruncatedSum(terms)), $"trial {trial}");
            }
        }
    }

    /// <summary>mma.sync m16n8k8 under the model: every element the host mirror's sum of its 8 exact TF32 products.</summary>
    [Test]
    public void TheMmaSumsFollowTheModel()
    {
        float[] a = Random(16 * 8, 11), b = Random(8 * 8, 12); // [16, 8], [8, 8]
        float[] Product(Tf32Rounding rounding)
        {
            Assert.That(EmulatedDevice.TrySetTf32Rounding(rounding), Is.True);
            using var deviceA = Device.Upload(a);
            using var deviceB = Device.Upload(b);
            using var d = DeviceMemory.TryAllocate(Device.Backend.Context, 16 * 8 * sizeof(float))!;
            Device.Launch(Device.Planted("mma_tile"), 1, 32, 0, deviceA.Address, deviceB.Address, d.Address, 0, 0);
            return EmulatedDevice.Download(d, 16 * 8);
        }
        float[] nearest = Product(Tf32Rounding.Nearest), truncated = Product(Tf32Rounding.Truncate);
        using (Assert.EnterMultipleScope())
        {
            for (int row = 0; row < 16; row++)
                for (int col = 0; col < 8; col++)
                {
                    double[] terms = [0, .. Enumerable.Range(0, 8).Select(k => (double)Tf32Values.RoundToNearest(a[row * 8 + k]) * Tf32Values.RoundToNearest(b[k * 8 + col]))];
                    Assert.That(truncated[row * 8 + col], Is.EqualTo(TruncatedSum(terms)), $"D[{row},{col}]");
                }
            Assert.That(truncated.Zip(nearest).Count(pair => pair.First != pair.Second), Is.Positive, "the model changes some sums");
        }
    }

    /// <summary>cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_TF32 under the model: operands truncated to TF32, 8 products
    /// at a time added to the running sum in K order, as the host mirror does.</summary>
    [Test]
    public void TheCublasTf32GemmFollowsTheModel()
    {
        const int m = 16, n = 24, k = 40;
        float[] a = Random(m * k, 21), b = Random(k * n, 22); // column-major [m, k], [k, n]
        using var handle = CublasHandle.Create(Device.Backend.Context);
        float[] Product(Tf32Rounding rounding)
        {
            Assert.That(EmulatedDevice.TrySetTf32Rounding(rounding), Is.True);
            using var deviceA = Device.Upload(a);
            using var deviceB = Device.Upload(b);
            using var c = Device.Upload(new float[m * n]);
            float one = 1, zero = 0;
            Cublas.ThrowIfFailed(Cublas.cublasGemmEx(handle.Handle, cublasOperation_t.CUBLAS_OP_N, cublasOperation_t.CUBLAS_OP_N, m, n, k,
                &one, deviceA.Address, cudaDataType.CUDA_R_32F, m, deviceB.Address, cudaDataType.CUDA_R_32F, k,
                &zero, c.Address, cudaDataType.CUDA_R_32F, m, cublasComputeType_t.CUBLAS_COMPUTE_32F_FAST_TF32, cublasGemmAlgo_t.CUBLAS_GEMM_DEFAULT));
            return EmulatedDevice.Download(c, m * n);
        }
        float[] nearest = Product(Tf32Rounding.Nearest), truncated = Product(Tf32Rounding.Truncate);
        using (Assert.EnterMultipleScope())
        {
            for (int row = 0; row < m; row++)
                for (int col = 0; col < n; col++)
                {
                    float sum = 0;
                    for (int k0 = 0; k0 < k; k0 += 8)
                    {
                        double[] terms = [sum, .. Enumerable.Range(k0, Math.Min(8, k - k0))
                            .Select(kk => (double)Tf32Values.Truncate(a[kk * m + row]) * Tf32Values.Truncate(b[col * k + kk]))];
                        sum = TruncatedSum(terms);
                    }
                    Assert.That(truncated[col * m + row], Is.EqualTo(sum), $"C[{row},{col}]");
                }
            Assert.That(truncated.Zip(nearest).Count(pair => pair.First != pair.Second), Is.Positive, "the model changes some sums");
        }
    }

    /// <summary>
    /// What the H200 measured (docs/kernels.md): v2's 3xTF32 logits failed `zone step` on B65 N140 d256 t0.4 priors
    /// and B20 N70 d300 t0.6, their lse 1.12-1.43e-6 off against a bound of 1e-6, and passed every other row. Under the
    /// model exactly those two fail, by less than 2e-6 (rounding to nearest passes them: ZoneKernelVersionTests(V2)).
    /// </summary>
    [Test]
    public void UnderTheModelV2FailsTheRowsItFailedOnAnH200()
    {
        Device.Backend.UseZoneKernels(ZoneKernelVersion.V2);
        Assert.That(EmulatedDevice.TrySetTf32Rounding(Tf32Rounding.Truncate), Is.True);
        var failed = new List<string>();
        using (Assert.EnterMultipleScope())
        {
            foreach (var verificationCase in ZoneTable.Cases)
            {
                var result = verificationCase.Run(Device.Backend, TableTests.Seed);
                if (result.Passed)
                    continue;
                failed.Add(verificationCase.Name);
                Assert.That(result.Error, Is.LessThan(2e-6), result.Failure);
            }
            Assert.That(failed, Is.EquivalentTo(new[] { "zone step B65 N140 d256 t0.4 priors", "zone step B20 N70 d300 t0.6" }));
        }
    }
}
