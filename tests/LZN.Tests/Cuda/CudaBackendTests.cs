using LZN.Native.Backends;
using LZN.Native.Backends.Cuda;
using LZN.Native.Interop.Cuda;

namespace LZN.Tests.Cuda;

/// <summary>The CUDA backend against the reference CPU backend, op by op, on fresh random inputs.</summary>
[Category("GPU")]
public class CudaBackendTests
{
    private BackendPair? _pair;

    private BackendPair Pair => _pair ?? throw new InvalidOperationException("No CUDA backend.");

    [OneTimeSetUp]
    public void OpenDevice()
    {
        var cuda = CudaRequirement.CreateBackend();
        _pair = new BackendPair(cuda);
        TestContext.Out.WriteLine(cuda.Description);
    }

    [OneTimeTearDown]
    public void CloseDevice() => _pair?.Dispose();

    [Test]
    public void UploadDownloadCopyAndSlicesRoundTrip()
    {
        var cuda = Pair.Cuda;
        float[] values = [.. Enumerable.Range(0, 1001).Select(i => i * 0.5f - 7)];
        using var buffer = cuda.FromHost(values);
        Assert.That(buffer.ToArray(), Is.EqualTo(values));
        using var copy = cuda.AllocateFloat(values.Length);
        Assert.That(copy.ToArray(), Is.All.EqualTo(0f), "allocations are zeroed");
        cuda.Copy(buffer, copy);
        Assert.That(copy.ToArray(), Is.EqualTo(values));
        var view = copy.Slice(17, 100);
        Assert.That(view.ToArray(), Is.EqualTo(values[17..117]));
        cuda.Fill(view, 3.5f);
        float[] after = copy.ToArray();
        Assert.That(after[16], Is.EqualTo(values[16]));
        Assert.That(after[17..117], Is.All.EqualTo(3.5f));
        Assert.That(after[117], Is.EqualTo(values[117]));
        int[] integers = [.. Enumerable.Range(-5, 333)];
        using var intBuffer = cuda.FromHost(integers);
        Assert.That(intBuffer.ToArray(), Is.EqualTo(integers));
        cuda.Fill(intBuffer.Slice(1, 331), 42);
        int[] filled = intBuffer.ToArray();
        Assert.That((filled[0], filled[1], filled[331], filled[332]), Is.EqualTo((-5, 42, 42, 327)));
    }

    [TestCase(false, false)]
    [TestCase(false, true)]
    [TestCase(true, false)]
    [TestCase(true, true)]
    public void GemmMatchesTheCpuForEveryTransposeAndOddSizes(bool transposeA, bool transposeB)
    {
        const int m = 37, n = 29, k = 53, pad = 3;
        int lda = (transposeA ? m : k) + pad, ldb = (transposeB ? k : n) + pad, ldc = n + pad;
        var a = Pair.Random((long)(transposeA ? k : m) * lda);
        var b = Pair.Random((long)(transposeB ? n : k) * ldb);
        var c = Pair.Poisoned((long)m * ldc);
        Pair.Cpu.Gemm(transposeA, transposeB, m, n, k, 0.75f, a.Cpu, lda, b.Cpu, ldb, 0f, c.Cpu, ldc);
        Pair.Cuda.Gemm(transposeA, transposeB, m, n, k, 0.75f, a.Cuda, lda, b.Cuda, ldb, 0f, c.Cuda, ldc);
        AssertMatrixClose(c, m, n, ldc, "C = 0.75 op(A) op(B)");

        var accumulate = Pair.Random((long)m * ldc);
        Pair.Cpu.Gemm(transposeA, transposeB, m, n, k, -1.25f, a.Cpu, lda, b.Cpu, ldb, 0.5f, accumulate.Cpu, ldc);
        Pair.Cuda.Gemm(transposeA, transposeB, m, n, k, -1.25f, a.Cuda, lda, b.Cuda, ldb, 0.5f, accumulate.Cuda, ldc);
        BackendPair.AssertClose(accumulate, 1e-4, 1e-5, "C = -1.25 op(A) op(B) + 0.5 C");
    }

    // Elements of C inside [m, n] must match; the padding columns beyond n must stay untouched (NaN).
    private static void AssertMatrixClose((FloatBuffer Cpu, FloatBuffer Cuda) c, int m, int n, int ldc, string what)
    {
        float[] expected = c.Cpu.ToArray();
        float[] actual = c.Cuda.ToArray();
        for (int row = 0; row < m; row++)
        {
            for (int col = 0; col < ldc; col++)
            {
                int index = row * ldc + col;
                if (col >= n)
                {
                    Assert.That(actual[index], Is.NaN, $"{what}: padding ({row}, {col}) was written");
                    continue;
                }
                Assert.That(actual[index], Is.EqualTo(expected[index]).Within(1e-4 + 1e-5 * Math.Abs(expected[index])), $"{what} at ({row}, {col})");
            }
        }
    }

    [TestCase(false, true)]
    [TestCase(true, false)]
    public void GemmStridedBatchedMatchesTheCpu(bool transposeA, bool transposeB)
    {
        const int m = 9, n = 13, k = 21, batches = 5;
        int lda = transposeA ? m : k, ldb = transposeB ? k : n, ldc = n;
        long strideA = (long)m * k + 7, strideB = (long)k * n + 5, strideC = (long)m * n;
        var a = Pair.Random(strideA * batches);
        var b = Pair.Random(strideB * batches);
        var c = Pair.Poisoned(strideC * batches);
        Pair.Cpu.GemmStridedBatched(transposeA, transposeB, m, n, k, 1f, a.Cpu, lda, strideA, b.Cpu, ldb, strideB, 0f, c.Cpu, ldc, strideC, batches);
        Pair.Cuda.GemmStridedBatched(transposeA, transposeB, m, n, k, 1f, a.Cuda, lda, strideA, b.Cuda, ldb, strideB, 0f, c.Cuda, ldc, strideC, batches);
        BackendPair.AssertClose(c, 1e-4, 1e-5, "batched C");
    }

    [Test]
    public void CublasComputesInPureFp32() =>
        Assert.That(Pair.Cuda.CublasMathMode, Is.EqualTo(cublasMath_t.CUBLAS_DEFAULT_MATH));

    [Test]
    public void GemmRejectsOperandsTooSmallForTheirShape()
    {
        using var a = Pair.Cuda.AllocateFloat(10);
        using var b = Pair.Cuda.AllocateFloat(100);
        using var c = Pair.Cuda.AllocateFloat(100);
        Assert.Throws<ArgumentException>(() => Pair.Cuda.Gemm(false, false, 4, 4, 4, 1f, a, 4, b, 4, 0f, c, 4));
    }

    [Test]
    public void ElementwiseOpsMatchTheCpu()
    {
        const int length = 100_003;
        var x = Pair.Random(length);
        var y = Pair.Random(length);
        Pair.Cpu.Axpby(1.5f, x.Cpu, -0.25f, y.Cpu);
        Pair.Cuda.Axpby(1.5f, x.Cuda, -0.25f, y.Cuda);
        BackendPair.AssertClose(y, 1e-6, 1e-6, "Axpby");

        // Multiply is exact, so it is compared on identical inputs (the Axpby results above may differ by an ulp).
        y = Pair.Random(length);
        var z = Pair.Poisoned(length);
        Pair.Cpu.Multiply(x.Cpu, y.Cpu, z.Cpu);
        Pair.Cuda.Multiply(x.Cuda, y.Cuda, z.Cuda);
        BackendPair.AssertClose(z, 0, 0, "Multiply");
        Pair.Cpu.Multiply(z.Cpu, y.Cpu, z.Cpu);
        Pair.Cuda.Multiply(z.Cuda, y.Cuda, z.Cuda);
        BackendPair.AssertClose(z, 0, 0, "Multiply in place");

        Pair.Cpu.ScaleShift(x.Cpu, -3f, 0.125f);
        Pair.Cuda.ScaleShift(x.Cuda, -3f, 0.125f);
        BackendPair.AssertClose(x, 1e-6, 1e-6, "ScaleShift");

        const int rows = 301, cols = 77;
        var matrix = Pair.Random(rows * cols);
        var vector = Pair.Random(cols);
        Pair.Cpu.AddRowVector(matrix.Cpu, vector.Cpu, rows, cols, 0.5f);
        Pair.Cuda.AddRowVector(matrix.Cuda, vector.Cuda, rows, cols, 0.5f);
        BackendPair.AssertClose(matrix, 1e-6, 1e-6, "AddRowVector");
    }

    [Test]
    public void ActivationsAndTheirBackwardsMatchTheCpu([Values] ActivationKind kind)
    {
        const int length = 50_001;
        var x = Pair.Random(length, scale: 3f);
        var y = Pair.Poisoned(length);
        Pair.Cpu.Activation(kind, x.Cpu, y.Cpu);
        Pair.Cuda.Activation(kind, x.Cuda, y.Cuda);
        BackendPair.AssertClose(y, 2e-6, 4e-6, $"{kind} forward");

        var dy = Pair.Random(length);
        var dx = Pair.Poisoned(length);
        Pair.Cpu.ActivationBackward(kind, x.Cpu, dy.Cpu, dx.Cpu);
        Pair.Cuda.ActivationBackward(kind, x.Cuda, dy.Cuda, dx.Cuda);
        BackendPair.AssertClose(dx, 2e-6, 4e-6, $"{kind} backward");

        Pair.Cpu.Activation(kind, x.Cpu, x.Cpu);
        Pair.Cuda.Activation(kind, x.Cuda, x.Cuda);
        BackendPair.AssertClose(x, 2e-6, 4e-6, $"{kind} forward in place");
    }

    [TestCase(1)]
    [TestCase(1000)]
    [TestCase(1_000_003)]
    public void SumAndSumOfSquaresMatchTheCpu(int length)
    {
        var x = Pair.Random(length);
        double scale = x.Cpu.ToArray().Sum(value => Math.Abs((double)value));
        var sum = Pair.Poisoned(1);
        Pair.Cpu.Sum(x.Cpu, sum.Cpu);
        Pair.Cuda.Sum(x.Cuda, sum.Cuda);
        BackendPair.AssertClose(sum, 1e-6 * scale, 0, "Sum");

        var squares = Pair.Poisoned(1);
        Pair.Cpu.SumOfSquares(x.Cpu, squares.Cpu);
        Pair.Cuda.SumOfSquares(x.Cuda, squares.Cuda);
        BackendPair.AssertClose(squares, 0, 1e-5, "SumOfSquares");
    }

    [TestCase(1, 1)]
    [TestCase(1000, 37)]
    [TestCase(7, 3001)]
    public void RowAndColumnSumsMatchTheCpu(int rows, int cols)
    {
        var x = Pair.Random((long)rows * cols);
        var columnSums = Pair.Poisoned(cols);
        Pair.Cpu.ColumnSums(x.Cpu, rows, cols, columnSums.Cpu);
        Pair.Cuda.ColumnSums(x.Cuda, rows, cols, columnSums.Cuda);
        BackendPair.AssertClose(columnSums, 2e-6 * rows, 1e-5, "ColumnSums");

        var rowSums = Pair.Poisoned(rows);
        Pair.Cpu.RowSums(x.Cpu, rows, cols, rowSums.Cpu);
        Pair.Cuda.RowSums(x.Cuda, rows, cols, rowSums.Cuda);
        BackendPair.AssertClose(rowSums, 2e-6 * cols, 1e-5, "RowSums");
    }

    [TestCase(1, 1)]
    [TestCase(257, 10)]
    [TestCase(33, 3000)]
    public void SoftmaxRowsMatchesTheCpu(int rows, int cols)
    {
        var x = Pair.Random((long)rows * cols, scale: 8f);
        var y = Pair.Poisoned((long)rows * cols);
        Pair.Cpu.SoftmaxRows(x.Cpu, rows, cols, y.Cpu);
        Pair.Cuda.SoftmaxRows(x.Cuda, rows, cols, y.Cuda);
        BackendPair.AssertClose(y, 1e-7, 1e-5, "SoftmaxRows");
        Pair.Cpu.SoftmaxRows(x.Cpu, rows, cols, x.Cpu);
        Pair.Cuda.SoftmaxRows(x.Cuda, rows, cols, x.Cuda);
        BackendPair.AssertClose(x, 1e-7, 1e-5, "SoftmaxRows in place");
    }

    [Test]
    public void RandomFillsReproduceTheCpuStream()
    {
        const int length = 200_001;
        var uniform = Pair.Poisoned(length);
        Pair.Cpu.FillUniform(uniform.Cpu, seed: 0xDEADBEEFCAFEUL, offset: (1UL << 33) + 5, low: -2f, high: 3f);
        Pair.Cuda.FillUniform(uniform.Cuda, seed: 0xDEADBEEFCAFEUL, offset: (1UL << 33) + 5, low: -2f, high: 3f);
        BackendPair.AssertClose(uniform, 0, 0, "FillUniform is bit-identical");

        var normal = Pair.Poisoned(length);
        Pair.Cpu.FillNormal(normal.Cpu, seed: 7, offset: 123, mean: 0.5f, std: 2f);
        Pair.Cuda.FillNormal(normal.Cuda, seed: 7, offset: 123, mean: 0.5f, std: 2f);
        BackendPair.AssertClose(normal, 2e-6, 2e-6, "FillNormal (log/cos rounding only)");

        var mask = Pair.Poisoned(length);
        Pair.Cpu.FillBernoulli(mask.Cpu, seed: 11, offset: 1UL << 40, probability: 0.9f, value: 1f / 0.9f);
        Pair.Cuda.FillBernoulli(mask.Cuda, seed: 11, offset: 1UL << 40, probability: 0.9f, value: 1f / 0.9f);
        BackendPair.AssertClose(mask, 0, 0, "FillBernoulli is bit-identical");
    }

    [Test]
    public void TheAllocatorReusesFreedBlocksAndTracksMemory()
    {
        var cuda = Pair.Cuda;
        cuda.AllocateFloat(12_345).Dispose();
        long driverCalls = cuda.Allocator.DriverAllocations;
        var before = cuda.Memory;
        for (int i = 0; i < 10; i++)
        {
            using var buffer = cuda.AllocateFloat(12_345);
            Assert.That(cuda.Memory.CurrentBytes, Is.EqualTo(before.CurrentBytes + 12_345 * sizeof(float)));
        }
        Assert.That(cuda.Allocator.DriverAllocations, Is.EqualTo(driverCalls), "a warm cache calls no cuMemAlloc");
        Assert.That(cuda.Memory.CurrentBytes, Is.EqualTo(before.CurrentBytes));
        Assert.That(cuda.Memory.PeakBytes, Is.GreaterThanOrEqualTo(before.CurrentBytes + 12_345 * sizeof(float)));
        cuda.Allocator.ReleaseCached();
        Assert.That(cuda.Allocator.CachedBytes, Is.Zero);
    }

    [Test]
    public unsafe void TheInternalKernelApiWorks()
    {
        var cuda = Pair.Cuda;
        Assert.That(cuda.Properties.ComputeCapabilityMajor, Is.GreaterThanOrEqualTo(5));
        var kernel = cuda.Kernel("elementwise.cu", "scale_shift");
        Assert.That(kernel, Is.SameAs(cuda.Kernel("elementwise.cu", "scale_shift")));
        Assert.That(kernel.MaxThreadsPerBlock, Is.GreaterThan(0));
        Assert.That(kernel.ActiveBlocksPerMultiprocessor(256, 0), Is.GreaterThan(0));
        using var buffer = cuda.FromHost(new float[] { 1, 2, 3 });
        ulong address = CudaBackend.Pointer(buffer);
        long count = 3;
        float alpha = 2, shift = 1;
        void** arguments = stackalloc void*[] { &address, &count, &alpha, &shift };
        float milliseconds = cuda.TimeMilliseconds(() => cuda.Launch(kernel, (1, 1, 1), (32, 1, 1), 0, arguments));
        Assert.That(buffer.ToArray(), Is.EqualTo(new float[] { 3, 5, 7 }));
        Assert.That(milliseconds, Is.GreaterThanOrEqualTo(0));
        Assert.That(CudaBackend.Pointer(buffer.Slice(1, 2)), Is.EqualTo(address + sizeof(float)));
        Assert.That(CudaBackend.Pointer((FloatBuffer?)null), Is.Zero);
        using var cpuBuffer = Pair.Cpu.AllocateFloat(1);
        Assert.Throws<ArgumentException>(() => CudaBackend.Pointer(cpuBuffer));
    }
}
