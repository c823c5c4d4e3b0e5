using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Verification;

namespace LZN.Tests.Verification;

/// <summary>The verification machinery catches what it claims to: errors over the bound, unwritten elements, writes outside a slice, changed inputs.</summary>
public class CaseRunTests
{
    [Test]
    public void AnAccurateOpPassesWithItsErrorAndBound()
    {
        var result = Run(run =>
        {
            float[] x = run.Uniform(100);
            var buffer = run.InOut(x);
            run.Backend.ScaleShift(buffer, 2f, 1f);
            run.Expect(buffer, [.. x.Select(v => 2.0 * v + 1)], 1e-6);
        });
        Assert.That(result.Passed, Is.True, result.Failure);
        Assert.That((result.Error, result.Bound), Is.EqualTo((0.0, 1e-6)).Within(1e-7));
    }

    [Test]
    public void AnErrorAboveTheBoundNamesTheFirstBadElement()
    {
        var result = Run(run =>
        {
            var y = run.InOut([1f, 2f, 3f, 4f]);
            run.Expect(y, [1, 2, 3.01, 4.1], 1e-3);
        });
        Assert.That(result.Failure, Is.EqualTo("y[2] is 3, expected 3.01 (error 2.44e-03 > bound 1e-03)"));
        Assert.That(result.Error, Is.EqualTo(0.1 / 4.1).Within(1e-9), "the worst element sets the error");
    }

    [Test]
    public void AnElementLeftUnwrittenFails()
    {
        var result = Run(run =>
        {
            var y = run.Output("y", 5);
            run.Backend.Fill(y.Slice(0, 4), 1f);
            run.Expect(y, [1, 1, 1, 1, 1], 1e-6);
        });
        Assert.That(result.Failure, Does.StartWith("y[4] is NaN, expected 1"));
        Assert.That(result.Error, Is.EqualTo(double.PositiveInfinity));
    }

    [TestCase(-1, "y: the margin before the slice was written (element -1 is 7)")]
    [TestCase(4, "y: the margin after the slice was written (element 4 of 4 is 7)")]
    public void AWriteOutsideTheSliceFails(int index, string failure)
    {
        var result = Run(run =>
        {
            var y = run.Output("y", 4);
            run.Backend.Fill(y, 1f);
            var cpu = (CpuFloatBuffer)y;
            cpu.Array[cpu.Offset + index] = 7f;
            run.Expect(y, [1, 1, 1, 1], 0);
        });
        Assert.That(result.Failure, Is.EqualTo(failure));
        Assert.That(result.Error, Is.Zero, "the values themselves were right");
    }

    [Test]
    public void AnInputTheOpChangedFails()
    {
        var result = Run(run =>
        {
            var x = run.Input(new[] { 1f, 2f });
            var y = run.Output("y", 2);
            run.Backend.Copy(x, y);
            run.Backend.ScaleShift(x, 2f, 0f);
            run.Expect(y, [1, 2], 0);
        });
        Assert.That(result.Failure, Is.EqualTo("input new[] { 1f, 2f }[0] changed from 1 to 2"));
    }

    [Test]
    public void AnAccumulatorThatWasOverwrittenFails()
    {
        var result = Run(run =>
        {
            float[] start = [5f, 5f];
            var gradient = run.InOut(start);
            run.Backend.Fill(gradient, 1f);
            run.ExpectIncrement(gradient, start, [1, 1], 1e-3);
        });
        Assert.That(result.Failure, Does.StartWith("gradient increment[0] is -4, expected 1"));
    }

    [Test]
    public void ExpectedNaNDemandsNaN()
    {
        Assert.That(ErrorMeasure.MaxRelative.Error([1f, float.NaN], [1.0, double.NaN]), Is.Zero, "padding left alone");
        Assert.That(ErrorMeasure.MaxRelative.Error([1f, 0f], [1.0, double.NaN]), Is.EqualTo(double.PositiveInfinity), "padding written");
    }

    [Test]
    public void EveryMeasureTreatsNaNAsInfinite()
    {
        foreach (var measure in new[] { ErrorMeasure.MaxRelative, ErrorMeasure.Normwise, ErrorMeasure.Relative(1), ErrorMeasure.PerElement([1.0, 1.0]) })
            Assert.That(measure.Error([1f, float.NaN], [1.0, 2.0]), Is.EqualTo(double.PositiveInfinity));
        Assert.That(ErrorMeasure.MaxRelative.Error([1f, 2.002f], [1.0, 2.0]), Is.EqualTo(0.001).Within(1e-6));
        Assert.That(ErrorMeasure.Normwise.Error([1f, 2.002f], [1.0, 2.0]), Is.EqualTo(0.002 / Math.Sqrt(5)).Within(1e-6));
    }

    [Test]
    public void ACaseThatChecksNothingIsADefect() =>
        Assert.That(() => Run(run => run.Uniform(3)), Throws.InvalidOperationException.With.Message.Contains("checks nothing"));

    [Test]
    public void ACaseSeesTheSameInputsAloneAndAfterOthers()
    {
        var seen = new List<float[]>();
        var recorder = new VerificationCase("test", "recorder", "3", run =>
        {
            seen.Add(run.Uniform(3));
            run.Expect(1.0, 1.0, 0);
        });
        using var backend = new CpuBackend(CpuGemmProvider.Managed);
        recorder.Run(backend, seed: 5);
        ElementwiseTable.Cases[0].Run(backend, seed: 5);
        recorder.Run(backend, seed: 5);
        recorder.Run(backend, seed: 6);
        Assert.That(seen[1], Is.EqualTo(seen[0]));
        Assert.That(seen[2], Is.Not.EqualTo(seen[0]));
    }

    [Test]
    public void AFaultyKernelIsReportedAndNothingElse()
    {
        using var backend = new FaultyScaleShiftBackend();
        var results = ElementwiseTable.Cases.Select(c => c.Run(backend, seed: 5)).ToList();
        Assert.That(results.Where(r => !r.Passed).Select(r => r.Case.Op).Distinct(), Is.EqualTo(new[] { "scale-shift" }));
        Assert.That(results.Count(r => r.Case.Op == "scale-shift"), Is.EqualTo(3));
    }

    private static VerificationResult Run(Action<CaseRun> body)
    {
        using var backend = new CpuBackend(CpuGemmProvider.Managed);
        return new VerificationCase("test", "op", "size", body).Run(backend, seed: 1);
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
