using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace LZN.Native.IO;

/// <summary>
/// A PNG scatter of embeddings projected on their first two principal components, one colour per class (up to ten
/// distinct colours, then repeating), with a legend strip of the colours in class order along the top. The principal
/// directions come from power iteration on the covariance in float64 sums, so the picture depends only on the features.
/// </summary>
public static class EmbeddingPlot
{
    /// <summary>Ten colours that stay apart on white (the "tab10" palette).</summary>
    private static readonly Rgb24[] Palette =
    [
        new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40), new(148, 103, 189),
        new(140, 86, 75), new(227, 119, 194), new(127, 127, 127), new(188, 189, 34), new(23, 190, 207),
    ];

    private const int Legend = 12;

    /// <param name="features">[count, dim]</param>
    /// <param name="labels">[count]</param>
    public static void WritePca(string path, float[] features, int[] labels, int dim, int size = 640)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 64);
        int count = labels.Length;
        if (features.Length != (long)count * dim || count == 0)
            throw new ArgumentException($"features must be [count > 0, {dim}] for {count} labels.", nameof(features));
        var points = Project(features, count, dim); // [count, 2]
        double minX = double.PositiveInfinity, maxX = double.NegativeInfinity, minY = double.PositiveInfinity, maxY = double.NegativeInfinity;
        for (int i = 0; i < count; i++)
        {
            (minX, maxX) = (Math.Min(minX, points[2 * i]), Math.Max(maxX, points[2 * i]));
            (minY, maxY) = (Math.Min(minY, points[2 * i + 1]), Math.Max(maxY, points[2 * i + 1]));
        }
        var pixels = new Rgb24[size * size]; // [size, size]
        Array.Fill(pixels, new Rgb24(255, 255, 255));
        int classes = labels.Max() + 1, margin = 4, top = Legend + 2 * margin, plot = size - top - margin;
        for (int c = 0; c < classes; c++)
            Square(pixels, size, margin + c * (Legend + 4), margin, Legend, Palette[c % Palette.Length]);
        double spanX = Math.Max(maxX - minX, 1e-12), spanY = Math.Max(maxY - minY, 1e-12);
        for (int i = 0; i < count; i++)
        {
            int x = margin + (int)((points[2 * i] - minX) / spanX * (plot - 2)), y = top + (int)((maxY - points[2 * i + 1]) / spanY * (plot - 2));
            Square(pixels, size, x, y, 2, Palette[labels[i] % Palette.Length]);
        }
        using var image = Image.LoadPixelData<Rgb24>(pixels, size, size);
        var encoder = new PngEncoder { ColorType = PngColorType.Rgb, BitDepth = PngBitDepth.Bit8 };
        AtomicFile.Write(path, stream => image.Save(stream, encoder));
    }

    private static void Square(Rgb24[] pixels, int size, int left, int top, int side, Rgb24 colour)
    {
        for (int y = top; y < Math.Min(size, top + side); y++)
        {
            for (int x = left; x < Math.Min(size, left + side); x++)
                pixels[y * size + x] = colour;
        }
    }

    /// <summary>
    /// Centred rows projected on the covariance's two leading eigenvectors (power iteration, the second deflated): [count, 2].
    /// The covariance is applied as Xᵀ(X v) on the centred rows and never formed, so wide features (a convolution map of
    /// thousands of values) cost count x dim per iteration, not dim²; rows and columns are split over threads in fixed
    /// ranges, so the result does not depend on the thread count.
    /// </summary>
    public static double[] Project(float[] features, int count, int dim)
    {
        ArgumentNullException.ThrowIfNull(features);
        var centred = new float[(long)count * dim]; // [count, dim]
        var mean = new double[dim]; // [dim]
        Parallel.For(0, dim, j =>
        {
            double sum = 0;
            for (int i = 0; i < count; i++)
                sum += features[(long)i * dim + j];
            mean[j] = sum / count;
            for (int i = 0; i < count; i++)
                centred[(long)i * dim + j] = (float)(features[(long)i * dim + j] - mean[j]);
        });
        var first = LeadingEigenvector(centred, count, dim, null);
        var second = LeadingEigenvector(centred, count, dim, first);
        var points = new double[2 * count]; // [count, 2]
        var projectFirst = Rows(centred, count, dim, first);
        var projectSecond = Rows(centred, count, dim, second);
        for (int i = 0; i < count; i++)
            (points[2 * i], points[2 * i + 1]) = (projectFirst[i], projectSecond[i]);
        return points;
    }

    /// <summary>X v for the centred rows X [count, dim]: [count].</summary>
    private static double[] Rows(float[] centred, int count, int dim, double[] vector)
    {
        var result = new double[count];
        Parallel.For(0, count, i =>
        {
            double sum = 0;
            for (int j = 0; j < dim; j++)
                sum += centred[(long)i * dim + j] * vector[j];
            result[i] = sum;
        });
        return result;
    }

    /// <summary>Power iteration on Xᵀ X from a fixed start, kept orthogonal to <paramref name="orthogonalTo"/> when given, until no entry moves by 1e-10.</summary>
    private static double[] LeadingEigenvector(float[] centred, int count, int dim, double[]? orthogonalTo)
    {
        const int ColumnBlock = 64;
        var vector = new double[dim]; // [dim]
        for (int j = 0; j < dim; j++)
            vector[j] = 1.0 + 0.01 * j;
        for (int iteration = 0; iteration < 300; iteration++)
        {
            if (orthogonalTo is not null)
            {
                double dot = 0;
                for (int j = 0; j < dim; j++)
                    dot += vector[j] * orthogonalTo[j];
                for (int j = 0; j < dim; j++)
                    vector[j] -= dot * orthogonalTo[j];
            }
            double norm = Math.Sqrt(vector.Sum(value => value * value));
            if (norm == 0)
                break;
            for (int j = 0; j < dim; j++)
                vector[j] /= norm;
            var rows = Rows(centred, count, dim, vector); // [count]
            var next = new double[dim]; // [dim]
            Parallel.For(0, (dim + ColumnBlock - 1) / ColumnBlock, block =>
            {
                int begin = block * ColumnBlock, end = Math.Min(dim, begin + ColumnBlock);
                for (int i = 0; i < count; i++)
                {
                    for (int j = begin; j < end; j++)
                        next[j] += rows[i] * centred[(long)i * dim + j];
                }
            });
            double nextNorm = Math.Sqrt(next.Sum(value => value * value));
            bool settled = nextNorm > 0 && Enumerable.Range(0, dim).All(j => Math.Abs(next[j] / nextNorm - vector[j]) < 1e-10);
            vector = next;
            if (settled)
                break;
        }
        double length = Math.Sqrt(vector.Sum(value => value * value));
        return length == 0 ? vector : [.. vector.Select(value => value / length)];
    }
}
