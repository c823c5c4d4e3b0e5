using LZN.Native.Backends;
using LZN.Native.RectifiedFlow;
using LZN.Tests.Backends;

namespace LZN.Tests.RectifiedFlow;

/// <summary>
/// Euler and Dormand-Prince on dx/dt = (lambda + a t) x, elementwise, whose solution is
/// x(t1) = x(t0) exp(lambda (t1 - t0) + a (t1^2 - t0^2) / 2), over the sampling interval [1e-3, 1] both ways.
/// </summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public class SamplerTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private const int Rows = 4, RowLength = 16;
    private const double TimeSlope = 1.2, MinTime = RectifiedFlowObjective.DefaultMinTime;

    private static readonly float[] Rates = RandomValues(Rows * RowLength, seed: 21, scale: 1.5f);
    private static readonly float[] Start = RandomValues(Rows * RowLength, seed: 22);

    private int _evaluations;
    private FloatBuffer? _rates; // [rows, rowLength]
    private FloatBuffer? _scratch; // [rows, rowLength]

    [TestCase(false)]
    [TestCase(true)]
    public void EulerConvergesAtFirstOrder(bool inverse)
    {
        double[] errors = [.. new[] { 25, 50, 100 }.Select(steps =>
        {
            using var x = Backend.FromHost(Start);
            if (inverse)
                EulerSampler.Invert(Backend, Field(), x, steps);
            else
                EulerSampler.Sample(Backend, Field(), x, steps);
            return MaxError(x.ToArray(), inverse ? 1.0 : MinTime, inverse ? MinTime : 1.0);
        })];
        TestContext.Out.WriteLine($"Euler max errors at 25, 50, 100 steps: {string.Join(", ", errors.Select(e => e.ToString("e3")))}");
        Assert.That(_evaluations, Is.EqualTo(175));
        Assert.That(errors[0] / errors[1], Is.InRange(1.8, 2.2), $"errors {string.Join(", ", errors)}");
        Assert.That(errors[1] / errors[2], Is.InRange(1.85, 2.15), $"errors {string.Join(", ", errors)}");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void DormandPrinceMeetsItsTolerancesAndReportsEvaluations(bool inverse)
    {
        var sampler = new DormandPrinceSampler(Backend, new DormandPrinceOptions { RelativeTolerance = 1e-5, AbsoluteTolerance = 1e-5 });
        using var x = Backend.FromHost(Start);
        var stats = inverse ? sampler.Invert(Field(), x) : sampler.Sample(Field(), x);
        double from = inverse ? 1.0 : MinTime, to = inverse ? MinTime : 1.0;
        var exact = Exact(from, to);
        var result = x.ToArray();
        double worst = 0;
        for (int i = 0; i < result.Length; i++)
            worst = Math.Max(worst, Math.Abs(result[i] - exact[i]) / (1e-5 + 1e-5 * Math.Abs(exact[i])));
        TestContext.Out.WriteLine($"RK45 {stats}, worst error {worst:f3} x (atol + rtol |x|)");
        Assert.That(worst, Is.LessThan(3), "error in units of atol + rtol |x|");
        Assert.That(stats.Evaluations, Is.EqualTo(_evaluations));
        Assert.That(stats.Evaluations, Is.EqualTo(2 + 6 * (stats.AcceptedSteps + stats.RejectedSteps)));
        Assert.That(stats.AcceptedSteps, Is.GreaterThan(1));
    }

    [Test]
    public void DormandPrinceNeedsFewerEvaluationsThanEulerForTheSameAccuracy()
    {
        using var x = Backend.FromHost(Start);
        var stats = new DormandPrinceSampler(Backend).Sample(Field(), x);
        double adaptiveError = MaxError(x.ToArray(), MinTime, 1.0);
        using var y = Backend.FromHost(Start);
        EulerSampler.Sample(Backend, Field(), y, steps: 4 * stats.Evaluations);
        double eulerError = MaxError(y.ToArray(), MinTime, 1.0);
        TestContext.Out.WriteLine($"RK45: {stats.Evaluations} evaluations, error {adaptiveError:e2}; Euler with {4 * stats.Evaluations} steps: {eulerError:e2}");
        Assert.That(eulerError, Is.GreaterThan(10 * adaptiveError),
            $"Euler with 4 x {stats.Evaluations} evaluations: {eulerError:e2}; RK45: {adaptiveError:e2}");
    }

    [Test]
    public void TighterTolerancesCostMoreAndErrLess()
    {
        double ErrorAt(double tolerance, out int evaluations)
        {
            using var x = Backend.FromHost(Start);
            var options = new DormandPrinceOptions { RelativeTolerance = tolerance, AbsoluteTolerance = tolerance };
            evaluations = new DormandPrinceSampler(Backend, options).Sample(Field(), x).Evaluations;
            return MaxError(x.ToArray(), MinTime, 1.0);
        }
        double loose = ErrorAt(1e-2, out int looseEvaluations);
        double tight = ErrorAt(1e-6, out int tightEvaluations);
        TestContext.Out.WriteLine($"tolerance 1e-2: {looseEvaluations} evaluations, error {loose:e2}; 1e-6: {tightEvaluations}, {tight:e2}");
        Assert.That(tightEvaluations, Is.GreaterThan(looseEvaluations));
        Assert.That(tight, Is.LessThan(loose / 100), $"loose {loose:e2}, tight {tight:e2}");
    }

    [Test]
    public void ForwardThenInverseReturnsToTheStart()
    {
        var sampler = new DormandPrinceSampler(Backend);
        using var x = Backend.FromHost(Start);
        sampler.Sample(Field(), x);
        sampler.Invert(Field(), x);
        var back = x.ToArray();
        for (int i = 0; i < back.Length; i++)
            Assert.That(back[i], Is.EqualTo(Start[i]).Within(1e-4), $"element {i}");
    }

    [Test]
    public void TooFewStepsThrowAndNamesTheTimeReached()
    {
        var sampler = new DormandPrinceSampler(Backend, new DormandPrinceOptions { MaxSteps = 2, RelativeTolerance = 1e-8, AbsoluteTolerance = 1e-8 });
        using var x = Backend.FromHost(Start);
        var error = Assert.Throws<InvalidOperationException>(() => sampler.Sample(Field(), x))!;
        Assert.That(error.Message, Does.Contain("after 2 steps"));
    }

    /// <summary>v = (lambda + a t) x through backend ops, counting evaluations.</summary>
    private VelocityField Field()
    {
        var rates = _rates!;
        var scratch = _scratch!;
        return (x, t, v) =>
        {
            Assert.That(v, Is.Not.SameAs(x));
            _evaluations++;
            Backend.Copy(rates, scratch);
            Backend.ScaleShift(scratch, 1f, (float)(TimeSlope * t));
            Backend.Multiply(scratch, x, v);
        };
    }

    [SetUp]
    public void CreateField()
    {
        _evaluations = 0;
        _rates = Backend.FromHost(Rates);
        _scratch = Backend.AllocateFloat(Rates.Length);
    }

    [TearDown]
    public void DisposeField()
    {
        _rates?.Dispose();
        _scratch?.Dispose();
    }

    private static double[] Exact(double from, double to)
    {
        var exact = new double[Start.Length];
        for (int i = 0; i < exact.Length; i++)
            exact[i] = Start[i] * Math.Exp(Rates[i] * (to - from) + TimeSlope * (to * to - from * from) / 2);
        return exact;
    }

    private static double MaxError(float[] result, double from, double to)
    {
        var exact = Exact(from, to);
        return result.Select((value, i) => Math.Abs(value - exact[i])).Max();
    }
}
