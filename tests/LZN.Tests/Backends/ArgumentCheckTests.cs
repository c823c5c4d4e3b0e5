using LZN.Native.Backends;

namespace LZN.Tests.Backends;

/// <summary>
/// A table of bad calls that every backend rejects with the same exception type and message: one set of checks
/// (Backends/ArgumentChecks.cs, NnArgumentChecks.cs, ZoneArgumentChecks.cs, AdamStepArgs) with the exact-length rule.
/// </summary>
[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class ArgumentCheckTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    /// <summary>A bad call, given a way to allocate buffers on the backend under test.</summary>
    public sealed record BadCall(string Name, Action<IBackend, Func<long, FloatBuffer>, Func<long, IntBuffer>> Call, Type Exception, string Message)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<TestCaseData> BadCalls() => Table().Select(call => new TestCaseData(call).SetArgDisplayNames(call.Name));

    [TestCaseSource(nameof(BadCalls))]
    public void RejectsTheCallWithTheSharedMessage(BadCall call)
    {
        var floats = new List<FloatBuffer>();
        var ints = new List<IntBuffer>();
        try
        {
            var thrown = Assert.Catch(() => call.Call(Backend, length => Add(floats, Backend.AllocateFloat(length)), length => Add(ints, Backend.AllocateInt(length))));
            Assert.That((thrown!.GetType(), thrown.Message), Is.EqualTo((call.Exception, call.Message)));
        }
        finally
        {
            floats.ForEach(buffer => buffer.Dispose());
            ints.ForEach(buffer => buffer.Dispose());
        }
    }

    private static T Add<T>(List<T> owned, T buffer)
    {
        owned.Add(buffer);
        return buffer;
    }

    private static IEnumerable<BadCall> Table()
    {
        var argument = typeof(ArgumentException);
        var range = typeof(ArgumentOutOfRangeException);
        BadCall Bad(string name, Action<IBackend, Func<long, FloatBuffer>, Func<long, IntBuffer>> call, Type exception, string message) =>
            new(name, call, exception, message);

        // Transfers.
        yield return Bad("upload: source longer than the buffer", (b, f, _) => b.Upload(new float[5], f(4)), argument, "source has 5 elements; expected 4. (Parameter 'source')");
        yield return Bad("download: destination shorter than the buffer", (b, f, _) => b.Download(f(4), new float[3]), argument, "destination has 3 elements; expected 4. (Parameter 'destination')");
        yield return Bad("copy: lengths differ", (b, f, _) => b.Copy(f(4), f(5)), argument, "destination has 5 elements; expected 4. (Parameter 'destination')");

        // GEMM: A [3, 4], B [4, 5], C [3, 5].
        yield return Bad("gemm: lda below A's width", (b, f, _) => b.Gemm(false, false, 3, 5, 4, 1, f(12), 3, f(20), 5, 0, f(15), 5), range,
            "Leading dimension 3 of a is below its 4 columns. (Parameter 'a')");
        yield return Bad("gemm: C too short for ldc", (b, f, _) => b.Gemm(false, false, 3, 5, 4, 1, f(12), 4, f(20), 5, 0, f(15), 6), argument,
            "c needs 17 elements (1 x [3, 5], ld 6, stride 0); the buffer has 15. (Parameter 'c')");
        yield return Bad("gemm: A too short for m", (b, f, _) => b.Gemm(false, false, 4, 5, 4, 1, f(12), 4, f(20), 5, 0, f(20), 5), argument,
            "a needs 16 elements (1 x [4, 4], ld 4, stride 0); the buffer has 12. (Parameter 'a')");
        yield return Bad("gemm: negative k", (b, f, _) => b.Gemm(false, false, 3, 5, -1, 1, f(12), 4, f(20), 5, 0, f(15), 5), range,
            "k ('-1') must be a non-negative value. (Parameter 'k')\nActual value was -1.");
        yield return Bad("gemm strided batched: the second C past the buffer", (b, f, _) => b.GemmStridedBatched(false, false, 3, 5, 4, 1, f(12), 4, 0, f(20), 5, 0, 0, f(15), 5, 15, 2), argument,
            "c needs 30 elements (2 x [3, 5], ld 5, stride 15); the buffer has 15. (Parameter 'c')");
        yield return Bad("gemm strided batched: negative stride", (b, f, _) => b.GemmStridedBatched(false, false, 3, 5, 4, 1, f(12), 4, -12, f(20), 5, 0, 0, f(30), 5, 15, 2), range,
            "a ('-12') must be a non-negative value. (Parameter 'a')\nActual value was -12.");

        // Elementwise.
        yield return Bad("axpby: y shorter than x", (b, f, _) => b.Axpby(1, f(5), 1, f(4)), argument, "y has 4 elements; expected 5. (Parameter 'y')");
        yield return Bad("multiply: y longer than z", (b, f, _) => b.Multiply(f(4), f(5), f(4)), argument, "y has 5 elements; expected 4. (Parameter 'y')");
        yield return Bad("activation: y longer than x", (b, f, _) => b.Activation(ActivationKind.Relu, f(4), f(5)), argument, "y has 5 elements; expected 4. (Parameter 'y')");
        yield return Bad("activation: unknown kind", (b, f, _) => b.Activation((ActivationKind)99, f(4), f(4)), range,
            "Unknown activation. (Parameter 'kind')\nActual value was 99.");
        yield return Bad("activation backward: dx shorter than x", (b, f, _) => b.ActivationBackward(ActivationKind.Gelu, f(4), f(4), f(3)), argument, "dx has 3 elements; expected 4. (Parameter 'dx')");
        yield return Bad("add row vector: x longer than rows x cols", (b, f, _) => b.AddRowVector(f(13), f(4), 3, 4, 1), argument, "x has 13 elements; expected 12. (Parameter 'x')");
        yield return Bad("add row vector: v longer than cols", (b, f, _) => b.AddRowVector(f(12), f(5), 3, 4, 1), argument, "v has 5 elements; expected 4. (Parameter 'v')");
        yield return Bad("add row vector: negative rows", (b, f, _) => b.AddRowVector(f(12), f(4), -3, 4, 1), range,
            "rows ('-3') must be a non-negative value. (Parameter 'rows')\nActual value was -3.");

        // Reductions.
        yield return Bad("sum: result of two elements", (b, f, _) => b.Sum(f(8), f(2)), argument, "result has 2 elements; expected 1. (Parameter 'result')");
        yield return Bad("sum of squares: empty result", (b, f, _) => b.SumOfSquares(f(8), f(0)), argument, "result has 0 elements; expected 1. (Parameter 'result')");
        yield return Bad("column sums: result longer than cols", (b, f, _) => b.ColumnSums(f(12), 3, 4, f(5)), argument, "result has 5 elements; expected 4. (Parameter 'result')");
        yield return Bad("column sums: negative cols", (b, f, _) => b.ColumnSums(f(12), 3, -4, f(4)), range,
            "cols ('-4') must be a non-negative value. (Parameter 'cols')\nActual value was -4.");
        yield return Bad("row sums: result longer than rows", (b, f, _) => b.RowSums(f(12), 3, 4, f(4)), argument, "result has 4 elements; expected 3. (Parameter 'result')");
        yield return Bad("row sums: x longer than rows x cols", (b, f, _) => b.RowSums(f(13), 3, 4, f(3)), argument, "x has 13 elements; expected 12. (Parameter 'x')");
        yield return Bad("softmax rows: y longer than x", (b, f, _) => b.SoftmaxRows(f(12), 3, 4, f(13)), argument, "y has 13 elements; expected 12. (Parameter 'y')");
        yield return Bad("softmax rows: x longer than rows x cols", (b, f, _) => b.SoftmaxRows(f(13), 3, 4, f(13)), argument, "x has 13 elements; expected 12. (Parameter 'x')");

        // NN kernels.
        yield return Bad("nn transpose: y one short", (b, f, _) => b.Nn.TransposeLeadingAxes(f(24), 2, 3, 4, f(23)), argument, "y has 23 elements; expected 24. (Parameter 'y')");
        yield return Bad("nn group norm: groups do not divide channels", (b, f, _) => b.Nn.GroupNormForward(f(24), f(4), f(4), 1, 4, 6, 3, 1e-5f, f(24), f(3), f(3)), argument,
            "4 channels do not split into 3 groups. (Parameter 'groups')");
        yield return Bad("nn im2col: columns of the wrong length", (b, f, _) => b.Nn.Im2Col(f(24), 1, new ConvGeometry(1, 4, 6, 3, 1, 1), f(23)), argument,
            "columns has 23 elements; expected 216. (Parameter 'columns')");
        yield return Bad("nn copy columns: block past the source", (b, f, _) => b.Nn.CopyColumns(f(35), 5, 7, 6, f(10), 2, 0, 2), range,
            "Columns [6, +2) of 7 to [0, +2) of 2 are out of range. (Parameter 'count')");
        yield return Bad("nn sinusoidal embedding: odd dim", (b, f, _) => b.Nn.SinusoidalEmbedding(f(3), 3, 5, 1, 10000, f(15)), argument,
            "The embedding dimension 5 must be even. (Parameter 'dim')");
        yield return Bad("nn gather rows: indices of the wrong length", (b, f, i) => b.Nn.GatherRows(f(12), 3, i(3), 2, 4, f(8)), argument,
            "indices has 3 elements; expected 2. (Parameter 'indices')");

        // Zones: x [2, 3], A [4, 3].
        yield return Bad("zone step: time 0", (b, f, _) => b.Zones.Step(new ZoneStepArgs
        {
            Rows = 2, AnchorCount = 4, Dim = 3, Time = 0, StepSize = 0.1f, Points = f(6), Anchors = f(12), NextPoints = f(6),
        }), range, "Flow time must lie in (0, 1]. (Parameter 'time')\nActual value was 0.");
        yield return Bad("zone step: target log-probabilities without targets", (b, f, _) => b.Zones.Step(new ZoneStepArgs
        {
            Rows = 2, AnchorCount = 4, Dim = 3, Time = 0.5f, StepSize = 0.1f, Points = f(6), Anchors = f(12), NextPoints = f(6), TargetLogProb = f(2),
        }), argument, "Target log-probabilities need Targets. (Parameter 'targets')");
        yield return Bad("zone backward: self anchors without an anchors gradient", (b, f, _) => b.Zones.StepBackward(new ZoneBackwardArgs
        {
            Rows = 2, AnchorCount = 4, Dim = 3, Time = 0.5f, Points = f(6), Anchors = f(12), WeightedMean = f(6), LogSumExp = f(2),
            VelocityGrad = f(6), PointsGrad = f(6), SelfAnchorOffset = 1,
        }), argument, "SelfAnchorOffset 1 needs AnchorsGrad and anchor rows [1, 3) within 4. (Parameter 'args')");
        yield return Bad("zone step: anchor norms of another anchor buffer", (b, f, _) =>
        {
            using var norms = b.Zones.SquaredNorms(f(12), 4, 3);
            b.Zones.Step(new ZoneStepArgs
            {
                Rows = 2, AnchorCount = 4, Dim = 3, Time = 0.5f, StepSize = 0.1f, Points = f(6), Anchors = f(12), NextPoints = f(6), AnchorNorms = norms,
            });
        }, argument, "AnchorNorms were computed from another anchor buffer or shape (4 x 3) than these anchors (4 x 3). (Parameter 'anchorNorms')");
        yield return Bad("zone backward: anchor norms of another shape", (b, f, _) =>
        {
            var anchors = f(12);
            using var norms = b.Zones.SquaredNorms(anchors, 3, 4);
            b.Zones.StepBackward(new ZoneBackwardArgs
            {
                Rows = 2, AnchorCount = 4, Dim = 3, Time = 0.5f, Points = f(6), Anchors = anchors, WeightedMean = f(6), LogSumExp = f(2),
                VelocityGrad = f(6), PointsGrad = f(6), AnchorNorms = norms,
            });
        }, argument, "AnchorNorms were computed from another anchor buffer or shape (3 x 4) than these anchors (4 x 3). (Parameter 'anchorNorms')");
        yield return Bad("zone squared norms: anchors of the wrong length", (b, f, _) => b.Zones.SquaredNorms(f(11), 4, 3), argument,
            "anchors has 11 elements; expected 12. (Parameter 'anchors')");

        // Optimiser.
        yield return Bad("adam: step 0", (b, f, _) => b.Optimizer.AdamStep(Adam(f(4), f(4), step: 0)), range,
            "Adam steps are numbered from 1. (Parameter 'Step')\nActual value was 0.");
        yield return Bad("adam: second moments of another length", (b, f, _) => b.Optimizer.AdamStep(Adam(f(4), f(5), step: 1)), argument,
            "Adam buffers differ in length: parameters 4, gradients 4, m 4, v 5.");
        yield return Bad("ema: value of another length", (b, f, _) => b.Optimizer.EmaUpdate(f(4), f(5), 0.9), argument, "value has 5 elements; expected 4. (Parameter 'value')");
        yield return Bad("ema: decay above 1", (b, f, _) => b.Optimizer.EmaUpdate(f(4), f(4), 1.5), range,
            "EMA decay must lie in [0, 1]. (Parameter 'decay')\nActual value was 1.5.");

        // Flow matching.
        yield return Bad("rf training pair: times of the wrong length", (b, f, _) => b.FlowMatching.BuildTrainingPair(2, 3, f(6), f(6), f(3), f(6), f(6)), argument,
            "times has 3 elements; expected 2. (Parameter 'times')");
        yield return Bad("rf mse: loss of two elements", (b, f, _) => b.FlowMatching.MeanSquaredError(f(6), f(6), f(2), null), argument,
            "loss has 2 elements; expected 1. (Parameter 'loss')");
        yield return Bad("rf scaled error sum: y1 of another length", (b, f, _) => b.FlowMatching.ScaledSquaredErrorSum(f(6), f(6), f(5), 1e-3f, 1e-4f, f(1)), argument,
            "y1 has 5 elements; expected 6. (Parameter 'y1')");
    }

    private static AdamStepArgs Adam(FloatBuffer buffer, FloatBuffer secondMoments, long step) => new()
    {
        Parameters = buffer, Gradients = buffer, FirstMoments = buffer, SecondMoments = secondMoments,
        LearningRate = 1e-3, Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8, Step = step,
    };
}
