using LZN.Native.Backends;

namespace LZN.Native.Metrics;

/// <summary>
/// Mean softmax cross-entropy over a batch, L = -(1/rows) sum_r log softmax(z_r)[y_r], with its gradient
/// dL/dz = (softmax(z) - onehot(y)) / rows. The gradient stays on the backend (SoftmaxRows, OneHot, Axpby, ScaleShift);
/// the loss value is formed on the host in float64 by log-sum-exp from the logits (rows x classes floats, a small read),
/// so it stays finite however confident a wrong prediction is.
/// </summary>
public sealed class SoftmaxCrossEntropy(IBackend backend) : IDisposable
{
    private readonly Nn.Workspace _oneHot = new(backend);

    /// <summary>Writes dL/dlogits into <paramref name="gradient"/> [rows, classes] and returns L (reads the logits to the host).</summary>
    /// <param name="logits">[rows, classes]</param>
    /// <param name="labels">[rows] class indices in [0, classes)</param>
    /// <param name="gradient">[rows, classes], overwritten; may not alias the logits</param>
    public double LossAndGradient(FloatBuffer logits, IntBuffer labels, int rows, int classes, FloatBuffer gradient)
    {
        Gradient(logits, labels, rows, classes, gradient);
        return Loss(logits.ToArray(), labels.ToArray(), rows, classes);
    }

    /// <summary>dL/dlogits = (softmax(logits) - onehot(labels)) / rows into <paramref name="gradient"/>, on the backend (no host transfer).</summary>
    /// <param name="logits">[rows, classes]</param>
    /// <param name="labels">[rows] class indices in [0, classes)</param>
    /// <param name="gradient">[rows, classes], overwritten; may not alias the logits</param>
    public void Gradient(FloatBuffer logits, IntBuffer labels, int rows, int classes, FloatBuffer gradient)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(gradient);
        CheckShapes(logits, labels, rows, classes);
        if (gradient.Length != logits.Length)
            throw new ArgumentException($"gradient has {gradient.Length} elements; expected {rows} x {classes}.", nameof(gradient));
        var oneHot = _oneHot.Get(logits.Length); // [rows, classes]
        backend.SoftmaxRows(logits, rows, classes, gradient);
        backend.Nn.OneHot(labels, rows, classes, oneHot);
        backend.Axpby(-1f / rows, oneHot, 1f / rows, gradient);
    }

    /// <summary>L for host logits [rows, classes] and labels [rows], in float64 (the reference for the gradient tests too).</summary>
    public static double Loss(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int rows, int classes)
    {
        if (logits.Length != (long)rows * classes || labels.Length != rows)
            throw new ArgumentException($"{logits.Length} logits and {labels.Length} labels do not make {rows} rows of {classes} classes.");
        double total = 0;
        for (int row = 0; row < rows; row++)
        {
            var values = logits.Slice(row * classes, classes);
            double max = double.NegativeInfinity;
            foreach (float value in values)
                max = Math.Max(max, value);
            double sum = 0;
            foreach (float value in values)
                sum += Math.Exp(value - max);
            int label = labels[row];
            if ((uint)label >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), label, $"row {row}: the label lies outside [0, {classes}).");
            total += max + Math.Log(sum) - values[label];
        }
        return total / rows;
    }

    private static void CheckShapes(FloatBuffer logits, IntBuffer labels, int rows, int classes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        if (logits.Length != (long)rows * classes || labels.Length != rows)
            throw new ArgumentException($"{logits.Length} logits and {labels.Length} labels do not make {rows} rows of {classes} classes.");
    }

    public void Dispose() => _oneHot.Dispose();
}
