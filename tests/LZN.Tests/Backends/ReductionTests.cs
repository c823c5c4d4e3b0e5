using LZN.Native.Backends;
using LZN.Native.Diagnostics;
using LZN.Tests.Reference;

namespace LZN.Tests.Backends;

[TestFixtureSource(typeof(BackendCases), nameof(BackendCases.All))]
public sealed class ReductionTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    [TestCase(1)]
    [TestCase(1000)]
    [TestCase((1 << 20) + 3)]
    public void SumAndSumOfSquaresAreAccurate(int length)
    {
        // A large common offset makes naive float accumulation lose digits; blocked double totals do not.
        var x = RandomValues(length, seed: 11);
        for (int i = 0; i < length; i++)
            x[i] += 3;
        var (owner, view) = UploadAsSlice(x);
        using (owner)
        using (var result = Backend.AllocateFloat(2))
        {
            Backend.Sum(view, result.Slice(0, 1));
            Backend.SumOfSquares(view, result.Slice(1, 1));
            var actual = result.ToArray();
            AssertClose(actual, [BackendOracle.Sum(x), BackendOracle.SumOfSquares(x)], 1e-6, 0, "sum, sum of squares");
        }
    }

    [TestCase(1, 1)]
    [TestCase(7, 33)]
    [TestCase(3000, 13)]
    [TestCase(300, 1000)]
    public void ColumnAndRowSums(int rows, int cols)
    {
        var x = RandomValues(rows * cols, seed: 12); // [rows, cols]
        var columns = new double[cols];
        var rowTotals = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                columns[c] += x[r * cols + c];
                rowTotals[r] += x[r * cols + c];
            }
        }
        var (owner, view) = UploadAsSlice(x);
        var (columnOwner, columnView) = UploadAsSlice(new float[cols]);
        using (owner)
        using (columnOwner)
        using (var rowResult = Backend.AllocateFloat(rows))
        {
            Backend.ColumnSums(view, rows, cols, columnView);
            Backend.RowSums(view, rows, cols, rowResult);
            // Sums of signed terms can cancel: scale the tolerance by sqrt(terms), not by the (small) result.
            AssertClose(columnView.ToArray(), columns, 1e-6, 1e-6 * Math.Sqrt(rows), "column sums");
            AssertClose(rowResult.ToArray(), rowTotals, 1e-6, 1e-6 * Math.Sqrt(cols), "row sums");
            AssertMarginsUntouched(columnOwner);
        }
    }

    [TestCase(1, 1, 1f)]
    [TestCase(5, 37, 3f)]
    [TestCase(70, 1000, 10f)]
    [TestCase(3, 10, 500f)]
    public void SoftmaxRowsIsStableAndNormalised(int rows, int cols, float scale)
    {
        // scale 500 would overflow exp without the max shift.
        var x = RandomValues(rows * cols, seed: 13, scale: scale); // [rows, cols]
        var expected = ReferenceOps.SoftmaxRows(x, rows, cols);
        var (owner, view) = UploadAsSlice(x);
        using (owner)
        using (var y = Backend.AllocateFloat(rows * cols))
        {
            Backend.SoftmaxRows(view, rows, cols, y);
            AssertClose(y.ToArray(), expected, 1e-5, 1e-9, "softmax");
            Backend.SoftmaxRows(view, rows, cols, view);
            AssertClose(view.ToArray(), expected, 1e-5, 1e-9, "softmax in place");
            AssertMarginsUntouched(owner);
        }
    }
}
