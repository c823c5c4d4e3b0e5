using System.Buffers;
using System.Numerics.Tensors;
using static LZN.Native.Backends.ArgumentChecks;
using static LZN.Native.Backends.NnArgumentChecks;

namespace LZN.Native.Backends.Cpu;

/// <summary>
/// CPU mirror of kernels/nn.cu: im2col/col2im, layout transposes, upsampling, biases, embeddings and copies.
/// Work splits Parallel.For over independent planes or rows (each output element has one writer, so no
/// locks); inner runs use TensorPrimitives. The normalisations live in CpuNnKernels.Norms.cs.
/// </summary>
internal sealed partial class CpuNnKernels : INnKernels
{
    public void Im2Col(FloatBuffer input, int batchSize, in ConvGeometry geometry, FloatBuffer columns)
    {
        Convolution(columns, input, batchSize, geometry);
        var source = CpuBackend.Cast(input); // [batchSize, C, H, W]
        var target = CpuBackend.Cast(columns); // [C * k * k, batchSize * P]
        var g = geometry;
        int k = g.KernelSize, outH = g.OutputHeight, outW = g.OutputWidth, pixels = g.OutputPixels;
        long rowLength = (long)batchSize * pixels;
        // One work item per (column row, image): it writes one P-long run of its row.
        bool samePadding = IsSamePadding(g);
        For(g.ColumnRows * batchSize, pixels, item =>
        {
            int row = item / batchSize, n = item % batchSize;
            int c = row / (k * k), ki = row / k % k, kj = row % k;
            var plane = source.Span.Slice((n * g.Channels + c) * g.Height * g.Width, g.Height * g.Width);
            var run = target.Span.Slice((int)(row * rowLength + (long)n * pixels), pixels);
            if (samePadding)
            {
                ShiftedCopy(plane, run, g, ki, kj);
                return;
            }
            for (int oy = 0; oy < outH; oy++)
            {
                int y = oy * g.Stride + ki - g.Padding;
                var outRow = run.Slice(oy * outW, outW);
                if (y < 0 || y >= g.Height)
                {
                    outRow.Clear();
                    continue;
                }
                var inRow = plane.Slice(y * g.Width, g.Width);
                var (first, end) = ValidOutputs(kj, g.Stride, g.Padding, g.Width, outW);
                outRow[..first].Clear();
                outRow[end..].Clear();
                if (g.Stride == 1)
                {
                    inRow.Slice(first + kj - g.Padding, end - first).CopyTo(outRow[first..end]);
                    continue;
                }
                for (int ox = first; ox < end; ox++)
                    outRow[ox] = inRow[ox * g.Stride + kj - g.Padding];
            }
        });
    }

    public void Col2Im(FloatBuffer columns, int batchSize, in ConvGeometry geometry, FloatBuffer input)
    {
        Convolution(columns, input, batchSize, geometry);
        var source = CpuBackend.Cast(columns); // [C * k * k, batchSize * P]
        var target = CpuBackend.Cast(input); // [batchSize, C, H, W]
        var g = geometry;
        int k = g.KernelSize, outH = g.OutputHeight, outW = g.OutputWidth, pixels = g.OutputPixels;
        long rowLength = (long)batchSize * pixels;
        // One work item per input plane (n, c): it scatters the k * k column rows of channel c into its own plane.
        bool samePadding = IsSamePadding(g);
        For(batchSize * g.Channels, (long)k * k * pixels, item =>
        {
            int n = item / g.Channels, c = item % g.Channels;
            var plane = target.Span.Slice(item * g.Height * g.Width, g.Height * g.Width);
            plane.Clear();
            var masked = samePadding ? ArrayPool<float>.Shared.Rent(pixels) : null; // [P] a run with its wrapped columns zeroed
            for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++)
            {
                int row = (c * k + ki) * k + kj;
                var run = source.Span.Slice((int)(row * rowLength + (long)n * pixels), pixels);
                if (masked is not null)
                {
                    ShiftedAdd(run, plane, masked.AsSpan(0, pixels), g, ki, kj);
                    continue;
                }
                for (int oy = 0; oy < outH; oy++)
                {
                    int y = oy * g.Stride + ki - g.Padding;
                    if (y < 0 || y >= g.Height)
                        continue;
                    var inRow = plane.Slice(y * g.Width, g.Width);
                    var outRow = run.Slice(oy * outW, outW);
                    var (first, end) = ValidOutputs(kj, g.Stride, g.Padding, g.Width, outW);
                    if (g.Stride == 1)
                    {
                        var target = inRow.Slice(first + kj - g.Padding, end - first);
                        TensorPrimitives.Add(target, outRow[first..end], target);
                        continue;
                    }
                    for (int ox = first; ox < end; ox++)
                        inRow[ox * g.Stride + kj - g.Padding] += outRow[ox];
                }
            }
            if (masked is not null)
                ArrayPool<float>.Shared.Return(masked);
        });
    }

    public void TransposeLeadingAxes(FloatBuffer x, int outer, int middle, int inner, FloatBuffer y)
    {
        Transpose(x, outer, middle, inner, y);
        var source = CpuBackend.Cast(x); // [outer, middle, inner]
        var target = CpuBackend.Cast(y); // [middle, outer, inner]
        For(outer * middle, inner, item =>
        {
            int o = item / middle, m = item % middle;
            source.Span.Slice(item * inner, inner).CopyTo(target.Span.Slice((m * outer + o) * inner, inner));
        });
    }

    public void Upsample2x(FloatBuffer x, int planes, int height, int width, FloatBuffer y)
    {
        Upsample(x, planes, height, width, y);
        var source = CpuBackend.Cast(x); // [planes, height, width]
        var target = CpuBackend.Cast(y); // [planes, 2 height, 2 width]
        int outWidth = 2 * width;
        For(planes * height, outWidth * 2, item =>
        {
            var inRow = source.Span.Slice(item * width, width);
            var outRow = target.Span.Slice(2 * item * outWidth, outWidth);
            for (int j = 0; j < width; j++)
                outRow[2 * j] = outRow[2 * j + 1] = inRow[j];
            outRow.CopyTo(target.Span.Slice((2 * item + 1) * outWidth, outWidth));
        });
    }

    public void Upsample2xBackward(FloatBuffer dy, int planes, int height, int width, FloatBuffer dx)
    {
        Upsample(dx, planes, height, width, dy);
        var source = CpuBackend.Cast(dy); // [planes, 2 height, 2 width]
        var target = CpuBackend.Cast(dx); // [planes, height, width]
        int outWidth = 2 * width;
        For(planes * height, outWidth * 2, item =>
        {
            var top = source.Span.Slice(2 * item * outWidth, outWidth);
            var bottom = source.Span.Slice((2 * item + 1) * outWidth, outWidth);
            var inRow = target.Span.Slice(item * width, width);
            for (int j = 0; j < width; j++)
                inRow[j] = top[2 * j] + top[2 * j + 1] + bottom[2 * j] + bottom[2 * j + 1];
        });
    }

    public void AddChannelBias(FloatBuffer x, FloatBuffer bias, int batchSize, int channels, int spatial)
    {
        ChannelBias(x, bias, batchSize, channels, spatial);
        var values = CpuBackend.Cast(x); // [batchSize, channels, spatial]
        var vector = CpuBackend.Cast(bias); // [channels]
        For(batchSize * channels, spatial, item =>
        {
            var plane = values.Span.Slice(item * spatial, spatial);
            TensorPrimitives.Add(plane, vector.Span[item % channels], plane);
        });
    }

    public void ChannelBiasBackward(FloatBuffer dy, int batchSize, int channels, int spatial, FloatBuffer dbias)
    {
        ChannelBias(dy, dbias, batchSize, channels, spatial);
        var gradient = CpuBackend.Cast(dy); // [batchSize, channels, spatial]
        var result = CpuBackend.Cast(dbias); // [channels]
        For(channels, (long)batchSize * spatial, c =>
        {
            double sum = 0;
            for (int n = 0; n < batchSize; n++)
                sum += spatial == 1 ? gradient.Span[n * channels + c] : TensorPrimitives.Sum(gradient.Span.Slice((n * channels + c) * spatial, spatial));
            result.Span[c] += (float)sum;
        });
    }

    public void SinusoidalEmbedding(FloatBuffer times, int rows, int dim, float timeScale, float maxPeriod, FloatBuffer output)
    {
        Embedding(times, rows, dim, output);
        var t = CpuBackend.Cast(times); // [rows]
        var result = CpuBackend.Cast(output); // [rows, dim]
        int half = dim / 2;
        For(rows, dim * 8, r =>
        {
            var row = result.Span.Slice(r * dim, dim);
            float scaledTime = timeScale * t.Span[r];
            for (int i = 0; i < half; i++)
            {
                float argument = scaledTime * MathF.Exp(-MathF.Log(maxPeriod) * i / half);
                row[i] = MathF.Cos(argument);
                row[half + i] = MathF.Sin(argument);
            }
        });
    }

    public void CopyColumns(FloatBuffer source, int rows, int sourceColumns, int sourceOffset,
        FloatBuffer destination, int destinationColumns, int destinationOffset, int count)
    {
        NnArgumentChecks.CopyColumns(source, rows, sourceColumns, sourceOffset, destination, destinationColumns, destinationOffset, count);
        var from = CpuBackend.Cast(source); // [rows, sourceColumns]
        var to = CpuBackend.Cast(destination); // [rows, destinationColumns]
        For(rows, count, r => from.Span.Slice(r * sourceColumns + sourceOffset, count).CopyTo(to.Span.Slice(r * destinationColumns + destinationOffset, count)));
    }

    public void GatherRows(FloatBuffer source, int sourceRows, IntBuffer indices, int rows, int columns, FloatBuffer destination)
    {
        Gather(source, sourceRows, indices, rows, columns, destination);
        var from = CpuBackend.Cast(source); // [sourceRows, columns]
        var index = CpuBackend.Cast(indices); // [rows]
        var to = CpuBackend.Cast(destination); // [rows, columns]
        For(rows, columns, r =>
        {
            int sourceRow = index.Span[r];
            if ((uint)sourceRow >= (uint)sourceRows)
                throw new ArgumentOutOfRangeException(nameof(indices), $"indices[{r}] = {sourceRow} is outside [0, {sourceRows}).");
            from.Span.Slice(sourceRow * columns, columns).CopyTo(to.Span.Slice(r * columns, columns));
        });
    }

    public void OneHot(IntBuffer labels, int rows, int classes, FloatBuffer destination)
    {
        NnArgumentChecks.OneHot(labels, rows, classes, destination);
        var label = CpuBackend.Cast(labels).Span; // [rows]
        var to = CpuBackend.Cast(destination).Span; // [rows, classes]
        to.Clear();
        for (int r = 0; r < rows; r++)
        {
            if ((uint)label[r] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), $"labels[{r}] = {label[r]} is outside [0, {classes}).");
            to[r * classes + label[r]] = 1f;
        }
    }

    /// <summary>
    /// Stride 1 with "same" padding (output size = input size): a column run is then the flattened input plane
    /// shifted by (ki - padding) rows and (kj - padding) columns, so it moves as one block instead of row by row.
    /// </summary>
    private static bool IsSamePadding(in ConvGeometry g) =>
        g.Stride == 1 && g.OutputHeight == g.Height && g.OutputWidth == g.Width;

    /// <summary>
    /// The shifted block of a same-padding im2col run: run[j] = plane[j + shift] for the flattened positions j
    /// in [start, start + length) that lie in the valid output rows; the columns [0, first) and [end, W) of those
    /// rows are where the flat shift wraps across a row edge (they read zero padding).
    /// </summary>
    private static (int Start, int Length, int Shift, int First, int End, int FirstRow, int EndRow) ShiftedBlock(in ConvGeometry g, int ki, int kj)
    {
        int width = g.Width, rowShift = ki - g.Padding, columnShift = kj - g.Padding;
        int firstRow = Math.Max(0, -rowShift), endRow = Math.Min(g.Height, g.Height - rowShift);
        int first = Math.Max(0, -columnShift), end = Math.Min(width, width - columnShift);
        if (firstRow >= endRow || first >= end)
            return (0, 0, 0, 0, 0, 0, 0);
        int start = firstRow * width + first;
        return (start, (endRow - 1) * width + end - start, rowShift * width + columnShift, first, end, firstRow, endRow);
    }

    /// <summary>Same-padding im2col of one (column row, image) run: one block copy, then the padding zeros.</summary>
    private static void ShiftedCopy(ReadOnlySpan<float> plane, Span<float> run, in ConvGeometry g, int ki, int kj)
    {
        var (start, length, shift, first, end, firstRow, endRow) = ShiftedBlock(g, ki, kj);
        int width = g.Width;
        plane.Slice(start + shift, length).CopyTo(run.Slice(start, length));
        run[..(firstRow * width)].Clear();
        run[(endRow * width)..].Clear();
        for (int oy = firstRow; oy < endRow; oy++)
        {
            run.Slice(oy * width, first).Clear();
            run.Slice(oy * width + end, width - end).Clear();
        }
    }

    /// <summary>
    /// Same-padding col2im of one run into its plane: one block add. The wrapped columns must add nothing, so
    /// they are zeroed in a copy (<paramref name="masked"/>, [P]) unless the run has none.
    /// </summary>
    private static void ShiftedAdd(ReadOnlySpan<float> run, Span<float> plane, Span<float> masked, in ConvGeometry g, int ki, int kj)
    {
        var (start, length, shift, first, end, firstRow, endRow) = ShiftedBlock(g, ki, kj);
        if (length == 0)
            return;
        int width = g.Width;
        var block = run.Slice(start, length);
        if (first > 0 || end < width)
        {
            block.CopyTo(masked.Slice(start, length));
            for (int oy = firstRow; oy < endRow; oy++)
            {
                masked.Slice(oy * width, first).Clear();
                masked.Slice(oy * width + end, width - end).Clear();
            }
            block = masked.Slice(start, length);
        }
        var target = plane.Slice(start + shift, length);
        TensorPrimitives.Add(target, block, target);
    }

    /// <summary>
    /// The output columns [first, end) whose input column ox * stride + offset - padding lies in [0, size):
    /// outside them im2col reads zero padding.
    /// </summary>
    private static (int First, int End) ValidOutputs(int offset, int stride, int padding, int size, int outputSize)
    {
        int first = Math.Max(0, (padding - offset + stride - 1) / stride);
        int end = Math.Min(outputSize, (size + padding - offset + stride - 1) / stride);
        return (Math.Min(first, outputSize), Math.Max(end, Math.Min(first, outputSize)));
    }

    /// <summary>Runs body over [0, count), Parallel.For when the whole job (count x work per item) is large.</summary>
    private static void For(int count, long workPerItem, Action<int> body)
    {
        if (count == 1 || (long)count * workPerItem < CpuParallel.Threshold || Environment.ProcessorCount == 1)
        {
            for (int item = 0; item < count; item++)
                body(item);
            return;
        }
        Parallel.For(0, count, body);
    }
}
