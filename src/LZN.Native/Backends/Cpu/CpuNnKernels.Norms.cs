using System.Numerics;
using System.Numerics.Tensors;
using static LZN.Native.Backends.ArgumentChecks;
using static LZN.Native.Backends.NnArgumentChecks;

namespace LZN.Native.Backends.Cpu;

// Layer and group normalisation. Statistics accumulate in double (two passes: mean, then squared
// deviations; SIMD over floats widened to double lanes), so they match the float64 oracle to float
// rounding; the per-element passes are TensorPrimitives multiply-adds with per-channel coefficients.
internal sealed partial class CpuNnKernels
{
    public void LayerNormForward(FloatBuffer x, FloatBuffer gamma, FloatBuffer beta, int rows, int dim, float epsilon,
        FloatBuffer y, FloatBuffer mean, FloatBuffer rstd)
    {
        LayerNorm(x, gamma, mean, rstd, y, rows, dim);
        Length(beta, dim, nameof(beta));
        var input = CpuBackend.Cast(x); // [rows, dim]
        var output = CpuBackend.Cast(y); // [rows, dim]
        var scale = CpuBackend.Cast(gamma); // [dim]
        var shift = CpuBackend.Cast(beta); // [dim]
        var means = CpuBackend.Cast(mean); // [rows]
        var rstds = CpuBackend.Cast(rstd); // [rows]
        For(rows, dim * 4L, r =>
        {
            var row = input.Span.Slice(r * dim, dim);
            var (rowMean, rowRstd) = Statistics(row, epsilon);
            means.Span[r] = rowMean;
            rstds.Span[r] = rowRstd;
            var outRow = output.Span.Slice(r * dim, dim);
            TensorPrimitives.Subtract(row, rowMean, outRow);
            TensorPrimitives.Multiply(outRow, rowRstd, outRow);
            TensorPrimitives.MultiplyAdd(outRow, scale.Span, shift.Span, outRow);
        });
    }

    public void LayerNormBackward(FloatBuffer x, FloatBuffer gamma, FloatBuffer mean, FloatBuffer rstd, FloatBuffer dy,
        int rows, int dim, FloatBuffer dx, FloatBuffer dgamma, FloatBuffer dbeta)
    {
        LayerNorm(x, gamma, mean, rstd, dy, rows, dim);
        Length(dx, (long)rows * dim, nameof(dx));
        Length(dgamma, dim, nameof(dgamma));
        Length(dbeta, dim, nameof(dbeta));
        var input = CpuBackend.Cast(x); // [rows, dim]
        var outputGrad = CpuBackend.Cast(dy); // [rows, dim]
        var inputGrad = CpuBackend.Cast(dx); // [rows, dim]
        var scale = CpuBackend.Cast(gamma).Span; // [dim]
        var means = CpuBackend.Cast(mean).Span; // [rows]
        var rstds = CpuBackend.Cast(rstd).Span; // [rows]
        var scaleGrad = CpuBackend.Cast(dgamma).Span; // [dim]
        var shiftGrad = CpuBackend.Cast(dbeta).Span; // [dim]
        // Parameter gradients first, one row at a time into the shared [dim] sums (rows x dim is small for
        // a layer norm); dx then splits over rows: dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma.
        var normalized = new float[dim];
        for (int r = 0; r < rows; r++)
        {
            TensorPrimitives.Subtract(input.Span.Slice(r * dim, dim), means[r], normalized);
            TensorPrimitives.Multiply(normalized, rstds[r], normalized);
            var rowGrad = outputGrad.Span.Slice(r * dim, dim);
            TensorPrimitives.MultiplyAdd(rowGrad, normalized, scaleGrad, scaleGrad);
            TensorPrimitives.Add(rowGrad, shiftGrad, shiftGrad);
        }
        var gammaArray = CpuBackend.Cast(gamma);
        var meanArray = CpuBackend.Cast(mean);
        var rstdArray = CpuBackend.Cast(rstd);
        For(rows, dim * 6L, r =>
        {
            var row = input.Span.Slice(r * dim, dim);
            var rowGrad = outputGrad.Span.Slice(r * dim, dim);
            float rowMean = meanArray.Span[r], rowRstd = rstdArray.Span[r];
            double gradSum = 0, gradDotNormalized = 0;
            var g = gammaArray.Span;
            for (int i = 0; i < dim; i++)
            {
                double scaled = (double)rowGrad[i] * g[i];
                gradSum += scaled;
                gradDotNormalized += scaled * (row[i] - rowMean) * rowRstd;
            }
            float meanGrad = (float)(gradSum / dim), meanGradNormalized = (float)(gradDotNormalized / dim);
            var outRow = inputGrad.Span.Slice(r * dim, dim);
            for (int i = 0; i < dim; i++)
                outRow[i] = rowRstd * (rowGrad[i] * g[i] - meanGrad - (row[i] - rowMean) * rowRstd * meanGradNormalized);
        });
    }

    public void GroupNormForward(FloatBuffer x, FloatBuffer gamma, FloatBuffer beta, int batchSize, int channels, int spatial,
        int groups, float epsilon, FloatBuffer y, FloatBuffer mean, FloatBuffer rstd)
    {
        GroupNorm(x, gamma, mean, rstd, y, batchSize, channels, spatial, groups);
        Length(beta, channels, nameof(beta));
        var input = CpuBackend.Cast(x); // [batchSize, channels, spatial]
        var output = CpuBackend.Cast(y); // [batchSize, channels, spatial]
        var scale = CpuBackend.Cast(gamma); // [channels]
        var shift = CpuBackend.Cast(beta); // [channels]
        var means = CpuBackend.Cast(mean); // [batchSize, groups]
        var rstds = CpuBackend.Cast(rstd); // [batchSize, groups]
        int channelsPerGroup = channels / groups, groupLength = channelsPerGroup * spatial;
        For(batchSize * groups, groupLength * 4L, item =>
        {
            // Item (n, g): channels [g * cpg, (g + 1) * cpg) of sample n are one contiguous run.
            var (groupMean, groupRstd) = Statistics(input.Span.Slice(item * groupLength, groupLength), epsilon);
            means.Span[item] = groupMean;
            rstds.Span[item] = groupRstd;
            int firstChannel = item % groups * channelsPerGroup;
            for (int j = 0; j < channelsPerGroup; j++)
            {
                float a = groupRstd * scale.Span[firstChannel + j];
                float b = shift.Span[firstChannel + j] - groupMean * a;
                int offset = item * groupLength + j * spatial;
                var target = output.Span.Slice(offset, spatial);
                TensorPrimitives.Multiply(input.Span.Slice(offset, spatial), a, target);
                TensorPrimitives.Add(target, b, target);
            }
        });
    }

    public void GroupNormBackward(FloatBuffer x, FloatBuffer gamma, FloatBuffer mean, FloatBuffer rstd, FloatBuffer dy,
        int batchSize, int channels, int spatial, int groups, FloatBuffer dx, FloatBuffer dgamma, FloatBuffer dbeta)
    {
        GroupNorm(x, gamma, mean, rstd, dy, batchSize, channels, spatial, groups);
        Length(dx, (long)batchSize * channels * spatial, nameof(dx));
        Length(dgamma, channels, nameof(dgamma));
        Length(dbeta, channels, nameof(dbeta));
        var input = CpuBackend.Cast(x); // [batchSize, channels, spatial]
        var outputGrad = CpuBackend.Cast(dy); // [batchSize, channels, spatial]
        var inputGrad = CpuBackend.Cast(dx); // [batchSize, channels, spatial]
        var scale = CpuBackend.Cast(gamma); // [channels]
        var means = CpuBackend.Cast(mean); // [batchSize, groups]
        var rstds = CpuBackend.Cast(rstd); // [batchSize, groups]
        int channelsPerGroup = channels / groups, groupLength = channelsPerGroup * spatial;
        var gradSums = new double[batchSize * channels]; // [batchSize, channels] sum_s dy
        var gradDotInputs = new double[batchSize * channels]; // [batchSize, channels] sum_s dy x
        For(batchSize * groups, groupLength * 6L, item =>
        {
            int firstChannel = item % groups * channelsPerGroup, n = item / groups;
            float groupMean = means.Span[item], groupRstd = rstds.Span[item];
            // With A_c = sum dy, B_c = sum dy x: sum g = sum_c gamma_c A_c and sum g xhat = rstd sum_c gamma_c (B_c - mean A_c).
            double sumScaled = 0, sumScaledNormalized = 0;
            for (int j = 0; j < channelsPerGroup; j++)
            {
                int c = firstChannel + j, offset = item * groupLength + j * spatial;
                var channelGrad = outputGrad.Span.Slice(offset, spatial);
                double a = Sum(channelGrad), b = Dot(channelGrad, input.Span.Slice(offset, spatial));
                gradSums[n * channels + c] = a;
                gradDotInputs[n * channels + c] = b;
                sumScaled += scale.Span[c] * a;
                sumScaledNormalized += scale.Span[c] * groupRstd * (b - groupMean * a);
            }
            // dx = rstd (gamma_c dy - sum g / M - xhat sum(g xhat) / M) = p_c dy + q x + r.
            double count = groupLength;
            float q = (float)(-groupRstd * groupRstd * sumScaledNormalized / count);
            float r = (float)(-groupRstd * sumScaled / count + groupRstd * groupRstd * groupMean * sumScaledNormalized / count);
            for (int j = 0; j < channelsPerGroup; j++)
            {
                int offset = item * groupLength + j * spatial;
                var target = inputGrad.Span.Slice(offset, spatial);
                TensorPrimitives.Multiply(input.Span.Slice(offset, spatial), q, target);
                TensorPrimitives.Add(target, r, target);
                TensorPrimitives.MultiplyAdd(outputGrad.Span.Slice(offset, spatial), groupRstd * scale.Span[firstChannel + j], target, target);
            }
        });
        var scaleGrad = CpuBackend.Cast(dgamma).Span; // [channels]
        var shiftGrad = CpuBackend.Cast(dbeta).Span; // [channels]
        for (int c = 0; c < channels; c++)
        {
            double sumGamma = 0, sumBeta = 0;
            for (int n = 0; n < batchSize; n++)
            {
                int item = n * groups + c / channelsPerGroup;
                double a = gradSums[n * channels + c];
                sumBeta += a;
                sumGamma += rstds.Span[item] * (gradDotInputs[n * channels + c] - means.Span[item] * a);
            }
            scaleGrad[c] += (float)sumGamma;
            shiftGrad[c] += (float)sumBeta;
        }
    }

    /// <summary>Mean and 1 / sqrt(biased variance + epsilon) of a run, in double.</summary>
    private static (float Mean, float Rstd) Statistics(ReadOnlySpan<float> values, float epsilon)
    {
        double mean = Sum(values) / values.Length;
        var center = new Vector<double>(mean);
        var squares = Vector<double>.Zero;
        int i = 0;
        for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            Vector.Widen(new Vector<float>(values[i..]), out var low, out var high);
            var lowDeviation = low - center;
            var highDeviation = high - center;
            squares += lowDeviation * lowDeviation + highDeviation * highDeviation;
        }
        double sum = Vector.Sum(squares);
        for (; i < values.Length; i++)
        {
            double deviation = values[i] - mean;
            sum += deviation * deviation;
        }
        return ((float)mean, (float)(1 / Math.Sqrt(sum / values.Length + epsilon)));
    }

    // Sum and Dot widen float vectors to double lanes: double accuracy at SIMD speed.
    private static double Sum(ReadOnlySpan<float> values)
    {
        var lanes = Vector<double>.Zero;
        int i = 0;
        for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            Vector.Widen(new Vector<float>(values[i..]), out var low, out var high);
            lanes += low + high;
        }
        double sum = Vector.Sum(lanes);
        for (; i < values.Length; i++)
            sum += values[i];
        return sum;
    }

    private static double Dot(ReadOnlySpan<float> left, ReadOnlySpan<float> right)
    {
        var lanes = Vector<double>.Zero;
        int i = 0;
        for (; i <= left.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            Vector.Widen(new Vector<float>(left[i..]), out var leftLow, out var leftHigh);
            Vector.Widen(new Vector<float>(right[i..]), out var rightLow, out var rightHigh);
            lanes += leftLow * rightLow + leftHigh * rightHigh;
        }
        double sum = Vector.Sum(lanes);
        for (; i < left.Length; i++)
            sum += (double)left[i] * right[i];
        return sum;
    }
}
