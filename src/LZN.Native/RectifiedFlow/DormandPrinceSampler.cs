using LZN.Native.Backends;

namespace LZN.Native.RectifiedFlow;

/// <summary>Tolerances and limits of <see cref="DormandPrinceSampler"/> (the reference samples with rtol = atol = 1e-5).</summary>
public sealed record DormandPrinceOptions
{
    public double RelativeTolerance { get; init; } = 1e-5;
    public double AbsoluteTolerance { get; init; } = 1e-5;

    /// <summary>Attempted steps (accepted + rejected) before the solver gives up.</summary>
    public int MaxSteps { get; init; } = 10_000;
}

/// <summary>What an adaptive solve cost: velocity evaluations, accepted and rejected steps.</summary>
public readonly record struct OdeSolveStats(int Evaluations, int AcceptedSteps, int RejectedSteps);

/// <summary>
/// Adaptive Dormand-Prince RK5(4) for dx/dt = v(x, t), step for step scipy's solve_ivp(method="RK45") as the
/// reference calls it: the same tableau, first-same-as-last, initial step selection, RMS error norm over the
/// whole batch with scale atol + rtol max(|x|, |x_new|), and step factors 0.9 err^(-1/5) clamped to [0.2, 10]
/// (at most 1 right after a rejection). Cost: 2 evaluations to start, 6 per attempted step, one host read
/// per attempted step (the error norm).
/// </summary>
public sealed class DormandPrinceSampler
{
    private const int StageCount = 6;
    private const double Safety = 0.9, MinFactor = 0.2, MaxFactor = 10, ErrorExponent = -1.0 / 5;

    private static readonly double[] C = [0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1];

    private static readonly double[][] A =
    [
        [],
        [1.0 / 5],
        [3.0 / 40, 9.0 / 40],
        [44.0 / 45, -56.0 / 15, 32.0 / 9],
        [19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729],
        [9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656],
    ];

    private static readonly double[] B = [35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84];

    /// <summary>Fifth- minus fourth-order weights over the six stages and the FSAL stage.</summary>
    private static readonly double[] E = [-71.0 / 57600, 0, 71.0 / 16695, -71.0 / 1920, 17253.0 / 339200, -22.0 / 525, 1.0 / 40];

    private readonly IBackend _backend;

    public DormandPrinceSampler(IBackend backend, DormandPrinceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        Options = options ?? new DormandPrinceOptions();
        if (!(Options.RelativeTolerance > 0) || !(Options.AbsoluteTolerance > 0) || Options.MaxSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(options), Options, "tolerances must be positive and MaxSteps at least 1.");
        _backend = backend;
    }

    public DormandPrinceOptions Options { get; }

    /// <summary>Noise -> data: from t = minTime to 1.</summary>
    public OdeSolveStats Sample(VelocityField velocity, FloatBuffer x, double minTime = RectifiedFlowObjective.DefaultMinTime) =>
        Integrate(velocity, x, minTime, 1.0);

    /// <summary>Data -> noise: from t = 1 back to minTime.</summary>
    public OdeSolveStats Invert(VelocityField velocity, FloatBuffer x, double minTime = RectifiedFlowObjective.DefaultMinTime) =>
        Integrate(velocity, x, 1.0, minTime);

    /// <summary>
    /// Integrates <paramref name="x"/> [rows, rowLength] in place from <paramref name="from"/> to <paramref name="to"/>.
    /// Throws <see cref="InvalidOperationException"/> (naming the time reached) when MaxSteps attempts do not
    /// suffice or the step size underflows.
    /// </summary>
    public OdeSolveStats Integrate(VelocityField velocity, FloatBuffer x, double from, double to)
    {
        ArgumentNullException.ThrowIfNull(velocity);
        ArgumentNullException.ThrowIfNull(x);
        if (from == to)
            return default;
        using var work = new Workspace(_backend, x.Length);
        var k = work.Stages;
        double direction = Math.Sign(to - from);
        int evaluations = 0, accepted = 0, rejected = 0;
        velocity(x, (float)from, k[0]);
        evaluations++;
        double stepSize = InitialStep(velocity, x, k[0], from, to, direction, work, ref evaluations);
        double t = from;
        while (direction * (to - t) > 0)
        {
            double minStep = 10 * Math.Abs(Math.BitIncrement(Math.Abs(t)) - Math.Abs(t));
            stepSize = Math.Max(stepSize, minStep);
            bool stepRejected = false;
            while (true)
            {
                if (accepted + rejected >= Options.MaxSteps)
                    throw new InvalidOperationException($"RK45 stopped at t = {t} after {Options.MaxSteps} steps ({evaluations} evaluations) short of t = {to}.");
                if (stepSize < minStep)
                    throw new InvalidOperationException($"RK45 step size underflowed at t = {t} ({evaluations} evaluations).");
                double tNew = t + stepSize * direction;
                if (direction * (tNew - to) > 0)
                    tNew = to;
                double h = tNew - t;
                stepSize = Math.Abs(h);
                evaluations += Step(velocity, x, t, h, work);
                double errorNorm = ErrorNorm(work, x, h);
                if (errorNorm < 1)
                {
                    double factor = errorNorm == 0 ? MaxFactor : Math.Min(MaxFactor, Safety * Math.Pow(errorNorm, ErrorExponent));
                    if (stepRejected)
                        factor = Math.Min(1, factor);
                    stepSize *= factor;
                    _backend.Copy(work.Next, x);
                    (k[0], k[StageCount]) = (k[StageCount], k[0]);
                    t = tNew;
                    accepted++;
                    break;
                }
                stepSize *= Math.Max(MinFactor, Safety * Math.Pow(errorNorm, ErrorExponent));
                stepRejected = true;
                rejected++;
            }
        }
        return new OdeSolveStats(evaluations, accepted, rejected);
    }

    /// <summary>Stages 1..5 and the FSAL stage of one step of size h from (t, x) into work.Next; returns evaluations (6).</summary>
    private static int Step(VelocityField velocity, FloatBuffer x, double t, double h, Workspace work)
    {
        var backend = x.Backend;
        var k = work.Stages;
        for (int s = 1; s < StageCount; s++)
        {
            Combine(backend, x, h, A[s], k, work.StageInput);
            velocity(work.StageInput, (float)(t + C[s] * h), k[s]);
        }
        Combine(backend, x, h, B, k, work.Next);
        velocity(work.Next, (float)(t + h), k[StageCount]);
        return StageCount;
    }

    /// <summary>RMS over all elements of h sum_j E_j k_j scaled by atol + rtol max(|x|, |x_new|).</summary>
    private double ErrorNorm(Workspace work, FloatBuffer x, double h)
    {
        var error = work.StageInput;
        _backend.Fill(error, 0f);
        for (int j = 0; j < E.Length; j++)
        {
            if (E[j] != 0)
                _backend.Axpby((float)(h * E[j]), work.Stages[j], 1f, error);
        }
        return ScaledNorm(error, x, work.Next, work);
    }

    private double ScaledNorm(FloatBuffer error, FloatBuffer y0, FloatBuffer y1, Workspace work)
    {
        _backend.FlowMatching.ScaledSquaredErrorSum(error, y0, y1, (float)Options.RelativeTolerance, (float)Options.AbsoluteTolerance, work.Scalar);
        return Math.Sqrt(work.Scalar.ReadScalar() / error.Length);
    }

    /// <summary>scipy's select_initial_step: one extra evaluation at a trial Euler step.</summary>
    private double InitialStep(VelocityField velocity, FloatBuffer x, FloatBuffer f0, double from, double to, double direction,
        Workspace work, ref int evaluations)
    {
        double interval = Math.Abs(to - from);
        double d0 = ScaledNorm(x, x, x, work);
        double d1 = ScaledNorm(f0, x, x, work);
        double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
        h0 = Math.Min(h0, interval);
        var y1 = work.Next;
        var f1 = work.StageInput;
        _backend.Copy(x, y1);
        _backend.Axpby((float)(h0 * direction), f0, 1f, y1);
        velocity(y1, (float)(from + h0 * direction), f1);
        evaluations++;
        _backend.Axpby(-1f, f0, 1f, f1);
        double d2 = ScaledNorm(f1, x, x, work) / h0;
        double h1 = d1 <= 1e-15 && d2 <= 1e-15
            ? Math.Max(1e-6, h0 * 1e-3)
            : Math.Pow(0.01 / Math.Max(d1, d2), 1.0 / 5);
        return Math.Min(Math.Min(100 * h0, h1), interval);
    }

    /// <summary>output = x + h sum_j weights_j k_j.</summary>
    private static void Combine(IBackend backend, FloatBuffer x, double h, double[] weights, FloatBuffer[] k, FloatBuffer output)
    {
        backend.Copy(x, output);
        for (int j = 0; j < weights.Length; j++)
        {
            if (weights[j] != 0)
                backend.Axpby((float)(h * weights[j]), k[j], 1f, output);
        }
    }

    /// <summary>The solver's buffers: seven stages, the stage input, the candidate point and a scalar.</summary>
    private sealed class Workspace : IDisposable
    {
        public Workspace(IBackend backend, long length)
        {
            Stages = new FloatBuffer[StageCount + 1];
            for (int s = 0; s <= StageCount; s++)
                Stages[s] = backend.AllocateFloat(length); // [rows, rowLength]
            StageInput = backend.AllocateFloat(length); // [rows, rowLength]
            Next = backend.AllocateFloat(length); // [rows, rowLength]
            Scalar = backend.AllocateFloat(1); // [1]
        }

        /// <summary>k_0..k_5 and the FSAL stage k_6 = v(x_new, t + h).</summary>
        public FloatBuffer[] Stages { get; }

        public FloatBuffer StageInput { get; }

        public FloatBuffer Next { get; }

        public FloatBuffer Scalar { get; }

        public void Dispose()
        {
            foreach (var stage in Stages)
                stage.Dispose();
            StageInput.Dispose();
            Next.Dispose();
            Scalar.Dispose();
        }
    }
}
