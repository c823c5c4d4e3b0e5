using System.Numerics.Tensors;

namespace LZN.Native.Backends.Cpu;

/// <summary>
/// The CPU zone step and its backward over the nonzero probabilities only. At small t (large c/t^2) the softmax
/// underflows to exactly 0 everywhere but at the nearest anchor or few: of 20 Euler steps from t = 1e-4 at
/// B = N = 2048, d = 256, 12 have one nonzero p per row and the rest are dense (at B = N = 1024, d = 64: 8 and 12).
/// There the GEMMs would multiply zeros; these sums skip them, which changes nothing but the order of the
/// nonzero terms (a one-hot row gives the GEMM's result bit for bit).
/// </summary>
internal static class CpuZoneSparse
{
    /// <summary>
    /// Whether a tile is cheaper row by row over its nonzero p than by GEMMs. Scanning a row costs about cols/8
    /// vector compares and each nonzero about dim/8 vector FMAs, against cols dim/8 for a GEMM row; at 1 in 8 or
    /// fewer nonzero the scan wins with margin for the gathered anchor rows' cache misses.
    /// </summary>
    public static bool IsSparse(int[] nonzeros, int rows, int cols)
    {
        long total = 0;
        for (int r = 0; r < rows; r++)
            total += nonzeros[r];
        return total * 8 <= (long)rows * cols;
    }

    /// <summary>mean[rows, dim] = P A over the nonzero p of probabilities [rows, cols].</summary>
    public static void WeightedMean(CpuFloatBuffer probabilities, CpuFloatBuffer anchors, int rows, int cols, int dim, CpuFloatBuffer mean)
    {
        CpuZoneRows.ForEach(rows, cols, r =>
        {
            var pRow = probabilities.Array.AsSpan(probabilities.Offset + r * cols, cols);
            var meanRow = mean.Array.AsSpan(mean.Offset + r * dim, dim);
            meanRow.Clear();
            for (int j = CpuSoftmaxMath.NextNonzero(pRow, 0); j < cols; j = CpuSoftmaxMath.NextNonzero(pRow, j + 1))
                TensorPrimitives.MultiplyAdd(anchors.Array.AsSpan(anchors.Offset + j * dim, dim), pRow[j], meanRow, meanRow);
        });
    }

    /// <summary>
    /// The backward of one row tile from its probabilities, the same formulas as the dense path of
    /// <see cref="CpuZoneKernels.StepBackward"/> restricted to the entries where p or the target makes ds nonzero:
    /// g.a_j and D_i = sum_j p_ij (g_i.a_j) from the same products, ds_ij = -(p_ij/t)(g_i.a_j - D_i) + beta_i (delta - p_ij),
    /// dx_i += g_i/t (done by the caller) + (c/t^2) sum_j ds_ij a_j, dA_j += -(1/t)(p_ij - S_ij) g_i + (c/t^2) ds_ij x_i,
    /// columnSums_j += ds_ij. The per-row part runs in parallel; the scatter into dA and the column sums runs in row
    /// order, so results do not depend on the thread count.
    /// </summary>
    public static void TileBackward(in SparseTileBackward tile, int[] nonzeros)
    {
        int rows = tile.Rows, cols = tile.AnchorCount, dim = tile.Dim;
        // Row r's entries are [first[r], first[r] + used[r]): its nonzero p, then its target when p there is 0.
        var first = new int[rows + 1]; // [rows + 1]
        for (int r = 0; r < rows; r++)
            first[r + 1] = first[r] + nonzeros[r] + (tile.Targets is null ? 0 : 1);
        var used = new int[rows]; // [rows]
        var columns = new int[first[rows]]; // [entries]
        var probabilities = new float[first[rows]]; // [entries]
        var logitGrads = new float[first[rows]]; // [entries] ds
        var selfPresent = new bool[rows]; // [rows] whether the self column is among the row's entries
        var local = tile;

        CpuZoneRows.ForEach(rows, cols + (long)first[rows] / rows * dim, r => RowBackward(local, r, first[r], columns, probabilities, logitGrads, used, selfPresent));

        var points = tile.Points;
        var velocityGrad = tile.VelocityGrad;
        for (int r = 0; r < rows; r++)
        {
            var x = points.Array.AsSpan(points.Offset + r * dim, dim);
            var g = velocityGrad is null ? default : velocityGrad.Array.AsSpan(velocityGrad.Offset + r * dim, dim);
            int self = tile.SelfColumn is int selfColumn ? selfColumn + r : -1;
            for (int e = first[r]; e < first[r] + used[r]; e++)
            {
                int j = columns[e];
                tile.ColumnSums[j] += logitGrads[e];
                if (tile.AnchorsGrad is null)
                    continue;
                var anchorGrad = tile.AnchorsGrad.Array.AsSpan(tile.AnchorsGrad.Offset + j * dim, dim);
                if (velocityGrad is not null)
                    TensorPrimitives.MultiplyAdd(g, -tile.InverseTime * (probabilities[e] - (j == self ? 1f : 0f)), anchorGrad, anchorGrad);
                TensorPrimitives.MultiplyAdd(x, tile.Cross * logitGrads[e], anchorGrad, anchorGrad);
            }
            // (P - S) at a self column where p is 0: -(1/t)(0 - 1) g_i.
            if (self >= 0 && !selfPresent[r] && velocityGrad is not null && tile.AnchorsGrad is not null)
            {
                var anchorGrad = tile.AnchorsGrad.Array.AsSpan(tile.AnchorsGrad.Offset + self * dim, dim);
                TensorPrimitives.MultiplyAdd(g, tile.InverseTime, anchorGrad, anchorGrad);
            }
        }
    }

    /// <summary>Row r's entries, their ds, and its dx (and, with self anchors, its own anchor's logit path).</summary>
    private static void RowBackward(in SparseTileBackward tile, int r, int start, int[] columns, float[] probabilities, float[] logitGrads,
        int[] used, bool[] selfPresent)
    {
        int cols = tile.AnchorCount, dim = tile.Dim;
        var pRow = tile.Probabilities.Array.AsSpan(tile.Probabilities.Offset + r * cols, cols);
        var anchors = tile.Anchors;
        int self = tile.SelfColumn is int selfColumn ? selfColumn + r : -1;
        int count = 0;
        for (int j = CpuSoftmaxMath.NextNonzero(pRow, 0); j < cols; j = CpuSoftmaxMath.NextNonzero(pRow, j + 1))
        {
            columns[start + count] = j;
            probabilities[start + count] = pRow[j];
            selfPresent[r] |= j == self;
            count++;
        }
        var entries = columns.AsSpan(start, count);
        var p = probabilities.AsSpan(start, count);
        var ds = logitGrads.AsSpan(start, count);
        if (tile.VelocityGrad is { } velocityGrad)
        {
            var g = velocityGrad.Array.AsSpan(velocityGrad.Offset + r * dim, dim);
            float rowDot = 0f;
            for (int e = 0; e < count; e++)
            {
                ds[e] = TensorPrimitives.Dot(g, anchors.Array.AsSpan(anchors.Offset + entries[e] * dim, dim));
                rowDot += p[e] * ds[e];
            }
            for (int e = 0; e < count; e++)
                ds[e] = (ds[e] - rowDot) * p[e] * -tile.InverseTime;
        }
        else
        {
            ds.Clear();
        }
        if (tile.Targets is { } targets)
        {
            float beta = targets.PerRow.Array[targets.PerRow.Offset + r];
            int target = targets.Targets[targets.Offset + r];
            int at = entries.IndexOf(target);
            for (int e = 0; e < count; e++)
                ds[e] += p[e] * -beta;
            if (at >= 0)
            {
                ds[at] += beta;
            }
            else
            {
                columns[start + count] = target;
                selfPresent[r] |= target == self;
                probabilities[start + count] = 0f;
                logitGrads[start + count] = beta;
                count++;
            }
        }
        used[r] = count;

        // e_i = (c/t^2) sum_j ds_ij a_j: dx_i += e_i; with self anchors also dA_{s+i} += (1 - t) e_i.
        Span<float> logitPath = dim <= 1024 ? stackalloc float[dim] : new float[dim];
        logitPath.Clear();
        for (int e = 0; e < count; e++)
            TensorPrimitives.MultiplyAdd(anchors.Array.AsSpan(anchors.Offset + columns[start + e] * dim, dim), logitGrads[start + e], logitPath, logitPath);
        TensorPrimitives.Multiply(logitPath, tile.Cross, logitPath);
        var pointsGrad = tile.PointsGrad.Array.AsSpan(tile.PointsGrad.Offset + r * dim, dim);
        TensorPrimitives.Add(pointsGrad, logitPath, pointsGrad);
        if (self >= 0)
        {
            var selfGrad = tile.AnchorsGrad!.Array.AsSpan(tile.AnchorsGrad.Offset + self * dim, dim);
            TensorPrimitives.MultiplyAdd(logitPath, tile.OneMinusTime, selfGrad, selfGrad);
        }
    }
}

/// <summary>One row tile of <see cref="CpuZoneSparse.TileBackward"/>: buffers of the tile's rows, whole anchor-side ones.</summary>
internal readonly record struct SparseTileBackward
{
    public required int Rows { get; init; }
    public required int AnchorCount { get; init; }
    public required int Dim { get; init; }
    public required float InverseTime { get; init; }
    /// <summary>c/t^2.</summary>
    public required float Cross { get; init; }
    /// <summary>1 - t, in float as the dense path's Axpby takes it.</summary>
    public required float OneMinusTime { get; init; }
    public required CpuFloatBuffer Probabilities { get; init; } // [Rows, AnchorCount]
    public required CpuFloatBuffer Anchors { get; init; } // [AnchorCount, Dim]
    public required CpuFloatBuffer Points { get; init; } // [Rows, Dim]
    public CpuFloatBuffer? VelocityGrad { get; init; } // [Rows, Dim]
    public required CpuFloatBuffer PointsGrad { get; init; } // [Rows, Dim]
    public CpuFloatBuffer? AnchorsGrad { get; init; } // [AnchorCount, Dim]
    /// <summary>sum_i ds_ij [AnchorCount], accumulated in double across tiles.</summary>
    public required double[] ColumnSums { get; init; }
    public RowTargets? Targets { get; init; }
    /// <summary>The anchor column of the tile's first row when rows are their own anchors (SelfAnchorOffset + tile start).</summary>
    public int? SelfColumn { get; init; }
}
