using LZN.Native.Backends;
using LZN.Tests.Backends;

namespace LZN.Tests.RectifiedFlow;

/// <summary>IFlowMatchingKernels against float64 references and finite differences, on every backend.</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public class FlowMatchingKernelTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    [TestCase(3, 37)]
    [TestCase(70, 1000)]
    public void TrainingPairMatchesFloat64(int rows, int rowLength)
    {
        int n = rows * rowLength;
        var x1 = RandomValues(n, seed: 1);
        var x0 = RandomValues(n, seed: 2, scale: 3);
        var t = RandomValues(rows, seed: 3);
        for (int r = 0; r < rows; r++)
            t[r] = 0.5f + 0.5f * t[r];
        t[0] = 1f;
        using var data = Backend.FromHost(x1);
        using var noise = Backend.FromHost(x0);
        using var times = Backend.FromHost(t);
        var (noisyOwner, noisy) = UploadAsSlice(new float[n]);
        var (targetOwner, target) = UploadAsSlice(new float[n]);
        using var _ = noisyOwner;
        using var __ = targetOwner;
        Backend.FlowMatching.BuildTrainingPair(rows, rowLength, data, noise, times, noisy, target);
        var expectedNoisy = new double[n];
        var expectedTarget = new double[n];
        for (int i = 0; i < n; i++)
        {
            double time = t[i / rowLength];
            expectedNoisy[i] = time * x1[i] + (1 - time) * x0[i];
            expectedTarget[i] = (double)x1[i] - x0[i];
        }
        AssertClose(noisy.ToArray(), expectedNoisy, 1e-6, 1e-6, "x_t");
        AssertClose(target.ToArray(), expectedTarget, 1e-7, 1e-7, "target");
        AssertMarginsUntouched(noisyOwner);
        AssertMarginsUntouched(targetOwner);
    }

    [TestCase(5, 1f)]
    [TestCase(1000, 0.5f)]
    [TestCase(300_001, 2f)]
    public void MeanSquaredErrorAndGradientMatchFloat64(int n, float lossScale)
    {
        var prediction = RandomValues(n, seed: 4);
        var target = RandomValues(n, seed: 5, scale: 2);
        using var pred = Backend.FromHost(prediction);
        using var goal = Backend.FromHost(target);
        using var loss = Backend.FromHost(new[] { float.NaN });
        var (gradOwner, grad) = UploadAsSlice(new float[n]);
        using var _ = gradOwner;
        Backend.FlowMatching.MeanSquaredError(pred, goal, loss, grad, lossScale);
        double sum = 0;
        var expectedGrad = new double[n];
        for (int i = 0; i < n; i++)
        {
            double d = (double)prediction[i] - target[i];
            sum += d * d;
            expectedGrad[i] = lossScale * 2 * d / n;
        }
        Assert.That(loss.ReadScalar(), Is.EqualTo(sum / n).Within(1e-5).Percent);
        AssertClose(grad.ToArray(), expectedGrad, 1e-6, 1e-12, "gradient");
        AssertMarginsUntouched(gradOwner);

        using var valueOnly = Backend.FromHost(new[] { float.NaN });
        Backend.FlowMatching.MeanSquaredError(pred, goal, valueOnly, null);
        Assert.That(valueOnly.ReadScalar(), Is.EqualTo(loss.ReadScalar()));
    }

    [Test]
    public void LossGradientMatchesCentralFiniteDifferences()
    {
        const int N = 24;
        const float H = 1e-2f;
        var prediction = RandomValues(N, seed: 6);
        var target = RandomValues(N, seed: 7);
        using var pred = Backend.FromHost(prediction);
        using var goal = Backend.FromHost(target);
        using var loss = Backend.AllocateFloat(1);
        using var grad = Backend.AllocateFloat(N);
        Backend.FlowMatching.MeanSquaredError(pred, goal, loss, grad);
        var analytic = grad.ToArray();
        var numeric = new double[N];
        for (int i = 0; i < N; i++)
        {
            var shifted = (float[])prediction.Clone();
            shifted[i] = prediction[i] + H;
            Backend.Upload(shifted, pred);
            Backend.FlowMatching.MeanSquaredError(pred, goal, loss, null);
            double plus = loss.ReadScalar();
            shifted[i] = prediction[i] - H;
            Backend.Upload(shifted, pred);
            Backend.FlowMatching.MeanSquaredError(pred, goal, loss, null);
            numeric[i] = (plus - loss.ReadScalar()) / (2 * H);
        }
        AssertClose(analytic, numeric, 1e-3, 1e-5, "dloss/dprediction");
    }

    [TestCase(7)]
    [TestCase(300_001)]
    public void ScaledSquaredErrorSumMatchesFloat64(int n)
    {
        const float Rtol = 1e-3f, Atol = 1e-4f;
        var error = RandomValues(n, seed: 8, scale: 1e-3f);
        var y0 = RandomValues(n, seed: 9, scale: 4);
        var y1 = RandomValues(n, seed: 10, scale: 4);
        y0[0] = 0;
        y1[0] = 0;
        using var e = Backend.FromHost(error);
        using var a = Backend.FromHost(y0);
        using var b = Backend.FromHost(y1);
        using var result = Backend.FromHost(new[] { float.NaN });
        Backend.FlowMatching.ScaledSquaredErrorSum(e, a, b, Rtol, Atol, result);
        double expected = 0;
        for (int i = 0; i < n; i++)
        {
            double scaled = error[i] / (Atol + (double)Rtol * Math.Max(Math.Abs(y0[i]), Math.Abs(y1[i])));
            expected += scaled * scaled;
        }
        Assert.That(result.ReadScalar(), Is.EqualTo(expected).Within(1e-4).Percent);
    }

    [Test]
    public void NonFiniteInputsReachTheLoss()
    {
        using var pred = Backend.FromHost(new[] { 1f, float.NaN, 2f });
        using var goal = Backend.FromHost(new[] { 0f, 0f, 0f });
        using var loss = Backend.AllocateFloat(1);
        Backend.FlowMatching.MeanSquaredError(pred, goal, loss, null);
        Assert.That(loss.ReadScalar(), Is.NaN);
    }
}
