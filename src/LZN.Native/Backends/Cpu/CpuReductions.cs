using System.Numerics.Tensors;

namespace LZN.Native.Backends.Cpu;

/// <summary>
/// Reductions and row softmax. Sums are blocked: each block of <see cref="SumBlock"/> floats is reduced
/// with SIMD in float (error ~ a few ulp of the block), and the block sums are added in double, so
/// long sums stay accurate without giving up vector speed.
/// </summary>
public sealed partial class CpuBackend
{
    private const int SumBlock = 1024;

    /// <summary>Rows per float partial in <see cref="ColumnSums"/> before it is folded into the double total.</summary>
    private const int ColumnSumRowBlock = 32;

    public void Sum(FloatBuffer x, FloatBuffer result)
    {
        ArgumentChecks.Scalar(result, nameof(result));
        Cast(result).Span[0] = (float)ParallelBlockedSum(Cast(x), squares: false);
    }

    public void SumOfSquares(FloatBuffer x, FloatBuffer result)
    {
        ArgumentChecks.Scalar(result, nameof(result));
        Cast(result).Span[0] = (float)ParallelBlockedSum(Cast(x), squares: true);
    }

    public void ColumnSums(FloatBuffer x, int rows, int cols, FloatBuffer result)
    {
        ArgumentChecks.Matrix(x, rows, cols, nameof(x));
        ArgumentChecks.Length(result, cols, nameof(result));
        var cx = Cast(x); // [rows, cols]
        var cr = Cast(result); // [cols]
        // Parallel over column stripes (each thread owns its outputs); within a stripe, rows are added
        // as vectors into a float partial that is folded into double every few rows.
        if (cols == 0)
            return;
        int stripes = (long)rows * cols >= CpuParallel.Threshold ? Math.Clamp(cols / 64, 1, 4 * Environment.ProcessorCount) : 1;
        int stripeWidth = (cols + stripes - 1) / stripes;
        stripes = (cols + stripeWidth - 1) / stripeWidth;
        void Stripe(int stripe)
        {
            int firstCol = stripe * stripeWidth;
            int width = Math.Min(stripeWidth, cols - firstCol);
            var partial = new float[width]; // [width] float sum of up to ColumnSumRowBlock rows
            var total = new double[width]; // [width]
            var source = cx.Span;
            for (int firstRow = 0; firstRow < rows; firstRow += ColumnSumRowBlock)
            {
                Array.Clear(partial);
                int lastRow = Math.Min(rows, firstRow + ColumnSumRowBlock);
                for (int row = firstRow; row < lastRow; row++)
                    TensorPrimitives.Add(partial, source.Slice(row * cols + firstCol, width), partial);
                for (int col = 0; col < width; col++)
                    total[col] += partial[col];
            }
            var destination = cr.Span.Slice(firstCol, width);
            for (int col = 0; col < width; col++)
                destination[col] = (float)total[col];
        }
        if (stripes == 1)
            Stripe(0);
        else
            Parallel.For(0, stripes, Stripe);
    }

    public void RowSums(FloatBuffer x, int rows, int cols, FloatBuffer result)
    {
        ArgumentChecks.Matrix(x, rows, cols, nameof(x));
        ArgumentChecks.Length(result, rows, nameof(result));
        var cx = Cast(x); // [rows, cols]
        var cr = Cast(result); // [rows]
        CpuParallel.ForRows(rows, cols, (firstRow, rowCount) =>
        {
            for (int row = firstRow; row < firstRow + rowCount; row++)
                cr.Span[row] = (float)BlockedSum(cx.Span.Slice(row * cols, cols), squares: false);
        });
    }

    public void SoftmaxRows(FloatBuffer x, int rows, int cols, FloatBuffer y)
    {
        ArgumentChecks.Matrix(x, rows, cols, nameof(x));
        ArgumentChecks.Length(y, x.Length, nameof(y));
        if (cols == 0)
            return;
        var cx = Cast(x); // [rows, cols]
        var cy = Cast(y); // [rows, cols]
        CpuParallel.ForRows(rows, cols, (firstRow, rowCount) =>
        {
            for (int row = firstRow; row < firstRow + rowCount; row++)
            {
                var input = cx.Span.Slice(row * cols, cols);
                var output = cy.Span.Slice(row * cols, cols);
                // Subtracting the row max keeps exp from overflowing; the largest term becomes exp(0) = 1.
                float max = TensorPrimitives.Max(input);
                TensorPrimitives.Subtract(input, max, output);
                TensorPrimitives.Exp(output, output);
                double sum = BlockedSum(output, squares: false);
                TensorPrimitives.Multiply(output, (float)(1.0 / sum), output);
            }
        });
    }

    /// <summary>Sum (or sum of squares) of a whole buffer: parallel over chunks, each blocked, totals in double.</summary>
    private static double ParallelBlockedSum(CpuFloatBuffer x, bool squares)
    {
        int length = (int)x.Length;
        if (length < CpuParallel.Threshold || Environment.ProcessorCount == 1)
            return BlockedSum(x.Span, squares);
        int chunk = Math.Max(CpuParallel.Threshold / 4, length / (4 * Environment.ProcessorCount));
        int chunks = (length + chunk - 1) / chunk;
        var partials = new double[chunks]; // [chunks]
        Parallel.For(0, chunks, index =>
        {
            int start = index * chunk;
            partials[index] = BlockedSum(x.Span.Slice(start, Math.Min(chunk, length - start)), squares);
        });
        double total = 0;
        foreach (double partial in partials)
            total += partial;
        return total;
    }

    private static double BlockedSum(ReadOnlySpan<float> values, bool squares)
    {
        double total = 0;
        for (int start = 0; start < values.Length; start += SumBlock)
        {
            var block = values.Slice(start, Math.Min(SumBlock, values.Length - start));
            total += squares ? TensorPrimitives.SumOfSquares(block) : TensorPrimitives.Sum(block);
        }
        return total;
    }
}
