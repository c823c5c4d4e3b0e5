using LZN.Native.Backends;

namespace LZN.Native.Verification;

/// <summary>
/// The <see cref="IFlowMatchingKernels"/> against float64: the training pair row by row (t = 1 included), the MSE
/// with and without its gradient, and the adaptive sampler's scaled error sum, from a handful of elements to past
/// one pass of the CUDA reductions (1024 blocks of 256) and several CPU chunks.
/// </summary>
public static class FlowMatchingTable
{
    private const string Family = "flow matching";

    public static IReadOnlyList<VerificationCase> Cases { get; } = [.. Build()];

    private static IEnumerable<VerificationCase> Build()
    {
        foreach (var (rows, rowLength) in new[] { (3, 37), (70, 1000) })
        {
            yield return new VerificationCase(Family, "rf training pair", $"{rows}x{rowLength}", run =>
            {
                int n = rows * rowLength;
                float[] x1 = run.Uniform(n), x0 = run.Uniform(n, 3);   // [rows, rowLength]
                float[] t = [1f, .. run.Uniform(rows - 1).Select(v => 0.5f + 0.5f * v)]; // [rows]
                var noisy = run.Output("noisy", n);                     // [rows, rowLength]
                var target = run.Output("target", n);                   // [rows, rowLength]
                run.Backend.FlowMatching.BuildTrainingPair(rows, rowLength, run.Input(x1), run.Input(x0), run.Input(t), noisy, target);
                run.Expect(noisy, [.. Enumerable.Range(0, n).Select(i => t[i / rowLength] * (double)x1[i] + (1 - t[i / rowLength]) * (double)x0[i])],
                    1e-6, ErrorMeasure.Relative(floor: 1));
                run.Expect(target, [.. x1.Select((v, i) => (double)v - x0[i])], 1e-7, ErrorMeasure.Relative(floor: 1));
            });
        }

        foreach (var (n, lossScale, gradient) in new[] { (5, 1f, true), (1000, 0.5f, true), (1000, 1f, false), (300_001, 2f, true) })
        {
            string op = gradient ? $"rf mse loss and gradient, scale {lossScale}" : "rf mse loss";
            yield return new VerificationCase(Family, op, $"{n}", run =>
            {
                float[] prediction = run.Uniform(n), target = run.Uniform(n, 2);
                var loss = run.Output("loss", 1); // [1]
                var predictionGrad = gradient ? run.Output("predictionGrad", n) : null; // [n]
                run.Backend.FlowMatching.MeanSquaredError(run.Input(prediction), run.Input(target), loss, predictionGrad, lossScale);
                double sum = prediction.Select((p, i) => ((double)p - target[i]) * ((double)p - target[i])).Sum();
                run.Expect(loss, [sum / n], 1e-6);
                if (predictionGrad is not null)
                    run.Expect(predictionGrad, [.. prediction.Select((p, i) => lossScale * 2 * ((double)p - target[i]) / n)], 1e-6, ErrorMeasure.Relative(floor: 1e-6 * lossScale / n));
            });
        }

        foreach (int n in new[] { 7, 300_001 })
        {
            yield return new VerificationCase(Family, "rf scaled error sum", $"{n}", run =>
            {
                const float Rtol = 1e-3f, Atol = 1e-4f;
                float[] error = run.Uniform(n, 1e-3f), y0 = run.Uniform(n, 4), y1 = run.Uniform(n, 4);
                // A zero state: the absolute tolerance alone scales that element.
                y0[0] = 0;
                y1[0] = 0;
                var result = run.Output("result", 1); // [1]
                run.Backend.FlowMatching.ScaledSquaredErrorSum(run.Input(error), run.Input(y0), run.Input(y1), Rtol, Atol, result);
                double expected = error.Select((e, i) => e / (Atol + (double)Rtol * Math.Max(Math.Abs(y0[i]), Math.Abs(y1[i])))).Sum(v => v * v);
                run.Expect(result, [expected], 1e-6);
            });
        }
    }
}
