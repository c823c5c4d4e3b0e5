using System.Diagnostics;
using LZN.Native.Backends;

namespace LZN.Native.Training;

/// <summary>
/// Splits a training step into named phases for `lzn bench train`: each <see cref="Mark"/> synchronises the
/// backend (so a GPU phase is charged to the phase that queued it) and adds the time since the previous mark
/// to that phase. The synchronisations cost a few launches' latency per step, so the phases add up to slightly
/// more than an unprofiled step; the benchmark reports both.
/// </summary>
public sealed class StepPhaseTimer
{
    private readonly IBackend _backend;
    private readonly Stopwatch _clock = new();
    private readonly Dictionary<string, double> _milliseconds = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];
    private double _lastMark;

    public StepPhaseTimer(IBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        _backend = backend;
    }

    /// <summary>Phase names in the order they were first marked.</summary>
    public IReadOnlyList<string> Phases => _order;

    /// <summary>Milliseconds charged to <paramref name="phase"/> since the last <see cref="Start"/>.</summary>
    public double Milliseconds(string phase) => _milliseconds.GetValueOrDefault(phase);

    /// <summary>Synchronises, clears every phase's time and starts the clock.</summary>
    public void Start()
    {
        _backend.Synchronize();
        foreach (string phase in _order)
            _milliseconds[phase] = 0;
        _clock.Restart();
        _lastMark = 0;
    }

    /// <summary>Ends <paramref name="phase"/>: synchronises and charges it the time since the previous mark.</summary>
    public void Mark(string phase)
    {
        _backend.Synchronize();
        double now = _clock.Elapsed.TotalMilliseconds;
        if (!_milliseconds.ContainsKey(phase))
            _order.Add(phase);
        _milliseconds[phase] = _milliseconds.GetValueOrDefault(phase) + (now - _lastMark);
        _lastMark = now;
    }
}
