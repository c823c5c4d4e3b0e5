using LZN.Native.Backends;

namespace LZN.Native.Diagnostics;

// The neural-network kernels (IBackend.Nn) against float64, so a device run checks kernels/nn.cu too.
public static partial class SelfTest
{
    private static IEnumerable<SelfTestRow> Nn(Context context)
    {
        var backend = context.Backend;
        var nn = backend.Nn;

        const int batchSize = 3;
        var geometry = new ConvGeometry(Channels: 5, Height: 9, Width: 7, KernelSize: 3, Stride: 2, Padding: 1);
        string convSize = $"{batchSize}x{geometry.Channels}x{geometry.Height}x{geometry.Width} k3 s2 p1";
        float[] image = context.Uniform(batchSize * geometry.InputSize);
        int columnLength = geometry.ColumnRows * batchSize * geometry.OutputPixels;
        float[] columnValues = context.Uniform(columnLength);
        using (var input = backend.FromHost(image))
        using (var columns = context.Poisoned(columnLength))
        {
            nn.Im2Col(input, batchSize, geometry, columns);
            yield return Row("nn im2col", convSize, columns, NnReference.Im2Col(image, batchSize, geometry));
        }
        using (var columns = backend.FromHost(columnValues))
        using (var output = context.Poisoned(batchSize * geometry.InputSize))
        {
            nn.Col2Im(columns, batchSize, geometry, output);
            yield return Row("nn col2im", convSize, output, NnReference.Col2Im(columnValues, batchSize, geometry));
        }

        foreach (var (name, samples, channels, spatial, groups) in new[] { ("group norm", 4, 12, 25, 3), ("layer norm", 33, 70, 1, 1) })
        {
            string size = $"{samples}x{channels}x{spatial}, {groups} groups";
            const float epsilon = 1e-5f;
            float[] x = context.Uniform(samples * channels * spatial, 3), gamma = context.Uniform(channels), beta = context.Uniform(channels);
            float[] dyValues = context.Uniform(x.Length);
            var (expectedY, _, _) = NnReference.GroupNormForward(x, gamma, beta, samples, channels, spatial, groups, epsilon);
            var (expectedDx, expectedDgamma, expectedDbeta) = NnReference.GroupNormBackward(x, gamma, dyValues, samples, channels, spatial, groups, epsilon);
            using var dx = backend.FromHost(x);
            using var dGammaIn = backend.FromHost(gamma);
            using var dBetaIn = backend.FromHost(beta);
            using var y = context.Poisoned(x.Length);
            using var mean = context.Poisoned(samples * groups);
            using var rstd = context.Poisoned(samples * groups);
            using var dy = backend.FromHost(dyValues);
            using var gradX = context.Poisoned(x.Length);
            using var gradGamma = backend.AllocateFloat(channels);
            using var gradBeta = backend.AllocateFloat(channels);
            if (groups == 1 && spatial == 1)
            {
                nn.LayerNormForward(dx, dGammaIn, dBetaIn, samples, channels, epsilon, y, mean, rstd);
                nn.LayerNormBackward(dx, dGammaIn, mean, rstd, dy, samples, channels, gradX, gradGamma, gradBeta);
            }
            else
            {
                nn.GroupNormForward(dx, dGammaIn, dBetaIn, samples, channels, spatial, groups, epsilon, y, mean, rstd);
                nn.GroupNormBackward(dx, dGammaIn, mean, rstd, dy, samples, channels, spatial, groups, gradX, gradGamma, gradBeta);
            }
            yield return Row($"nn {name}", size, y, expectedY);
            yield return Row($"nn {name} backward: x", size, gradX, expectedDx, 1e-4);
            yield return Row($"nn {name} backward: gamma", size, gradGamma, expectedDgamma, 1e-4);
            yield return Row($"nn {name} backward: beta", size, gradBeta, expectedDbeta);
        }

        const int planes = 6, height = 5, width = 7;
        float[] small = context.Uniform(planes * height * width), large = context.Uniform(4 * planes * height * width);
        using (var x = backend.FromHost(small))
        using (var y = context.Poisoned(large.Length))
        {
            nn.Upsample2x(x, planes, height, width, y);
            yield return Row("nn upsample 2x", $"{planes}x{height}x{width}", y, NnReference.Upsample2x(small, planes, height, width));
        }
        using (var dy = backend.FromHost(large))
        using (var dx = context.Poisoned(small.Length))
        {
            nn.Upsample2xBackward(dy, planes, height, width, dx);
            yield return Row("nn upsample 2x backward", $"{planes}x{height}x{width}", dx, NnReference.Upsample2xBackward(large, planes, height, width));
        }

        const int channelCount = 6, spatialSize = 35;
        float[] bias = context.Uniform(channelCount), activations = context.Uniform(batchSize * channelCount * spatialSize);
        using (var x = backend.FromHost(activations))
        using (var b = backend.FromHost(bias))
        {
            nn.AddChannelBias(x, b, batchSize, channelCount, spatialSize);
            yield return Row("nn channel bias", $"{batchSize}x{channelCount}x{spatialSize}", x,
                activations.Select((v, i) => v + (double)bias[i / spatialSize % channelCount]).ToArray());
            using var dy = backend.FromHost(activations);
            using var dbias = backend.AllocateFloat(channelCount);
            nn.ChannelBiasBackward(dy, batchSize, channelCount, spatialSize, dbias);
            yield return Row("nn channel bias backward", $"{batchSize}x{channelCount}x{spatialSize}", dbias,
                Enumerable.Range(0, channelCount).Select(c => Enumerable.Range(0, activations.Length)
                    .Where(i => i / spatialSize % channelCount == c).Sum(i => (double)activations[i])).ToArray());
        }

        const int rows = 17, embeddingDim = 32;
        float[] times = context.Uniform(rows).Select(t => 0.5f + 0.5f * t).ToArray();
        using (var t = backend.FromHost(times))
        using (var embedding = context.Poisoned(rows * embeddingDim))
        {
            nn.SinusoidalEmbedding(t, rows, embeddingDim, 1000f, 10000f, embedding);
            yield return Row("nn sinusoidal embedding", $"{rows}x{embeddingDim}", embedding, NnReference.Sinusoidal(times, embeddingDim, 1000, 10000), 1e-4);
        }

        const int sourceColumns = 9, destinationColumns = 13, count = 5, sourceOffset = 3, destinationOffset = 6;
        float[] source = context.Uniform(rows * sourceColumns), destinationStart = context.Uniform(rows * destinationColumns);
        using (var s = backend.FromHost(source))
        using (var d = backend.FromHost(destinationStart))
        {
            nn.CopyColumns(s, rows, sourceColumns, sourceOffset, d, destinationColumns, destinationOffset, count);
            var expected = destinationStart.Select(v => (double)v).ToArray();
            for (int r = 0; r < rows; r++)
            {
                for (int j = 0; j < count; j++)
                    expected[r * destinationColumns + destinationOffset + j] = source[r * sourceColumns + sourceOffset + j];
            }
            yield return Row("nn copy columns", $"{rows}x{sourceColumns}->{destinationColumns}", d, expected);
        }

        const int classes = 10;
        int[] labels = Enumerable.Range(0, rows).Select(_ => context.Next(classes)).ToArray();
        float[] table = context.Uniform(classes * embeddingDim);
        using (var l = backend.FromHost(labels))
        using (var tableBuffer = backend.FromHost(table))
        using (var gathered = context.Poisoned(rows * embeddingDim))
        using (var oneHot = context.Poisoned(rows * classes))
        {
            nn.GatherRows(tableBuffer, classes, l, rows, embeddingDim, gathered);
            yield return Row("nn gather rows", $"{rows}x{embeddingDim}", gathered,
                Enumerable.Range(0, rows * embeddingDim).Select(e => (double)table[labels[e / embeddingDim] * embeddingDim + e % embeddingDim]).ToArray());
            nn.OneHot(l, rows, classes, oneHot);
            yield return Row("nn one-hot", $"{rows}x{classes}", oneHot,
                Enumerable.Range(0, rows * classes).Select(e => labels[e / classes] == e % classes ? 1.0 : 0.0).ToArray());
        }

        const int outer = 4, middle = 6, inner = 11;
        float[] cube = context.Uniform(outer * middle * inner);
        using (var x = backend.FromHost(cube))
        using (var y = context.Poisoned(cube.Length))
        {
            nn.TransposeLeadingAxes(x, outer, middle, inner, y);
            yield return Row("nn transpose leading axes", $"{outer}x{middle}x{inner}", y,
                Enumerable.Range(0, cube.Length).Select(e =>
                {
                    int m = e / (outer * inner), o = e / inner % outer, i = e % inner;
                    return (double)cube[(o * middle + m) * inner + i];
                }).ToArray());
        }
    }
}
