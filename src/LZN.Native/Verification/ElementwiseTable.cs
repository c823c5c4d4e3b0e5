using LZN.Native.Backends;
using LZN.Native.Diagnostics;

namespace LZN.Native.Verification;

/// <summary>
/// Axpby, multiply, scale-shift, every activation forward and backward (also in place), and the row-vector add,
/// against float64. Lengths: one element, a vector tail, and past both the CPU's parallel threshold (2^16) and one
/// resident wave of the grid-stride kernels.
/// </summary>
public static class ElementwiseTable
{
    private const string Family = "elementwise";

    private static readonly int[] Lengths = [1, 37, 100_003];

    /// <summary>fp32 result of O(1) operations: a few ulp of each element, absolute below 0.1.</summary>
    private const double ElementBound = 1e-6;

    /// <summary>An activation exponentiates arguments up to ~10 (GELU at |x| = 4), whose rounding alone is ~10 ulp of the result.</summary>
    private const double ActivationBound = 2e-6;

    /// <summary>The reference derivative is a float64 central difference (error ~1e-9) of the activation.</summary>
    private const double DerivativeBound = 1e-5;

    private static readonly ErrorMeasure PerElement = ErrorMeasure.Relative(floor: 0.1);

    public static IReadOnlyList<VerificationCase> Cases { get; } = [.. Build()];

    private static IEnumerable<VerificationCase> Build()
    {
        foreach (int length in Lengths)
        {
            yield return Case("axpby", length, run =>
            {
                float[] x = run.Uniform(length, 4), y = run.Uniform(length, 4);
                var yBuffer = run.InOut(y); // [length]
                run.Backend.Axpby(1.5f, run.Input(x), -0.25f, yBuffer);
                run.Expect(yBuffer, [.. x.Select((v, i) => 1.5 * v - 0.25 * y[i])], ElementBound, PerElement, "y");
            });
            yield return Case("multiply", length, run =>
            {
                float[] x = run.Uniform(length, 4), y = run.Uniform(length, 4);
                var z = run.Output("z", length); // [length]
                run.Backend.Multiply(run.Input(x), run.Input(y), z);
                run.Expect(z, [.. x.Select((v, i) => (double)v * y[i])], ElementBound, PerElement);
            });
            yield return Case("scale-shift", length, run =>
            {
                float[] x = run.Uniform(length, 4);
                var xBuffer = run.InOut(x); // [length]
                run.Backend.ScaleShift(xBuffer, -2f, 0.5f);
                run.Expect(xBuffer, [.. x.Select(v => -2.0 * v + 0.5)], ElementBound, PerElement, "x");
            });
        }
        yield return Case("multiply in place", 1000, run =>
        {
            float[] x = run.Uniform(1000, 4), y = run.Uniform(1000, 4);
            var xBuffer = run.InOut(x); // [1000]
            run.Backend.Multiply(xBuffer, run.Input(y), xBuffer);
            run.Expect(xBuffer, [.. x.Select((v, i) => (double)v * y[i])], ElementBound, PerElement, "x");
        });

        foreach (var kind in Enum.GetValues<ActivationKind>())
        {
            foreach (int length in Lengths[1..])
            {
                yield return Forward(kind, length, inPlace: false);
                yield return Backward(kind, length, inPlace: false);
            }
            yield return Forward(kind, 1000, inPlace: true);
            yield return Backward(kind, 1000, inPlace: true);
        }

        foreach (var (rows, cols) in new[] { (1, 1), (5, 37), (600, 130) })
        {
            yield return new VerificationCase(Family, "add row vector", $"{rows}x{cols}", run =>
            {
                float[] x = run.Uniform(rows * cols), v = run.Uniform(cols); // [rows, cols], [cols]
                var xBuffer = run.InOut(x); // [rows, cols]
                run.Backend.AddRowVector(xBuffer, run.Input(v), rows, cols, 0.5f);
                run.Expect(xBuffer, [.. x.Select((value, i) => value + 0.5 * v[i % cols])], ElementBound, PerElement, "x");
            });
        }
    }

    private static VerificationCase Case(string op, int length, Action<CaseRun> body) => new(Family, op, $"{length}", body);

    private static VerificationCase Forward(ActivationKind kind, int length, bool inPlace) =>
        Case($"activation {kind}{(inPlace ? " in place" : "")}", length, run =>
        {
            // |x| up to 9 reaches where every activation saturates.
            float[] x = run.Uniform(length, 9);
            double[] expected = [.. x.Select(v => ReferenceOps.Activation(kind, v))];
            var y = inPlace ? run.InOut(x) : run.Output("y", length); // [length]
            run.Backend.Activation(kind, inPlace ? y : run.Input(x), y);
            run.Expect(y, expected, ActivationBound, PerElement);
        });

    private static VerificationCase Backward(ActivationKind kind, int length, bool inPlace) =>
        Case($"activation {kind} backward{(inPlace ? " in place" : "")}", length, run =>
        {
            float[] x = run.Uniform(length, 6), dy = run.Uniform(length, 2);
            // Clear of ReLU's kink, where the central difference straddles two slopes.
            for (int i = 0; i < length; i++)
            {
                if (Math.Abs(x[i]) < 1e-3f)
                    x[i] = 0.5f;
            }
            double[] expected = [.. x.Select((v, i) => dy[i] * ReferenceOps.ActivationDerivative(kind, v))];
            var dx = inPlace ? run.InOut(dy) : run.Output("dx", length); // [length]
            run.Backend.ActivationBackward(kind, run.Input(x), inPlace ? dx : run.Input(dy), dx);
            run.Expect(dx, expected, DerivativeBound, PerElement);
        });
}
