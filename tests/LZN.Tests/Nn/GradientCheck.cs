using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Nn;

namespace LZN.Tests.Nn;

/// <summary>
/// Finite-difference gradient checks on the CPU backend. The scalar loss is L = sum_i r_i y_i (r fixed,
/// accumulated in double); the analytic gradient is what Backward(r) produced. Each checked coordinate is
/// perturbed by +-Epsilon in place and the central difference (L+ - L-) / (2 Epsilon) taken in double.
/// The model computes in float32, so the difference carries ~1e-6 |L| / Epsilon of rounding noise; the
/// tolerance is |analytic - numeric| <= Absolute + Relative |numeric|.
/// </summary>
internal static class GradientCheck
{
    public const double Epsilon = 1e-2;
    public const double Absolute = 3e-3;
    public const double Relative = 2e-2;

    /// <summary>A tensor whose gradient is checked: its value (perturbed in place) and the analytic gradient.</summary>
    public sealed record Target(string Name, FloatBuffer Value, float[] Analytic);

    public static double Dot(float[] weights, FloatBuffer output)
    {
        var values = output.ToArray();
        Assert.That(values, Has.Length.EqualTo(weights.Length), "loss weights vs output");
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
            sum += (double)weights[i] * values[i];
        return sum;
    }

    /// <summary>Checks up to <paramref name="samples"/> coordinates per target (all of a small one); returns how many were checked.</summary>
    public static int Check(Func<double> loss, IEnumerable<Target> targets, int samples = 12, int seed = 7)
    {
        var random = new Random(seed);
        int checkedCount = 0;
        foreach (var target in targets)
        {
            var span = ((CpuFloatBuffer)target.Value).Array;
            int offset = ((CpuFloatBuffer)target.Value).Offset;
            int length = (int)target.Value.Length;
            Assert.That(target.Analytic, Has.Length.EqualTo(length), target.Name);
            var indices = length <= samples ? Enumerable.Range(0, length) : Enumerable.Range(0, samples).Select(_ => random.Next(length));
            foreach (int index in indices)
            {
                float original = span[offset + index];
                span[offset + index] = (float)(original + Epsilon);
                double plus = loss();
                span[offset + index] = (float)(original - Epsilon);
                double minus = loss();
                span[offset + index] = original;
                double numeric = (plus - minus) / (2 * Epsilon);
                double analytic = target.Analytic[index];
                double tolerance = Absolute + Relative * Math.Abs(numeric);
                if (!(Math.Abs(analytic - numeric) <= tolerance))
                    Assert.Fail($"{target.Name}[{index}]: analytic {analytic:G6}, finite difference {numeric:G6} (tolerance {tolerance:G3}).");
                checkedCount++;
            }
        }
        return checkedCount;
    }

    /// <summary>Forward, Backward(r) and a check of every parameter and the input of a layer.</summary>
    public static int CheckLayer(Layer layer, int batchSize, int seed = 1, float inputScale = 1f, int samples = 12)
    {
        var backend = layer.Backend;
        using var input = backend.FromHost(Values(batchSize * layer.InputSize, seed, inputScale));
        var weights = Values(batchSize * layer.OutputSize, seed + 1);
        using var weightBuffer = backend.FromHost(weights);
        layer.ZeroGrad();
        layer.Forward(input, batchSize);
        var inputGrad = layer.Backward(weightBuffer).ToArray();
        var targets = layer.Parameters.Select(p => new Target(p.Name, p.Value, p.Grad.ToArray())).ToList();
        targets.Add(new Target("input", input, inputGrad));
        int count = Check(() => Dot(weights, layer.Forward(input, batchSize)), targets, samples);
        TestContext.Out.WriteLine($"{layer.GetType().Name} {layer.Name}: {count} coordinates over {targets.Count} tensors agree with finite differences.");
        return count;
    }

    /// <summary>Uniform values in [-scale, scale) from a seeded generator.</summary>
    public static float[] Values(int length, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
            values[i] = scale * (2 * random.NextSingle() - 1);
        return values;
    }

    /// <summary>Overwrites a parameter (e.g. a norm's gamma = 1) with random values so its gradient is exercised generally.</summary>
    public static void Randomize(Parameter parameter, int seed, float center = 0f, float scale = 0.5f)
    {
        var values = Values((int)parameter.Length, seed, scale).Select(value => value + center).ToArray();
        parameter.Backend.Upload(values, parameter.Value);
    }
}
