using System.Numerics.Tensors;

namespace LZN.Native.Backends.Cpu;

/// <summary>
/// CPU mirror of kernels/flow_matching.cu. Reductions run over fixed chunks (in parallel when long), each
/// chunk in L1-sized SIMD tiles summed in float and folded into a double; the chunk sums are added in order,
/// so results do not depend on the thread count.
/// </summary>
internal sealed class CpuFlowMatchingKernels : IFlowMatchingKernels
{
    /// <summary>Elements per reduction chunk (one Parallel.For work item).</summary>
    private const int Chunk = 1 << 16;

    /// <summary>Elements per SIMD tile within a chunk: two stack scratch tiles of 4 KiB.</summary>
    private const int Tile = 1024;

    public void BuildTrainingPair(int rows, int rowLength, FloatBuffer data, FloatBuffer noise, FloatBuffer times,
        FloatBuffer noisy, FloatBuffer target)
    {
        ArgumentChecks.TrainingPair(rows, rowLength, data, noise, times, noisy, target);
        var x1 = CpuBackend.Cast(data); // [rows, rowLength]
        var x0 = CpuBackend.Cast(noise); // [rows, rowLength]
        var t = CpuBackend.Cast(times); // [rows]
        var xt = CpuBackend.Cast(noisy); // [rows, rowLength]
        var velocity = CpuBackend.Cast(target); // [rows, rowLength]
        CpuParallel.ForRows(rows, rowLength, (firstRow, rowCount) =>
        {
            for (int row = firstRow; row < firstRow + rowCount; row++)
            {
                int offset = row * rowLength;
                var difference = velocity.Span.Slice(offset, rowLength);
                var start = x0.Span.Slice(offset, rowLength);
                TensorPrimitives.Subtract(x1.Span.Slice(offset, rowLength), start, difference);
                // t x1 + (1 - t) x0 as x0 + t (x1 - x0): one FMA per element, the CUDA kernel's order.
                TensorPrimitives.MultiplyAdd(difference, t.Span[row], start, xt.Span.Slice(offset, rowLength));
            }
        });
    }

    public void MeanSquaredError(FloatBuffer prediction, FloatBuffer target, FloatBuffer loss, FloatBuffer? predictionGrad, float lossScale = 1f)
    {
        ArgumentChecks.MeanSquaredError(prediction, target, loss, predictionGrad);
        long n = prediction.Length;
        var pred = CpuBackend.Cast(prediction); // [n]
        var goal = CpuBackend.Cast(target); // [n]
        var grad = predictionGrad is null ? null : CpuBackend.Cast(predictionGrad); // [n]
        float gradScale = n == 0 ? 0f : (float)(2.0 * lossScale / n);
        double sum = ChunkedSum((int)n, (start, count) =>
        {
            Span<float> difference = stackalloc float[Tile];
            double total = 0;
            for (int offset = start; offset < start + count; offset += Tile)
            {
                int length = Math.Min(Tile, start + count - offset);
                var d = difference[..length];
                TensorPrimitives.Subtract(pred.Span.Slice(offset, length), goal.Span.Slice(offset, length), d);
                total += TensorPrimitives.SumOfSquares<float>(d);
                if (grad is not null)
                    TensorPrimitives.Multiply(d, gradScale, grad.Span.Slice(offset, length));
            }
            return total;
        });
        CpuBackend.Cast(loss).Span[0] = n == 0 ? 0f : (float)(sum / n);
    }

    public void ScaledSquaredErrorSum(FloatBuffer error, FloatBuffer y0, FloatBuffer y1, float relativeTolerance,
        float absoluteTolerance, FloatBuffer result)
    {
        ArgumentChecks.ScaledErrorSum(error, y0, y1, result);
        long n = error.Length;
        var e = CpuBackend.Cast(error); // [n]
        var a = CpuBackend.Cast(y0); // [n]
        var b = CpuBackend.Cast(y1); // [n]
        CpuBackend.Cast(result).Span[0] = (float)ChunkedSum((int)n, (start, count) =>
        {
            Span<float> scratch = stackalloc float[2 * Tile];
            double total = 0;
            for (int offset = start; offset < start + count; offset += Tile)
            {
                int length = Math.Min(Tile, start + count - offset);
                var scale = scratch[..length];
                var other = scratch.Slice(Tile, length);
                TensorPrimitives.Abs(a.Span.Slice(offset, length), scale);
                TensorPrimitives.Abs(b.Span.Slice(offset, length), other);
                TensorPrimitives.Max(scale, other, scale);
                TensorPrimitives.Multiply(scale, relativeTolerance, scale);
                TensorPrimitives.Add(scale, absoluteTolerance, scale);
                TensorPrimitives.Divide(e.Span.Slice(offset, length), scale, scale);
                total += TensorPrimitives.SumOfSquares<float>(scale);
            }
            return total;
        });
    }

    /// <summary>Sum of chunkSum(start, count) over fixed chunks of [0, length), added in chunk order.</summary>
    private static double ChunkedSum(int length, Func<int, int, double> chunkSum)
    {
        int chunks = (length + Chunk - 1) / Chunk;
        if (chunks <= 1)
            return chunkSum(0, length);
        var partials = new double[chunks];
        Parallel.For(0, chunks, index => partials[index] = chunkSum(index * Chunk, Math.Min(Chunk, length - index * Chunk)));
        double total = 0;
        foreach (double partial in partials)
            total += partial;
        return total;
    }
}
