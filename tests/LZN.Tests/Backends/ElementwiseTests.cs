using LZN.Native.Backends;
using LZN.Native.Diagnostics;
using LZN.Tests.Reference;

namespace LZN.Tests.Backends;

[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class ElementwiseTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    /// <summary>Odd lengths: one element, a vector tail, and one past the parallel threshold (1 << 16).</summary>
    private static readonly int[] Lengths = [1, 37, (1 << 17) + 5];

    [Test]
    public void AxpbyOnSlices([ValueSource(nameof(Lengths))] int length)
    {
        var x = RandomValues(length, seed: 1);
        var y = RandomValues(length, seed: 2);
        var expected = new double[length];
        for (int i = 0; i < length; i++)
            expected[i] = 1.5 * x[i] - 0.25 * y[i];
        var (xOwner, xView) = UploadAsSlice(x);
        var (yOwner, yView) = UploadAsSlice(y);
        using (xOwner)
        using (yOwner)
        {
            Backend.Axpby(1.5f, xView, -0.25f, yView);
            AssertClose(yView.ToArray(), expected, 2e-7, 1e-7, "y");
            AssertMarginsUntouched(yOwner);
        }
    }

    [Test]
    public void MultiplyIntoNewBufferAndInPlace([ValueSource(nameof(Lengths))] int length)
    {
        var x = RandomValues(length, seed: 3);
        var y = RandomValues(length, seed: 4);
        var expected = new double[length];
        for (int i = 0; i < length; i++)
            expected[i] = (double)x[i] * y[i];
        var (xOwner, xView) = UploadAsSlice(x);
        using (xOwner)
        using (var yBuffer = Backend.FromHost(y))
        using (var z = Backend.AllocateFloat(length))
        {
            Backend.Multiply(xView, yBuffer, z);
            AssertClose(z.ToArray(), expected, 1e-7, 0, "z");
            Backend.Multiply(xView, yBuffer, xView);
            AssertClose(xView.ToArray(), expected, 1e-7, 0, "x *= y");
            AssertMarginsUntouched(xOwner);
        }
    }

    [Test]
    public void ScaleShiftOnASlice([ValueSource(nameof(Lengths))] int length)
    {
        var x = RandomValues(length, seed: 5);
        var expected = Array.ConvertAll(x, v => -3.0 * v + 0.5);
        var (owner, view) = UploadAsSlice(x);
        using (owner)
        {
            Backend.ScaleShift(view, -3f, 0.5f);
            AssertClose(view.ToArray(), expected, 2e-7, 1e-7, "x");
            AssertMarginsUntouched(owner);
        }
    }

    [TestCase(1, 1)]
    [TestCase(5, 37)]
    [TestCase(600, 130)]
    public void AddRowVectorBroadcastsOverRows(int rows, int cols)
    {
        var x = RandomValues(rows * cols, seed: 6); // [rows, cols]
        var v = RandomValues(cols, seed: 7); // [cols]
        var expected = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
                expected[r * cols + c] = x[r * cols + c] + 0.5 * v[c];
        }
        var (owner, view) = UploadAsSlice(x);
        using (owner)
        using (var vector = Backend.FromHost(v))
        {
            Backend.AddRowVector(view, vector, rows, cols, 0.5f);
            AssertClose(view.ToArray(), expected, 2e-7, 1e-7, "x");
            AssertMarginsUntouched(owner);
        }
    }

    [Test]
    public void ActivationForwardMatchesDefinitions([Values] ActivationKind kind, [ValueSource(nameof(Lengths))] int length)
    {
        var x = RandomValues(length, seed: 8, scale: 9);
        var expected64 = Array.ConvertAll(x, v => ReferenceOps.Activation(kind, v));
        var expectedScalar = Array.ConvertAll(x, v => (double)Activations.Forward(kind, v));
        var (owner, view) = UploadAsSlice(x);
        using (owner)
        using (var y = Backend.AllocateFloat(length))
        {
            Backend.Activation(kind, view, y);
            var actual = y.ToArray();
            AssertClose(actual, expected64, 1e-6, 1e-7, $"{kind} vs float64");
            // The float scalar definition itself loses ~1 ulp of 1 to cancellation in 1 + tanh where GELU saturates.
            AssertClose(actual, expectedScalar, 1e-6, 5e-7, $"{kind} vs Activations.Forward");
            Backend.Activation(kind, view, view);
            AssertClose(view.ToArray(), actual.Select(v => (double)v).ToArray(), 0, 0, $"{kind} in place");
            AssertMarginsUntouched(owner);
        }
    }

    [Test]
    public void ActivationBackwardMatchesDerivativesAndFiniteDifferences([Values] ActivationKind kind, [ValueSource(nameof(Lengths))] int length)
    {
        var x = RandomValues(length, seed: 9, scale: 6);
        // Keep clear of ReLU's kink, where the finite difference straddles two slopes.
        for (int i = 0; i < length; i++)
        {
            if (Math.Abs(x[i]) < 1e-3f)
                x[i] = 0.5f;
        }
        var dy = RandomValues(length, seed: 10, scale: 2);
        var expectedScalar = new double[length];
        var expectedDifference = new double[length];
        for (int i = 0; i < length; i++)
        {
            expectedScalar[i] = dy[i] * Activations.Derivative(kind, x[i]);
            expectedDifference[i] = dy[i] * BackendOracle.FiniteDifference(kind, x[i]);
        }
        var (owner, dyView) = UploadAsSlice(dy);
        using (owner)
        using (var xBuffer = Backend.FromHost(x))
        using (var dx = Backend.AllocateFloat(length))
        {
            Backend.ActivationBackward(kind, xBuffer, dyView, dx);
            var actual = dx.ToArray();
            AssertClose(actual, expectedDifference, 1e-5, 1e-6, $"{kind}' vs finite differences");
            // The float scalar derivatives cancel in 1 - s and 1 - tanh^2 (~1 ulp of 1, times |dy| <= 2, and for GELU
            // times x z' ~ |x|^3 <= 200); the backend avoids that, so it is held to float64 above and to the scalar
            // form only up to the scalar's own error.
            AssertClose(actual, expectedScalar, 1e-6, 5e-6, $"{kind}' vs Activations.Derivative");
            Backend.ActivationBackward(kind, xBuffer, dyView, dyView);
            AssertClose(dyView.ToArray(), actual.Select(v => (double)v).ToArray(), 0, 0, $"{kind}' in place");
            AssertMarginsUntouched(owner);
        }
    }

    [Test]
    public void ReluMapsNaNToZeroLikeTheScalarDefinition()
    {
        using var x = Backend.FromHost([float.NaN, -1f, 2f]);
        using var y = Backend.AllocateFloat(3);
        Backend.Activation(ActivationKind.Relu, x, y);
        Assert.That(y.ToArray(), Is.EqualTo(new[] { Activations.Forward(ActivationKind.Relu, float.NaN), 0f, 2f }));
    }
}
