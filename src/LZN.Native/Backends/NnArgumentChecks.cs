using System.Runtime.CompilerServices;
using static LZN.Native.Backends.ArgumentChecks;

namespace LZN.Native.Backends;

/// <summary>Shape checks shared by the CPU and CUDA <see cref="INnKernels"/>, so both reject the same calls.</summary>
internal static class NnArgumentChecks
{
    public static void Convolution(FloatBuffer columns, FloatBuffer input, int batchSize, in ConvGeometry geometry)
    {
        geometry.Validate();
        Positive(batchSize, nameof(batchSize));
        Length(input, (long)batchSize * geometry.InputSize, nameof(input));
        Length(columns, (long)geometry.ColumnRows * batchSize * geometry.OutputPixels, nameof(columns));
    }

    public static void GroupNormSizes(int batchSize, int channels, int spatial, int groups)
    {
        Positive(batchSize, nameof(batchSize));
        Positive(channels, nameof(channels));
        Positive(spatial, nameof(spatial));
        Positive(groups, nameof(groups));
        if (channels % groups != 0)
            throw new ArgumentException($"{channels} channels do not split into {groups} groups.", nameof(groups));
    }

    public static void LayerNorm(FloatBuffer x, FloatBuffer gamma, FloatBuffer mean, FloatBuffer rstd, FloatBuffer other,
        int rows, int dim, [CallerArgumentExpression(nameof(other))] string otherName = "")
    {
        Positive(rows, nameof(rows));
        Positive(dim, nameof(dim));
        Length(x, (long)rows * dim, nameof(x));
        Length(other, (long)rows * dim, otherName);
        Length(gamma, dim, nameof(gamma));
        Length(mean, rows, nameof(mean));
        Length(rstd, rows, nameof(rstd));
    }

    public static void GroupNorm(FloatBuffer x, FloatBuffer gamma, FloatBuffer mean, FloatBuffer rstd, FloatBuffer other,
        int batchSize, int channels, int spatial, int groups,
        [CallerArgumentExpression(nameof(other))] string otherName = "")
    {
        GroupNormSizes(batchSize, channels, spatial, groups);
        long elements = (long)batchSize * channels * spatial;
        Length(x, elements, nameof(x));
        Length(other, elements, otherName);
        Length(gamma, channels, nameof(gamma));
        Length(mean, (long)batchSize * groups, nameof(mean));
        Length(rstd, (long)batchSize * groups, nameof(rstd));
    }

    public static void Upsample(FloatBuffer small, int planes, int height, int width, FloatBuffer large)
    {
        Positive(planes, nameof(planes));
        Positive(height, nameof(height));
        Positive(width, nameof(width));
        Length(small, (long)planes * height * width, nameof(small));
        Length(large, 4L * planes * height * width, nameof(large));
    }

    public static void ChannelBias(FloatBuffer values, FloatBuffer bias, int batchSize, int channels, int spatial)
    {
        Positive(batchSize, nameof(batchSize));
        Positive(channels, nameof(channels));
        Positive(spatial, nameof(spatial));
        Length(values, (long)batchSize * channels * spatial, nameof(values));
        Length(bias, channels, nameof(bias));
    }

    public static void Transpose(FloatBuffer x, int outer, int middle, int inner, FloatBuffer y)
    {
        Positive(outer, nameof(outer));
        Positive(middle, nameof(middle));
        Positive(inner, nameof(inner));
        long elements = (long)outer * middle * inner;
        Length(x, elements, nameof(x));
        Length(y, elements, nameof(y));
    }

    public static void Embedding(FloatBuffer times, int rows, int dim, FloatBuffer output)
    {
        Positive(rows, nameof(rows));
        Positive(dim, nameof(dim));
        if (dim % 2 != 0)
            throw new ArgumentException($"The embedding dimension {dim} must be even.", nameof(dim));
        Length(times, rows, nameof(times));
        Length(output, (long)rows * dim, nameof(output));
    }

    public static void CopyColumns(FloatBuffer source, int rows, int sourceColumns, int sourceOffset,
        FloatBuffer destination, int destinationColumns, int destinationOffset, int count)
    {
        Positive(rows, nameof(rows));
        Positive(count, nameof(count));
        Length(source, (long)rows * sourceColumns, nameof(source));
        Length(destination, (long)rows * destinationColumns, nameof(destination));
        if (sourceOffset < 0 || sourceOffset + count > sourceColumns || destinationOffset < 0 || destinationOffset + count > destinationColumns)
            throw new ArgumentOutOfRangeException(nameof(count),
                $"Columns [{sourceOffset}, +{count}) of {sourceColumns} to [{destinationOffset}, +{count}) of {destinationColumns} are out of range.");
    }

    public static void Gather(FloatBuffer source, int sourceRows, IntBuffer indices, int rows, int columns, FloatBuffer destination)
    {
        Positive(sourceRows, nameof(sourceRows));
        Positive(rows, nameof(rows));
        Positive(columns, nameof(columns));
        Length(source, (long)sourceRows * columns, nameof(source));
        Length(indices, rows, nameof(indices));
        Length(destination, (long)rows * columns, nameof(destination));
    }

    public static void OneHot(IntBuffer labels, int rows, int classes, FloatBuffer destination)
    {
        Positive(rows, nameof(rows));
        Positive(classes, nameof(classes));
        Length(labels, rows, nameof(labels));
        Length(destination, (long)rows * classes, nameof(destination));
    }
}
