using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>Ctrl-C handling of `lzn train`: the first interrupt stops cleanly, a second one exits at once.</summary>
public class InterruptControllerTests
{
    [Test]
    public void TheFirstInterruptCancelsTheTokenAndKeepsTheProcessAlive()
    {
        using var interrupts = new InterruptController();
        Assert.That(interrupts.Token.IsCancellationRequested, Is.False);
        Assert.That(interrupts.Interrupts, Is.Zero);

        Assert.That(interrupts.Interrupt(), Is.EqualTo(InterruptAction.StopAfterStep));

        Assert.That(interrupts.Token.IsCancellationRequested, Is.True);
        Assert.That(interrupts.Interrupts, Is.EqualTo(1));
    }

    [Test]
    public void EveryLaterInterruptExitsAtOnce()
    {
        using var interrupts = new InterruptController();
        interrupts.Interrupt();

        Assert.That(interrupts.Interrupt(), Is.EqualTo(InterruptAction.ExitNow));
        Assert.That(interrupts.Interrupt(), Is.EqualTo(InterruptAction.ExitNow));
        Assert.That(interrupts.Interrupts, Is.EqualTo(3));
        Assert.That(interrupts.Token.IsCancellationRequested, Is.True);
    }

    [Test]
    public void InterruptsRacingOnManyThreadsStopCleanlyExactlyOnce()
    {
        using var interrupts = new InterruptController();
        const int count = 64;
        using var start = new Barrier(count);
        var actions = new InterruptAction[count];
        var threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            actions[i] = interrupts.Interrupt();
        })).ToList();
        threads.ForEach(thread => thread.Start());
        threads.ForEach(thread => thread.Join());

        Assert.That(actions.Count(action => action == InterruptAction.StopAfterStep), Is.EqualTo(1));
        Assert.That(interrupts.Interrupts, Is.EqualTo(count));
    }

    [Test]
    public void TheNoticeIsOneLineThatSaysASecondCtrlCExitsWithoutSaving()
    {
        Assert.That(InterruptController.StopNotice, Does.Not.Contain('\n'));
        Assert.That(InterruptController.StopNotice, Does.Contain("Ctrl-C again").And.Contain("without saving"));
    }
}
