using LZN.Native.Backends;

namespace LZN.Native.Diagnostics;

// Optimiser and rectified-flow kernels (IBackend.Optimizer, IBackend.FlowMatching) against float64.
public static partial class SelfTest
{
    private static IEnumerable<SelfTestRow> Training(Context context)
    {
        var backend = context.Backend;
        const int length = 70_001;
        string size = $"{length}";
        float[] start = context.Uniform(length), grad = context.Uniform(length, 2), target = context.Uniform(length, 2);
        foreach (bool decoupled in new[] { false, true })
        {
            const double Lr = 1e-2, Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8, Decay = 0.1, Step = 3;
            const float Scale = 0.5f;
            using var p = backend.FromHost(start);
            using var g = backend.FromHost(grad);
            using var m = backend.FromHost(target);
            using var v = backend.FromHost(grad.Select(x => x * x).ToArray());
            backend.Optimizer.AdamStep(new AdamStepArgs
            {
                Parameters = p, Gradients = g, FirstMoments = m, SecondMoments = v, LearningRate = Lr, Beta1 = Beta1,
                Beta2 = Beta2, Epsilon = Eps, WeightDecay = Decay, DecoupledWeightDecay = decoupled, Step = (long)Step, GradientScale = Scale,
            });
            var expected = new double[length];
            for (int i = 0; i < length; i++)
            {
                double value = start[i], gi = Scale * grad[i] + (decoupled ? 0 : Decay * value);
                double mi = Beta1 * target[i] + (1 - Beta1) * gi;
                double vi = Beta2 * ((double)grad[i] * grad[i]) + (1 - Beta2) * gi * gi;
                value *= decoupled ? 1 - Lr * Decay : 1;
                expected[i] = value - Lr / (1 - Math.Pow(Beta1, Step)) * mi / (Math.Sqrt(vi / (1 - Math.Pow(Beta2, Step))) + Eps);
            }
            yield return Row(decoupled ? "adamw step" : "adam step", size, p, expected);
        }

        using (var shadow = backend.FromHost(start))
        using (var value = backend.FromHost(target))
        {
            const double Decay = 0.999;
            backend.Optimizer.EmaUpdate(shadow, value, Decay);
            yield return Row("ema update", size, shadow, start.Select((s, i) => Decay * s + (1 - Decay) * target[i]).ToArray());
        }

        const int rows = 70, rowLength = 1000;
        float[] times = context.Uniform(rows).Select(t => 0.5f + 0.5f * t).ToArray();
        using (var x1 = backend.FromHost(start))
        using (var x0 = backend.FromHost(target))
        using (var t = backend.FromHost(times))
        using (var noisy = context.Poisoned(length - 1))
        using (var velocity = context.Poisoned(length - 1))
        {
            backend.FlowMatching.BuildTrainingPair(rows, rowLength, x1.Slice(0, length - 1), x0.Slice(0, length - 1), t, noisy, velocity);
            yield return Row("rf training pair", $"{rows}x{rowLength}", noisy,
                Enumerable.Range(0, length - 1).Select(i => times[i / rowLength] * (double)start[i] + (1 - times[i / rowLength]) * (double)target[i]).ToArray());
        }

        using (var prediction = backend.FromHost(start))
        using (var goal = backend.FromHost(target))
        using (var loss = context.Poisoned(1))
        using (var gradient = context.Poisoned(length))
        {
            backend.FlowMatching.MeanSquaredError(prediction, goal, loss, gradient);
            double sum = start.Select((s, i) => ((double)s - target[i]) * (s - target[i])).Sum();
            yield return Row("rf mse loss", size, loss, [sum / length]);
            yield return Row("rf mse gradient", size, gradient, start.Select((s, i) => 2.0 * (s - (double)target[i]) / length).ToArray());
        }

        using (var error = backend.FromHost(grad))
        using (var y0 = backend.FromHost(start))
        using (var y1 = backend.FromHost(target))
        using (var result = context.Poisoned(1))
        {
            backend.FlowMatching.ScaledSquaredErrorSum(error, y0, y1, 1e-2f, 1e-3f, result);
            double expected = grad.Select((e, i) => e / (1e-3 + 1e-2 * Math.Max(Math.Abs(start[i]), Math.Abs(target[i])))).Sum(x => x * x);
            yield return Row("rf scaled error norm", size, result, [expected]);
        }
    }
}
