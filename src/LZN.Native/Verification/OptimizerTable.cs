using LZN.Native.Backends;
using LZN.Native.Diagnostics;

namespace LZN.Native.Verification;

/// <summary>
/// The fused Adam/AdamW step and the EMA update against float64 (<see cref="AdamReference"/>), over several steps
/// so the moments and bias corrections carry over: below one vector, a SIMD tail, past the CPU's parallel threshold.
/// </summary>
public static class OptimizerTable
{
    private const string Family = "optimizer";

    public static IReadOnlyList<VerificationCase> Cases { get; } = [.. Build()];

    private static IEnumerable<VerificationCase> Build()
    {
        foreach (var (length, decoupled, weightDecay, gradientScale) in new[]
        {
            (5, false, 0.0, 1f), (37, true, 0.1, 1f), (37, false, 0.05, 0.25f), (100_003, true, 0.01, 0.5f),
        })
        {
            string op = $"{(decoupled ? "adamw" : "adam")} step, decay {weightDecay}, gradient scale {gradientScale}";
            yield return new VerificationCase(Family, op, $"{length} x 4 steps", run =>
            {
                const double Lr = 1e-2, Beta1 = 0.9, Beta2 = 0.99, Eps = 1e-8;
                float[] initial = run.Uniform(length);
                var reference = new AdamReference(CaseRun.Widen(initial));
                var parameters = run.InOut(initial);          // [length]
                var first = run.InOut(new float[length]);     // [length]
                var second = run.InOut(new float[length]);    // [length]
                var gradients = run.Output("gradients", length); // [length], uploaded each step
                for (int step = 1; step <= 4; step++)
                {
                    // Gradients spanning five decades, so sqrt(v) and eps both matter somewhere.
                    float[] g = run.Uniform(length, 2);
                    for (int i = 0; i < length; i += 7)
                        g[i] *= 1e-4f;
                    run.Backend.Upload(g, gradients);
                    run.Backend.Optimizer.AdamStep(new AdamStepArgs
                    {
                        Parameters = parameters, Gradients = gradients, FirstMoments = first, SecondMoments = second,
                        LearningRate = Lr, Beta1 = Beta1, Beta2 = Beta2, Epsilon = Eps, WeightDecay = weightDecay,
                        DecoupledWeightDecay = decoupled, Step = step, GradientScale = gradientScale,
                    });
                    reference.Step(CaseRun.Widen(g), Lr, Beta1, Beta2, Eps, weightDecay, decoupled, gradientScale);
                }
                run.Expect(parameters, reference.Values, 1e-5, ErrorMeasure.Relative(floor: 0.1));
                run.Expect(first, reference.First, 1e-5, ErrorMeasure.Relative(floor: 1e-2));
                run.Expect(second, reference.Second, 1e-5, ErrorMeasure.Relative(floor: 1e-4));
            });
        }

        foreach (var (length, decay) in new[] { (37, 0.9), (100_003, 0.999) })
        {
            yield return new VerificationCase(Family, $"ema update, decay {decay}", $"{length} x 3 updates", run =>
            {
                float[] start = run.Uniform(length);
                double[] expected = CaseRun.Widen(start);
                var shadow = run.InOut(start);           // [length]
                var value = run.Output("value", length); // [length], uploaded each update
                for (int update = 0; update < 3; update++)
                {
                    float[] v = run.Uniform(length);
                    run.Backend.Upload(v, value);
                    run.Backend.Optimizer.EmaUpdate(shadow, value, decay);
                    for (int i = 0; i < length; i++)
                        expected[i] = decay * expected[i] + (1 - decay) * v[i];
                }
                run.Expect(shadow, expected, 1e-6, ErrorMeasure.Relative(floor: 0.1));
            });
        }
        // (float)0.999999 = 1 - 1.013e-6: a kernel that formed 1 - decay in float would move 1.3% too far.
        yield return new VerificationCase(Family, "ema update, decay 0.999999", "2", run =>
        {
            const double Decay = 0.999999;
            float[] start = [0f, 1f];
            var shadow = run.InOut(start); // [2]
            run.Backend.Optimizer.EmaUpdate(shadow, run.Input(new[] { 1f, 1f }), Decay);
            run.Expect(shadow, [1 - Decay, 1], 1e-6, ErrorMeasure.Relative(floor: 0));
        });
    }
}
