using LZN.Native.Diagnostics;
using LZN.Native.Zones;
namespace LZN.Tests.Zones.Reference;

/// <summary>
/// The representation-learning chain in float64: encode view 1 over its own anchors (queries = A1),
/// assign the latents through view 2's anchors A2 with target i for row i, cross-entropy assignment loss.
/// </summary>
internal static class RepresentationOracle
{
    public static double Loss(OracleProblem view1, OracleProblem view2, double[] noise, double noiseScale, double epsilon, int steps)
    {
        int rows = view1.AnchorCount;
        var latents = ZoneOracle.Encode(view1, view1.Anchors, rows, noise, noiseScale, epsilon, steps).Final;
        var assigned = ZoneOracle.Assign(view2, latents, rows, steps);
        return ZoneOracle.Loss(ZoneOracle.TargetLogProbs(assigned, Identity(rows)), steps, rows, AssignmentLossKind.CrossEntropy, out _);
    }

    public static (double Loss, double[] View1Grad, double[] View2Grad) LossAndGradients(OracleProblem view1, OracleProblem view2,
        double[] noise, double noiseScale, double epsilon, int steps)
    {
        int rows = view1.AnchorCount;
        var targets = Identity(rows);
        var encoded = ZoneOracle.Encode(view1, view1.Anchors, rows, noise, noiseScale, epsilon, steps);
        var assigned = ZoneOracle.Assign(view2, encoded.Final, rows, steps);
        double loss = ZoneOracle.Loss(ZoneOracle.TargetLogProbs(assigned, targets), steps, rows, AssignmentLossKind.CrossEntropy, out var beta);
        var view2Grad = new double[view2.Anchors.Length];
        var latentsGrad = ZoneOracle.Backward(assigned, null, targets, beta, view2Grad, null);
        var view1Grad = new double[view1.Anchors.Length];
        var startGrad = ZoneOracle.Backward(encoded, latentsGrad, null, null, view1Grad, null);
        for (int e = 0; e < startGrad.Length; e++)
            view1Grad[e] += (1 - epsilon) * startGrad[e];
        return (loss, view1Grad, view2Grad);
    }

    private static int[] Identity(int count) => Enumerable.Range(0, count).ToArray();
}
