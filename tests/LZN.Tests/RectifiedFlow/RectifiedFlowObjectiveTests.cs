using LZN.Native.Backends;
using LZN.Native.RectifiedFlow;
using LZN.Tests.Backends;

namespace LZN.Tests.RectifiedFlow;

/// <summary>The training batch: Philox draws at explicit counters, the interpolant, reproducibility.</summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public class RectifiedFlowObjectiveTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private const int Rows = 6, RowLength = 50;
    private const ulong Seed = 31;

    [Test]
    public void BatchesDrawTimesAndNoiseAtConsecutiveCountersAndInterpolate()
    {
        var data = RandomValues(Rows * RowLength, seed: 3);
        using var batch = new Batch(Backend, data);
        var objective = new RectifiedFlowObjective(Backend, Seed, offset: 1000);
        objective.BuildBatch(Rows, RowLength, batch.Data, batch.Noise, batch.Times, batch.Noisy, batch.Target);
        Assert.That(objective.Offset, Is.EqualTo(1000UL + Rows + Rows * RowLength));

        var times = batch.Times.ToArray();
        var noise = batch.Noise.ToArray();
        var expectedTimes = new double[Rows];
        for (int r = 0; r < Rows; r++)
            expectedTimes[r] = 1e-3f + (1 - 1e-3f) * Philox.Uniform(Seed, 1000UL + (ulong)r);
        AssertClose(times, expectedTimes, 1e-6, 0, "times");
        Assert.That(times, Is.All.InRange(1e-3f, 1f));
        var expectedNoise = new double[Rows * RowLength];
        for (int i = 0; i < expectedNoise.Length; i++)
            expectedNoise[i] = Philox.Normal(Seed, 1000UL + Rows + (ulong)i);
        AssertClose(noise, expectedNoise, 1e-5, 1e-6, "noise");

        var expectedNoisy = new double[data.Length];
        var expectedTarget = new double[data.Length];
        for (int i = 0; i < data.Length; i++)
        {
            double t = times[i / RowLength];
            expectedNoisy[i] = t * data[i] + (1 - t) * noise[i];
            expectedTarget[i] = (double)data[i] - noise[i];
        }
        AssertClose(batch.Noisy.ToArray(), expectedNoisy, 1e-6, 1e-6, "x_t");
        AssertClose(batch.Target.ToArray(), expectedTarget, 1e-7, 1e-7, "target");
    }

    [Test]
    public void ARestoredOffsetReproducesTheNextBatch()
    {
        var data = RandomValues(Rows * RowLength, seed: 4);
        using var first = new Batch(Backend, data);
        using var second = new Batch(Backend, data);
        var objective = new RectifiedFlowObjective(Backend, Seed);
        objective.BuildBatch(Rows, RowLength, first.Data, first.Noise, first.Times, first.Noisy, first.Target);
        ulong checkpoint = objective.Offset;
        objective.BuildBatch(Rows, RowLength, first.Data, first.Noise, first.Times, first.Noisy, first.Target);
        var resumed = new RectifiedFlowObjective(Backend, Seed, checkpoint);
        resumed.BuildBatch(Rows, RowLength, second.Data, second.Noise, second.Times, second.Noisy, second.Target);
        Assert.That(second.Noisy.ToArray(), Is.EqualTo(first.Noisy.ToArray()));
        Assert.That(second.Times.ToArray(), Is.EqualTo(first.Times.ToArray()));
        Assert.That(checkpoint, Is.Not.EqualTo(0UL));
    }

    [Test]
    public void LossIsTheMeanSquaredVelocityError()
    {
        var data = RandomValues(Rows * RowLength, seed: 5);
        using var batch = new Batch(Backend, data);
        var objective = new RectifiedFlowObjective(Backend, Seed);
        objective.BuildBatch(Rows, RowLength, batch.Data, batch.Noise, batch.Times, batch.Noisy, batch.Target);
        var prediction = RandomValues(Rows * RowLength, seed: 6);
        using var pred = Backend.FromHost(prediction);
        using var loss = Backend.AllocateFloat(1);
        using var grad = Backend.AllocateFloat(prediction.Length);
        objective.Loss(pred, batch.Target, loss, grad, lossWeight: 3f);
        var target = batch.Target.ToArray();
        double expected = prediction.Select((p, i) => ((double)target[i] - p) * (target[i] - p)).Average();
        Assert.That(loss.ReadScalar(), Is.EqualTo(expected).Within(1e-5).Percent);
        var expectedGrad = prediction.Select((p, i) => 3.0 * 2 * (p - (double)target[i]) / prediction.Length).ToArray();
        AssertClose(grad.ToArray(), expectedGrad, 1e-6, 1e-12, "gradient");
    }

    /// <summary>Data uploaded, the other batch buffers poisoned with NaN.</summary>
    private sealed class Batch : IDisposable
    {
        public Batch(IBackend backend, float[] data)
        {
            Data = backend.FromHost(data); // [rows, rowLength]
            Noise = Poisoned(backend, data.Length); // [rows, rowLength]
            Times = Poisoned(backend, Rows); // [rows]
            Noisy = Poisoned(backend, data.Length); // [rows, rowLength]
            Target = Poisoned(backend, data.Length); // [rows, rowLength]
        }

        public FloatBuffer Data { get; }
        public FloatBuffer Noise { get; }
        public FloatBuffer Times { get; }
        public FloatBuffer Noisy { get; }
        public FloatBuffer Target { get; }

        private static FloatBuffer Poisoned(IBackend backend, long length)
        {
            var buffer = backend.AllocateFloat(length);
            backend.Fill(buffer, float.NaN);
            return buffer;
        }

        public void Dispose()
        {
            Data.Dispose();
            Noise.Dispose();
            Times.Dispose();
            Noisy.Dispose();
            Target.Dispose();
        }
    }
}
