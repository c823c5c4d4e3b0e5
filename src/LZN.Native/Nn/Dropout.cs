using LZN.Native.Backends;

namespace LZN.Native.Nn;

/// <summary>
/// Inverted dropout over [batchSize, size]: while <see cref="Step"/> is set (training) each element is kept with
/// probability 1 - rate and scaled by 1 / (1 - rate), so evaluation (Step null) is the identity with no rescaling.
/// A step's mask is the Philox stream "stream.{name}" at counters [step * 2^32 + FirstRow * size, ... + batchSize * size):
/// it depends only on (seed, name, step, global row), so a resumed run draws the masks of an uninterrupted one, and a
/// rank holding rows [FirstRow, FirstRow + batchSize) of a batch draws the masks the whole batch would give those rows.
/// </summary>
public sealed class Dropout : Layer
{
    private readonly ulong _streamKey;
    private readonly Workspace _mask;
    private readonly Workspace _output;
    private readonly Workspace _inputGrad;
    private int _batchSize;
    private bool _masked;

    public Dropout(IBackend backend, string name, int size, float rate, ulong seed)
        : base(backend, name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (!(rate >= 0f && rate < 1f))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, $"dropout {name}: the rate must be in [0, 1).");
        InputSize = size;
        Rate = rate;
        _streamKey = Initialization.StreamKey(seed, $"stream.{name}");
        _mask = new Workspace(backend);
        _output = new Workspace(backend);
        _inputGrad = new Workspace(backend);
    }

    /// <summary>Probability of zeroing an element in training.</summary>
    public float Rate { get; }

    /// <summary>The training step that keys the mask; null (the default) evaluates, passing the input through.</summary>
    public long? Step { get; set; }

    /// <summary>The global row of the batch's first row (its rank's offset in a data-parallel batch; 0 otherwise).</summary>
    public int FirstRow { get; set; }

    public override int InputSize { get; }

    public override int OutputSize => InputSize;

    public override IEnumerable<Parameter> Parameters => [];

    public override FloatBuffer Forward(FloatBuffer input, int batchSize)
    {
        CheckInput(input, batchSize);
        if ((ulong)input.Length > uint.MaxValue)
            throw new ArgumentException($"dropout {Name}: {input.Length} elements exceed one step's 2^32 counters.", nameof(input));
        _batchSize = batchSize;
        var output = _output.Get(input.Length); // [batchSize, size]
        _masked = false;
        if (Step is not { } step || Rate == 0f)
        {
            Backend.Copy(input, output);
            return output;
        }
        if (step is < 0 or >= 1L << 32)
            throw new InvalidOperationException($"dropout {Name}: step {step} is outside [0, 2^32).");
        float keep = 1f - Rate;
        var mask = _mask.Get(input.Length); // [batchSize, size]: 0 or 1 / keep
        Backend.FillBernoulli(mask, _streamKey, ((ulong)step << 32) + checked((ulong)FirstRow * (ulong)InputSize), keep, 1f / keep);
        Backend.Multiply(input, mask, output);
        _masked = true;
        return output;
    }

    public override FloatBuffer Backward(FloatBuffer gradOutput)
    {
        CheckGradient(gradOutput, _batchSize, OutputSize, Name);
        var inputGrad = _inputGrad.Get(gradOutput.Length); // [batchSize, size]
        if (_masked)
            Backend.Multiply(gradOutput, _mask.Get(gradOutput.Length), inputGrad);
        else
            Backend.Copy(gradOutput, inputGrad);
        return inputGrad;
    }

    protected override void Dispose(bool disposing)
    {
        _mask.Dispose();
        _output.Dispose();
        _inputGrad.Dispose();
    }
}
