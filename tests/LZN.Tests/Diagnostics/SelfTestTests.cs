using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Diagnostics;

namespace LZN.Tests.Diagnostics;

public class SelfTestTests
{
    [Test]
    public void EveryCpuKernelPassesAgainstItsFloat64Reference()
    {
        using var backend = new CpuBackend();
        var rows = SelfTest.Run(backend, seed: 1234);
        Assert.That(rows, Has.Count.GreaterThanOrEqualTo(72));
        Assert.That(rows.Where(row => !row.Passed).Select(row => $"{row.Op} {row.Size}: {row.MaxRelativeError:e2}"), Is.Empty);
    }

    [Test]
    public void AFaultyKernelIsReported()
    {
        using var backend = new FaultyScaleShiftBackend();
        var rows = SelfTest.Run(backend, seed: 5);
        Assert.That(rows.Single(row => row.Op == "scale-shift").Passed, Is.False);
        Assert.That(rows.Where(row => row.Op != "scale-shift").All(row => row.Passed), Is.True);
    }

    [Test]
    public void MaxRelativeErrorTreatsNaNAsInfinite()
    {
        Assert.That(ReferenceOps.MaxRelativeError([1f, float.NaN], [1.0, 2.0]), Is.EqualTo(double.PositiveInfinity));
        Assert.That(ReferenceOps.MaxRelativeError([1f, 2.002f], [1.0, 2.0]), Is.EqualTo(0.001).Within(1e-6));
    }

    /// <summary>A CPU backend with one deliberately wrong op: the self-test must notice.</summary>
    private sealed class FaultyScaleShiftBackend : IBackend
    {
        private readonly CpuBackend _inner = new();

        public BackendKind Kind => _inner.Kind;
        public string Description => "faulty CPU";
        public MemoryStats Memory => _inner.Memory;
        public IZoneKernels Zones => _inner.Zones;
        public INnKernels Nn => _inner.Nn;
        public IOptimizerKernels Optimizer => _inner.Optimizer;
        public IFlowMatchingKernels FlowMatching => _inner.FlowMatching;
        public void ResetPeakMemory() => _inner.ResetPeakMemory();
        public FloatBuffer AllocateFloat(long length) => _inner.AllocateFloat(length);
        public IntBuffer AllocateInt(long length) => _inner.AllocateInt(length);
        public void Upload(ReadOnlySpan<float> source, FloatBuffer destination) => _inner.Upload(source, destination);
        public void Upload(ReadOnlySpan<int> source, IntBuffer destination) => _inner.Upload(source, destination);
        public void Download(FloatBuffer source, Span<float> destination) => _inner.Download(source, destination);
        public void Download(IntBuffer source, Span<int> destination) => _inner.Download(source, destination);
        public void Copy(FloatBuffer source, FloatBuffer destination) => _inner.Copy(source, destination);
        public void Fill(FloatBuffer destination, float value) => _inner.Fill(destination, value);
        public void Fill(IntBuffer destination, int value) => _inner.Fill(destination, value);
        public void Synchronize() => _inner.Synchronize();

        public void Gemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, FloatBuffer a, int lda,
            FloatBuffer b, int ldb, float beta, FloatBuffer c, int ldc) =>
            _inner.Gemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        public void GemmStridedBatched(bool transposeA, bool transposeB, int m, int n, int k, float alpha, FloatBuffer a,
            int lda, long strideA, FloatBuffer b, int ldb, long strideB, float beta, FloatBuffer c, int ldc, long strideC,
            int batchCount) =>
            _inner.GemmStridedBatched(transposeA, transposeB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c,
                ldc, strideC, batchCount);

        public void Axpby(float alpha, FloatBuffer x, float beta, FloatBuffer y) => _inner.Axpby(alpha, x, beta, y);
        public void Multiply(FloatBuffer x, FloatBuffer y, FloatBuffer z) => _inner.Multiply(x, y, z);

        // Off by one ulp-scale amount on the shift: small, but far above the fp32 bound.
        public void ScaleShift(FloatBuffer x, float alpha, float shift) => _inner.ScaleShift(x, alpha, shift * 1.001f);

        public void Activation(ActivationKind kind, FloatBuffer x, FloatBuffer y) => _inner.Activation(kind, x, y);
        public void ActivationBackward(ActivationKind kind, FloatBuffer x, FloatBuffer dy, FloatBuffer dx) =>
            _inner.ActivationBackward(kind, x, dy, dx);
        public void AddRowVector(FloatBuffer x, FloatBuffer v, int rows, int cols, float alpha) =>
            _inner.AddRowVector(x, v, rows, cols, alpha);
        public void Sum(FloatBuffer x, FloatBuffer result) => _inner.Sum(x, result);
        public void SumOfSquares(FloatBuffer x, FloatBuffer result) => _inner.SumOfSquares(x, result);
        public void ColumnSums(FloatBuffer x, int rows, int cols, FloatBuffer result) => _inner.ColumnSums(x, rows, cols, result);
        public void RowSums(FloatBuffer x, int rows, int cols, FloatBuffer result) => _inner.RowSums(x, rows, cols, result);
        public void SoftmaxRows(FloatBuffer x, int rows, int cols, FloatBuffer y) => _inner.SoftmaxRows(x, rows, cols, y);
        public void FillNormal(FloatBuffer destination, ulong seed, ulong offset, float mean, float std) =>
            _inner.FillNormal(destination, seed, offset, mean, std);
        public void FillUniform(FloatBuffer destination, ulong seed, ulong offset, float low, float high) =>
            _inner.FillUniform(destination, seed, offset, low, high);
        public void FillBernoulli(FloatBuffer destination, ulong seed, ulong offset, float probability, float value) =>
            _inner.FillBernoulli(destination, seed, offset, probability, value);
        public void Dispose() => _inner.Dispose();
    }
}
