using LZN.Native.Backends;
using LZN.Tests.Backends;

namespace LZN.Tests.RectifiedFlow;

/// <summary>IFlowMatchingKernels beyond the flow-matching verification table: the loss gradient against finite differences, NaN propagation.</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public class FlowMatchingKernelTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
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
