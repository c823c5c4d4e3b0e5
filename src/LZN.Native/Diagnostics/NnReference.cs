using LZN.Native.Backends;

namespace LZN.Native.Diagnostics;

/// <summary>Float64 references for the <see cref="INnKernels"/> ops, written as directly as the definitions (the nn verification table, run by the tests and `lzn selftest`).</summary>
public static class NnReference
{
    public static double[] Im2Col(float[] input, int batchSize, ConvGeometry g)
    {
        int k = g.KernelSize, pixels = g.OutputPixels, rowLength = batchSize * pixels;
        var columns = new double[g.ColumnRows * rowLength];
        for (int c = 0; c < g.Channels; c++)
        for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++)
        for (int n = 0; n < batchSize; n++)
        for (int oy = 0; oy < g.OutputHeight; oy++)
        for (int ox = 0; ox < g.OutputWidth; ox++)
        {
            int y = oy * g.Stride + ki - g.Padding, x = ox * g.Stride + kj - g.Padding;
            int row = (c * k + ki) * k + kj;
            columns[row * rowLength + n * pixels + oy * g.OutputWidth + ox] =
                y >= 0 && y < g.Height && x >= 0 && x < g.Width ? input[((n * g.Channels + c) * g.Height + y) * g.Width + x] : 0;
        }
        return columns;
    }

    /// <summary>The adjoint: every column entry added back where Im2Col read it.</summary>
    public static double[] Col2Im(float[] columns, int batchSize, ConvGeometry g)
    {
        int k = g.KernelSize, pixels = g.OutputPixels, rowLength = batchSize * pixels;
        var image = new double[batchSize * g.InputSize];
        for (int c = 0; c < g.Channels; c++)
        for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++)
        for (int n = 0; n < batchSize; n++)
        for (int oy = 0; oy < g.OutputHeight; oy++)
        for (int ox = 0; ox < g.OutputWidth; ox++)
        {
            int y = oy * g.Stride + ki - g.Padding, x = ox * g.Stride + kj - g.Padding;
            if (y >= 0 && y < g.Height && x >= 0 && x < g.Width)
                image[((n * g.Channels + c) * g.Height + y) * g.Width + x] += columns[((c * k + ki) * k + kj) * rowLength + n * pixels + oy * g.OutputWidth + ox];
        }
        return image;
    }

    /// <summary>Group norm over x [batchSize, channels, spatial]; layer norm is groups = 1, spatial = 1.</summary>
    public static (double[] Y, double[] Mean, double[] Rstd) GroupNormForward(float[] x, float[] gamma, float[] beta,
        int batchSize, int channels, int spatial, int groups, double epsilon)
    {
        int perGroup = channels / groups * spatial;
        var y = new double[x.Length];
        var mean = new double[batchSize * groups];
        var rstd = new double[batchSize * groups];
        for (int item = 0; item < batchSize * groups; item++)
        {
            double sum = 0, squares = 0;
            for (int i = 0; i < perGroup; i++)
                sum += x[item * perGroup + i];
            mean[item] = sum / perGroup;
            for (int i = 0; i < perGroup; i++)
                squares += Math.Pow(x[item * perGroup + i] - mean[item], 2);
            rstd[item] = 1 / Math.Sqrt(squares / perGroup + epsilon);
            for (int i = 0; i < perGroup; i++)
            {
                int c = item % groups * (channels / groups) + i / spatial;
                y[item * perGroup + i] = (x[item * perGroup + i] - mean[item]) * rstd[item] * gamma[c] + beta[c];
            }
        }
        return (y, mean, rstd);
    }

    /// <summary>dx, and dgamma / dbeta as increments (without the accumulated starting values).</summary>
    public static (double[] Dx, double[] Dgamma, double[] Dbeta) GroupNormBackward(float[] x, float[] gamma, float[] dy,
        int batchSize, int channels, int spatial, int groups, double epsilon)
    {
        var (_, mean, rstd) = GroupNormForward(x, gamma, new float[channels], batchSize, channels, spatial, groups, epsilon);
        int perGroup = channels / groups * spatial;
        var dx = new double[x.Length];
        var dgamma = new double[channels];
        var dbeta = new double[channels];
        for (int item = 0; item < batchSize * groups; item++)
        {
            double gSum = 0, gDot = 0;
            for (int i = 0; i < perGroup; i++)
            {
                int c = item % groups * (channels / groups) + i / spatial, index = item * perGroup + i;
                double normalized = (x[index] - mean[item]) * rstd[item];
                double g = dy[index] * (double)gamma[c];
                gSum += g;
                gDot += g * normalized;
                dgamma[c] += dy[index] * normalized;
                dbeta[c] += dy[index];
            }
            for (int i = 0; i < perGroup; i++)
            {
                int c = item % groups * (channels / groups) + i / spatial, index = item * perGroup + i;
                double normalized = (x[index] - mean[item]) * rstd[item];
                dx[index] = rstd[item] * (dy[index] * (double)gamma[c] - gSum / perGroup - normalized * gDot / perGroup);
            }
        }
        return (dx, dgamma, dbeta);
    }

    public static double[] Upsample2x(float[] x, int planes, int height, int width)
    {
        var y = new double[4 * x.Length];
        for (int p = 0; p < planes; p++)
        for (int oy = 0; oy < 2 * height; oy++)
        for (int ox = 0; ox < 2 * width; ox++)
            y[(p * 2 * height + oy) * 2 * width + ox] = x[(p * height + oy / 2) * width + ox / 2];
        return y;
    }

    public static double[] Upsample2xBackward(float[] dy, int planes, int height, int width)
    {
        var dx = new double[planes * height * width];
        for (int p = 0; p < planes; p++)
        for (int oy = 0; oy < 2 * height; oy++)
        for (int ox = 0; ox < 2 * width; ox++)
            dx[(p * height + oy / 2) * width + ox / 2] += dy[(p * 2 * height + oy) * 2 * width + ox];
        return dx;
    }

    public static double[] Sinusoidal(float[] times, int dim, double timeScale, double maxPeriod)
    {
        int half = dim / 2;
        var output = new double[times.Length * dim];
        for (int r = 0; r < times.Length; r++)
        for (int i = 0; i < half; i++)
        {
            double argument = timeScale * times[r] * Math.Pow(maxPeriod, -(double)i / half);
            output[r * dim + i] = Math.Cos(argument);
            output[r * dim + half + i] = Math.Sin(argument);
        }
        return output;
    }
}
