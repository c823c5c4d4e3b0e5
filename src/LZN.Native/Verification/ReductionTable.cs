using LZN.Native.Diagnostics;

namespace LZN.Native.Verification;

/// <summary>
/// Sum, sum of squares, column and row sums and the row softmax against float64. Sums reach past the CUDA
/// first pass's cap (1024 blocks of 256) and the CPU's parallel threshold; the softmax covers rows longer than a
/// warp, logits that would overflow exp without the max shift, -inf logits, and the in-place form.
/// </summary>
public static class ReductionTable
{
    private const string Family = "reductions";

    public static IReadOnlyList<VerificationCase> Cases { get; } = [.. Build()];

    private static IEnumerable<VerificationCase> Build()
    {
        foreach (int length in new[] { 1, 1000, 327_683 })
        {
            foreach (bool squares in new[] { false, true })
            {
                yield return new VerificationCase(Family, squares ? "sum of squares" : "sum", $"{length}", run =>
                {
                    // A common offset of 3: a naive float accumulation would lose digits; pairwise or blocked ones do not.
                    float[] x = [.. run.Uniform(length).Select(v => v + 3)];
                    var result = run.Output("result", 1); // [1]
                    if (squares)
                        run.Backend.SumOfSquares(run.Input(x), result);
                    else
                        run.Backend.Sum(run.Input(x), result);
                    run.Expect(result, [x.Sum(v => squares ? (double)v * v : v)], 1e-6);
                });
            }
        }

        // Sums of signed terms cancel: each against sqrt(terms) (the rounding's growth), or itself when larger.
        foreach (var (rows, cols) in new[] { (1, 1), (7, 33), (3000, 13), (300, 1000), (7, 3001) })
        {
            foreach (bool columns in new[] { true, false })
            {
                yield return new VerificationCase(Family, columns ? "column sums" : "row sums", $"{rows}x{cols}", run =>
                {
                    float[] x = run.Uniform(rows * cols); // [rows, cols]
                    int count = columns ? cols : rows, terms = columns ? rows : cols;
                    var sums = run.Output("sums", count); // [cols] or [rows]
                    if (columns)
                        run.Backend.ColumnSums(run.Input(x), rows, cols, sums);
                    else
                        run.Backend.RowSums(run.Input(x), rows, cols, sums);
                    double[] expected = [.. Enumerable.Range(0, count).Select(line => Enumerable.Range(0, terms)
                        .Sum(term => (double)x[columns ? term * cols + line : line * cols + term]))];
                    run.Expect(sums, expected, 1e-6, ErrorMeasure.Relative(floor: Math.Sqrt(terms)));
                });
            }
        }

        foreach (var (rows, cols, scale) in new[] { (1, 1, 1f), (5, 37, 3f), (70, 1000, 10f), (3, 10, 500f), (257, 10, 8f), (33, 3000, 8f) })
            yield return Softmax(rows, cols, scale, inPlace: false);
        yield return Softmax(70, 1000, 10f, inPlace: true);
        // x[0] = -inf with a finite logit later in the same lane (cols > 32): that lane's running max starts at -inf.
        yield return Softmax(3, 40, 3f, inPlace: false, negativeInfinity: true);
    }

    private static VerificationCase Softmax(int rows, int cols, float scale, bool inPlace, bool negativeInfinity = false)
    {
        string op = "softmax rows" + (inPlace ? " in place" : "") + (negativeInfinity ? " x[0] = -inf" : "");
        return new VerificationCase(Family, op, $"{rows}x{cols} scale {scale}", run =>
        {
            float[] x = run.Uniform(rows * cols, scale); // [rows, cols]
            if (negativeInfinity)
                x[0] = float.NegativeInfinity;
            double[] expected = ReferenceOps.SoftmaxRows(x, rows, cols);
            var y = inPlace ? run.InOut(x) : run.Output("y", rows * cols);
            run.Backend.SoftmaxRows(inPlace ? y : run.Input(x), rows, cols, y);
            // Relative to each probability down to 1e-4, absolute below: exp(-1000) underflows in float.
            run.Expect(y, expected, 1e-5, ErrorMeasure.Relative(floor: 1e-4));
        });
    }
}
