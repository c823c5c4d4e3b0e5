using LZN.Native.Backends;
using LZN.Native.Backends.Cpu;
using LZN.Native.Nn;
using LZN.Tests.Backends;

namespace LZN.Tests.Nn;

/// <summary>
/// Whole models on each backend against the same models on the managed CPU backend (whose layers the
/// finite-difference tests verify): same seed, so the same Philox weights, same inputs; outputs, input
/// gradients and every parameter gradient must agree to float rounding of the different summation orders.
/// </summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class NnBackendAgreementTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private CpuBackend _reference = null!;

    [OneTimeSetUp]
    public void CreateReference() => _reference = new CpuBackend(CpuGemmProvider.Managed);

    [OneTimeTearDown]
    public void DisposeReference() => _reference.Dispose();

    [TestCase(1)]
    [TestCase(2)]
    public void CnnEncoderAgreesWithTheReference(int depth)
    {
        const int batchSize = 4;
        var config = new CnnEncoderConfig(1, 28, 28, 5) { Channels = [8, 16, 16], Groups = 4, Depth = depth };
        var input = RandomValues(batchSize * 784, seed: 1);
        var gradOutput = RandomValues(batchSize * 5, seed: 2);
        using var expected = new CnnEncoder(_reference, "cnn", config, seed: 3);
        using var actual = new CnnEncoder(Backend, "cnn", config, seed: 3);
        var (expectedOutput, expectedGrad) = Run(expected, input, gradOutput, batchSize);
        var (actualOutput, actualGrad) = Run(actual, input, gradOutput, batchSize);
        AssertClose(actualOutput, ToDouble(expectedOutput), 1e-4, 1e-4, "output");
        AssertClose(actualGrad, ToDouble(expectedGrad), 1e-3, 1e-4, "input gradient");
        AssertParameterGradientsAgree(expected, actual);
    }

    [Test]
    public void UNetDecoderAgreesWithTheReference()
    {
        const int batchSize = 3;
        var config = new UNetDecoderConfig(1, 28, 28, LatentSize: 6, ClassCount: 10) { BaseChannels = 8, TimeEmbeddingSize = 16, Groups = 4 };
        var noisy = RandomValues(batchSize * 784, seed: 4);
        var latent = RandomValues(batchSize * 6, seed: 5);
        int[] labels = [3, 9, 0];
        float[] times = [0.05f, 0.5f, 0.95f];
        var gradVelocity = RandomValues(batchSize * 784, seed: 6);
        using var expected = new UNetDecoder(_reference, "decoder", config, seed: 7);
        using var actual = new UNetDecoder(Backend, "decoder", config, seed: 7);
        var expectedResult = Run(expected, noisy, latent, labels, times, gradVelocity, batchSize);
        var actualResult = Run(actual, noisy, latent, labels, times, gradVelocity, batchSize);
        AssertClose(actualResult.Output, ToDouble(expectedResult.Output), 1e-4, 1e-4, "velocity");
        AssertClose(actualResult.NoisyGrad, ToDouble(expectedResult.NoisyGrad), 1e-3, 1e-4, "noisy gradient");
        AssertClose(actualResult.LatentGrad, ToDouble(expectedResult.LatentGrad), 1e-3, 1e-4, "latent gradient");
        AssertParameterGradientsAgree(expected, actual);
    }

    private static (float[] Output, float[] InputGrad) Run(Layer model, float[] input, float[] gradOutput, int batchSize)
    {
        var backend = model.Backend;
        using var inputBuffer = backend.FromHost(input);
        using var gradBuffer = backend.FromHost(gradOutput);
        model.ZeroGrad();
        var output = model.Forward(inputBuffer, batchSize).ToArray();
        return (output, model.Backward(gradBuffer).ToArray());
    }

    private static (float[] Output, float[] NoisyGrad, float[] LatentGrad) Run(UNetDecoder model, float[] noisy, float[] latent,
        int[] labels, float[] times, float[] gradVelocity, int batchSize)
    {
        var backend = model.Backend;
        using var noisyBuffer = backend.FromHost(noisy);
        using var latentBuffer = backend.FromHost(latent);
        using var labelBuffer = backend.FromHost(labels);
        using var timeBuffer = backend.FromHost(times);
        using var gradBuffer = backend.FromHost(gradVelocity);
        model.ZeroGrad();
        var output = model.Forward(noisyBuffer, latentBuffer, labelBuffer, timeBuffer, batchSize).ToArray();
        var gradients = model.Backward(gradBuffer);
        return (output, gradients.Noisy.ToArray(), gradients.Latent.ToArray());
    }

    private static void AssertParameterGradientsAgree(Module expected, Module actual)
    {
        var pairs = expected.Parameters.Zip(actual.Parameters).ToList();
        Assert.That(pairs, Has.Count.EqualTo(expected.Parameters.Count()));
        foreach (var (reference, parameter) in pairs)
        {
            Assert.That(parameter.Name, Is.EqualTo(reference.Name));
            var referenceGrad = reference.Grad.ToArray();
            // Relative to the tensor's largest gradient: sums over thousands of terms cancel to near zero in places.
            double scale = referenceGrad.Max(value => Math.Abs((double)value));
            AssertClose(parameter.Value.ToArray(), ToDouble(reference.Value.ToArray()), 1e-6, 1e-7, $"{parameter.Name} value");
            AssertClose(parameter.Grad.ToArray(), ToDouble(referenceGrad), 1e-3, 1e-4 * scale, $"{parameter.Name} gradient");
        }
    }

    private static double[] ToDouble(float[] values) => values.Select(value => (double)value).ToArray();
}
