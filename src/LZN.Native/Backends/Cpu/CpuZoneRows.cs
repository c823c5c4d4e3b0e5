using System.Numerics.Tensors;

namespace LZN.Native.Backends.Cpu;

/// <summary>The row-wise SIMD parts of the CPU zone kernels (softmax, its backward, the Euler update).</summary>
internal static class CpuZoneRows
{
    /// <summary>Below this many elements of work a single thread beats the Parallel.For hand-off.</summary>
    private const long ParallelThreshold = 1 << 15;

    /// <summary>body(i) for i in [0, count): Parallel.For when the work is large enough, else a plain loop.</summary>
    internal static void ForEach(int count, long workPerItem, Action<int> body)
    {
        if (count > 1 && count * workPerItem >= ParallelThreshold)
        {
            Parallel.For(0, count, body);
            return;
        }
        for (int i = 0; i < count; i++)
            body(i);
    }

    /// <summary>
    /// logits[rows, cols] (holding (c/t^2) x.a) += bias, then row softmax in place; writes lse[rows] and,
    /// when asked, log p(i -> target_i) = (logit_tgt - max) - log(sum); nonzeros[r] counts row r's nonzero p.
    /// </summary>
    public static void SoftmaxRows(CpuFloatBuffer logits, float[] bias, int rows, int cols, CpuFloatBuffer lse, RowTargets? targets, int[] nonzeros)
    {
        float[] values = logits.Array;
        int offset = logits.Offset;
        ForEach(rows, cols, r =>
        {
            var row = values.AsSpan(offset + r * cols, cols);
            float max = CpuSoftmaxMath.AddAndMax(row, bias);
            float targetShifted = targets is null ? 0f : row[targets.Targets[targets.Offset + r]] - max;
            float sum = CpuSoftmaxMath.ExpAndSum(row, default, max);
            float logSum = MathF.Log(sum);
            nonzeros[r] = CpuSoftmaxMath.ScaleAndCountNonzero(row, 1f / sum);
            lse.Array[lse.Offset + r] = max + logSum;
            if (targets is not null)
                targets.PerRow.Array[targets.PerRow.Offset + r] = targetShifted - logSum;
        });
    }

    /// <summary>
    /// logits[rows, cols] (holding (c/t^2) x.a) becomes p = exp(logit + bias - lse) in place, renormalised to
    /// sum exactly as the forward's p did (nonzeros[r] counts row r's nonzero p): a one-hot row (small t) must come
    /// back as exactly 1 and 0, since the backward multiplies any residue by 1/t^3 (lse = max + log(sum) need not
    /// round back to max).
    /// </summary>
    public static void RecomputeProbabilities(CpuFloatBuffer logits, float[] bias, int rows, int cols, CpuFloatBuffer lse, int[] nonzeros)
    {
        float[] values = logits.Array;
        int offset = logits.Offset;
        ForEach(rows, cols, r =>
        {
            var row = values.AsSpan(offset + r * cols, cols);
            float sum = CpuSoftmaxMath.ExpAndSum(row, bias, lse.Array[lse.Offset + r]);
            nonzeros[r] = CpuSoftmaxMath.ScaleAndCountNonzero(row, 1f / sum);
        });
    }

    /// <summary>p[r, firstColumn + r] -= 1 for each row (P - S); returns the overwritten values for <see cref="RestoreSelf"/>.</summary>
    public static float[] SubtractSelf(CpuFloatBuffer probabilities, int rows, int cols, int firstColumn)
    {
        var span = probabilities.Span;
        var saved = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            ref float value = ref span[r * cols + firstColumn + r];
            saved[r] = value;
            value -= 1f;
        }
        return saved;
    }

    /// <summary>Puts back the probabilities <see cref="SubtractSelf"/> changed, bit for bit.</summary>
    public static void RestoreSelf(CpuFloatBuffer probabilities, int rows, int cols, int firstColumn, float[] saved)
    {
        var span = probabilities.Span;
        for (int r = 0; r < rows; r++)
            span[r * cols + firstColumn + r] = saved[r];
    }

    /// <summary>dots[r] = a_r . b_r for a, b [rows, cols].</summary>
    public static float[] RowDots(CpuFloatBuffer a, CpuFloatBuffer b, int rows, int cols)
    {
        var dots = new float[rows];
        ForEach(rows, cols, r => dots[r] = TensorPrimitives.Dot(a.Array.AsSpan(a.Offset + r * cols, cols), b.Array.AsSpan(b.Offset + r * cols, cols)));
        return dots;
    }

    /// <summary>
    /// ds = dL/dlogit in place of gradDotAnchors [rows, cols] (holding g.a_j):
    /// ds_ij = -(p_ij/t)(g_i.a_j - g_i.m_i) when a velocity gradient flows (rowDots = g_i.m_i),
    /// plus beta_i (delta_{j,tgt} - p_ij) for a target log-probability loss.
    /// </summary>
    public static void LogitGradient(CpuFloatBuffer probabilities, CpuFloatBuffer gradDotAnchors, float[]? rowDots, RowTargets? targets,
        int rows, int cols, float inverseTime)
    {
        float[] p = probabilities.Array, ds = gradDotAnchors.Array;
        int pOffset = probabilities.Offset, dsOffset = gradDotAnchors.Offset;
        ForEach(rows, cols, r =>
        {
            var pRow = p.AsSpan(pOffset + r * cols, cols);
            var dsRow = ds.AsSpan(dsOffset + r * cols, cols);
            if (rowDots is null)
            {
                dsRow.Clear();
            }
            else
            {
                TensorPrimitives.Subtract(dsRow, rowDots[r], dsRow);
                TensorPrimitives.Multiply(dsRow, pRow, dsRow);
                TensorPrimitives.Multiply(dsRow, -inverseTime, dsRow);
            }
            if (targets is not null)
            {
                float beta = targets.PerRow.Array[targets.PerRow.Offset + r];
                TensorPrimitives.MultiplyAdd(pRow, -beta, dsRow, dsRow);
                dsRow[targets.Targets[targets.Offset + r]] += beta;
            }
        });
    }

    /// <summary>sums[j] += sum over rows of x[rows, cols] (fp32 within a tile, double across tiles), by column blocks.</summary>
    public static void AccumulateColumnSums(CpuFloatBuffer x, int rows, int cols, double[] sums)
    {
        const int block = 512;
        int blocks = (cols + block - 1) / block;
        ForEach(blocks, (long)rows * block, b =>
        {
            int first = b * block, width = Math.Min(block, cols - first);
            Span<float> blockSums = stackalloc float[width];
            blockSums.Clear();
            for (int r = 0; r < rows; r++)
                TensorPrimitives.Add(x.Array.AsSpan(x.Offset + r * cols + first, width), blockSums, blockSums);
            for (int j = 0; j < width; j++)
                sums[first + j] += blockSums[j];
        });
    }

    /// <summary>y_j += (scale * weights_j) x_j for rows x, y [rows, cols].</summary>
    public static void AddScaledRows(CpuFloatBuffer x, double[] weights, double scale, CpuFloatBuffer y, int rows, int cols)
    {
        for (int j = 0; j < rows; j++)
        {
            var yRow = y.Span.Slice(j * cols, cols);
            TensorPrimitives.MultiplyAdd(x.Span.Slice(j * cols, cols), (float)(scale * weights[j]), yRow, yRow);
        }
    }

    /// <summary>next = x + stepOverTime (x - m), i.e. x + h v with v = (x - m)/t.</summary>
    public static void EulerUpdate(CpuFloatBuffer points, CpuFloatBuffer mean, CpuFloatBuffer next, float stepOverTime)
    {
        var nextSpan = next.Span;
        TensorPrimitives.Subtract(points.Span, mean.Span, nextSpan);
        TensorPrimitives.MultiplyAdd(nextSpan, stepOverTime, points.Span, nextSpan);
    }
}
