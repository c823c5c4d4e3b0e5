namespace LZN.Native.Training;

/// <summary>What the caller should do with an interrupt (Ctrl-C).</summary>
public enum InterruptAction
{
    /// <summary>Keep the process alive: <see cref="InterruptController.Token"/> is cancelled, so the current step finishes and a checkpoint is saved.</summary>
    StopAfterStep,

    /// <summary>Let the process terminate now, without saving (a second interrupt while the clean stop is under way).</summary>
    ExitNow,
}

/// <summary>
/// Counts interrupts of a training run: the first requests a clean stop through <see cref="Token"/>, any later one
/// tells the caller to let the process die (a stop that hangs, e.g. in a long evaluation, can still be forced).
/// The console wiring stays thin: cancel the event only for <see cref="InterruptAction.StopAfterStep"/>.
/// </summary>
public sealed class InterruptController : IDisposable
{
    /// <summary>Printed on the first interrupt.</summary>
    public const string StopNotice = "stopping after the current step and saving a checkpoint; press Ctrl-C again to exit immediately without saving";

    private readonly CancellationTokenSource _source = new();
    private int _interrupts;

    /// <summary>Cancelled by the first interrupt.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Interrupts received so far.</summary>
    public int Interrupts => Volatile.Read(ref _interrupts);

    /// <summary>Records one interrupt (thread-safe: the console raises them on its own thread) and says what to do.</summary>
    public InterruptAction Interrupt()
    {
        if (Interlocked.Increment(ref _interrupts) > 1)
            return InterruptAction.ExitNow;
        _source.Cancel();
        return InterruptAction.StopAfterStep;
    }

    public void Dispose() => _source.Dispose();
}
