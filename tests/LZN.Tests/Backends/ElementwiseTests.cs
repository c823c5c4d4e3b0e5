using LZN.Native.Backends;

namespace LZN.Tests.Backends;

/// <summary>Elementwise semantics beyond numeric agreement (that is the elementwise verification table).</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class ElementwiseTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    [Test]
    public void ReluMapsNaNToZero()
    {
        // x > 0 ? x : 0 is false for NaN on every backend, so a NaN never leaks through a ReLU.
        using var x = Backend.FromHost([float.NaN, -1f, 2f]);
        using var y = Backend.AllocateFloat(3);
        Backend.Activation(ActivationKind.Relu, x, y);
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 0f, 0f, 2f }));
    }
}
