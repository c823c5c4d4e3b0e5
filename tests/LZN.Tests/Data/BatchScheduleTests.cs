using LZN.Native.Data;

namespace LZN.Tests.Data;

public class BatchScheduleTests
{
    [Test]
    public void PermutationMatchesAnIndependentImplementationOfTheDocumentedAlgorithm()
    {
        // From a separate Python implementation of Philox4x32-10 and the Fisher-Yates loop in the doc comment.
        Assert.That(BatchSchedule.Permutation(10, seed: 42, epoch: 0), Is.EqualTo(new[] { 7, 0, 6, 2, 4, 8, 5, 9, 1, 3 }));
        Assert.That(BatchSchedule.Permutation(10, seed: 42, epoch: 1), Is.EqualTo(new[] { 3, 9, 0, 8, 7, 1, 2, 4, 5, 6 }));
        Assert.That(BatchSchedule.Permutation(12, seed: 7, epoch: 3), Is.EqualTo(new[] { 7, 0, 3, 4, 11, 10, 8, 1, 5, 2, 9, 6 }));
    }

    [Test]
    public void PermutationIsAPermutationAndDependsOnSeedAndEpoch()
    {
        int[] order = BatchSchedule.Permutation(1000, seed: 5, epoch: 2);

        Assert.That(order.Order(), Is.EqualTo(Enumerable.Range(0, 1000)));
        Assert.That(BatchSchedule.Permutation(1000, seed: 5, epoch: 2), Is.EqualTo(order));
        Assert.That(BatchSchedule.Permutation(1000, seed: 6, epoch: 2), Is.Not.EqualTo(order));
        Assert.That(BatchSchedule.Permutation(1000, seed: 5, epoch: 3), Is.Not.EqualTo(order));
    }

    [Test]
    public void EveryElementLandsEverywhereEquallyOften()
    {
        // 4000 shuffles of 8: each (element, position) cell expects 500; a biased swap (e.g. j drawn from [0, n))
        // skews cells by far more than the 5-sigma bound of about 110.
        const int count = 8, trials = 4000;
        var hits = new int[count, count];
        for (int trial = 0; trial < trials; trial++)
        {
            int[] order = BatchSchedule.Permutation(count, seed: 99, epoch: trial);
            for (int position = 0; position < count; position++)
                hits[order[position], position]++;
        }
        foreach (int cell in hits)
            Assert.That(cell, Is.InRange(390, 610));
    }

    [Test]
    public void BatchesCoverTheEpochAndDropTheShortTail()
    {
        var schedule = new BatchSchedule(count: 10, batchSize: 3, seed: 1);

        var batches = schedule.Batches(epoch: 0).ToList();

        Assert.That(schedule.BatchesPerEpoch, Is.EqualTo(3));
        Assert.That(batches, Has.Count.EqualTo(3).And.All.Length.EqualTo(3));
        Assert.That(batches.SelectMany(b => b), Is.EqualTo(BatchSchedule.Permutation(10, 1, 0)[..9]));
    }

    [Test]
    public void KeepingTheShortTailVisitsEveryImageOnce()
    {
        var schedule = new BatchSchedule(count: 10, batchSize: 4, seed: 1, dropLast: false);

        var batches = schedule.Batches(epoch: 5).ToList();

        Assert.That(batches.Select(b => b.Length), Is.EqualTo(new[] { 4, 4, 2 }));
        Assert.That(batches.SelectMany(b => b).Order(), Is.EqualTo(Enumerable.Range(0, 10)));
    }

    [Test]
    public void RefusesABatchLargerThanTheDatasetWhenDroppingShortBatches()
    {
        Assert.That(() => new BatchSchedule(count: 3, batchSize: 4, seed: 0), Throws.ArgumentException.With.Message.Contains("cannot fill one batch"));
    }
}
