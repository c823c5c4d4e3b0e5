using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace LZN.Native.Backends.Cpu;

/// <summary>
/// Elementwise ops and activations: TensorPrimitives where a primitive fits, Vector512/256 loops with a
/// scalar tail where none does; fused activations run in L1-sized tiles through stack scratch.
/// </summary>
public sealed partial class CpuBackend
{
    /// <summary>Elements per activation tile: three scratch tiles fit in a few KiB of stack.</summary>
    private const int ActivationTile = 512;

    private const float SqrtTwoOverPi = 0.7978845608f;
    private const float GeluCubic = 0.044715f;

    public void Axpby(float alpha, FloatBuffer x, float beta, FloatBuffer y)
    {
        ArgumentChecks.Length(y, x.Length, nameof(y));
        var cx = Cast(x);
        var cy = Cast(y);
        CpuParallel.ForChunks((int)cx.Length, (start, count) => Axpby(alpha, cx.Span.Slice(start, count), beta, cy.Span.Slice(start, count)));
    }

    public void Multiply(FloatBuffer x, FloatBuffer y, FloatBuffer z)
    {
        ArgumentChecks.Length(x, z.Length, nameof(x));
        ArgumentChecks.Length(y, z.Length, nameof(y));
        var cx = Cast(x);
        var cy = Cast(y);
        var cz = Cast(z);
        CpuParallel.ForChunks((int)cz.Length, (start, count) =>
            TensorPrimitives.Multiply(cx.Span.Slice(start, count), cy.Span.Slice(start, count), cz.Span.Slice(start, count)));
    }

    public void ScaleShift(FloatBuffer x, float alpha, float shift)
    {
        var cx = Cast(x);
        CpuParallel.ForChunks((int)cx.Length, (start, count) => ScaleShift(cx.Span.Slice(start, count), alpha, shift));
    }

    public void Activation(ActivationKind kind, FloatBuffer x, FloatBuffer y)
    {
        ArgumentChecks.Activation(kind, x, y, nameof(y));
        var cx = Cast(x);
        var cy = Cast(y);
        CpuParallel.ForChunks((int)cx.Length, (start, count) => ActivationForward(kind, cx.Span.Slice(start, count), cy.Span.Slice(start, count)));
    }

    public void ActivationBackward(ActivationKind kind, FloatBuffer x, FloatBuffer dy, FloatBuffer dx)
    {
        ArgumentChecks.Activation(kind, x, dy, nameof(dy));
        ArgumentChecks.Length(dx, x.Length, nameof(dx));
        var cx = Cast(x);
        var cdy = Cast(dy);
        var cdx = Cast(dx);
        CpuParallel.ForChunks((int)cx.Length, (start, count) =>
            ActivationBackward(kind, cx.Span.Slice(start, count), cdy.Span.Slice(start, count), cdx.Span.Slice(start, count)));
    }

    public void AddRowVector(FloatBuffer x, FloatBuffer v, int rows, int cols, float alpha)
    {
        ArgumentChecks.AddRowVector(x, v, rows, cols);
        var cx = Cast(x); // [rows, cols]
        var cv = Cast(v); // [cols]
        CpuParallel.ForRows(rows, cols, (firstRow, rowCount) =>
        {
            var vector = cv.Span;
            for (int row = firstRow; row < firstRow + rowCount; row++)
            {
                var span = cx.Span.Slice(row * cols, cols);
                TensorPrimitives.MultiplyAdd(vector, alpha, span, span);
            }
        });
    }

    private static void ActivationForward(ActivationKind kind, ReadOnlySpan<float> x, Span<float> y)
    {
        switch (kind)
        {
            case ActivationKind.Identity:
                x.CopyTo(y);
                return;
            case ActivationKind.Relu:
                SelectPositive(x, x, y);
                return;
            case ActivationKind.Sigmoid:
                TensorPrimitives.Sigmoid(x, y);
                return;
            case ActivationKind.Tanh:
                TensorPrimitives.Tanh(x, y);
                return;
            case ActivationKind.Silu:
            case ActivationKind.Gelu:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
        Span<float> scratch = stackalloc float[ActivationTile];
        for (int start = 0; start < x.Length; start += ActivationTile)
        {
            int count = Math.Min(ActivationTile, x.Length - start);
            var xs = x.Slice(start, count);
            var ys = y.Slice(start, count);
            var t = scratch[..count];
            if (kind == ActivationKind.Silu)
            {
                // x * sigmoid(x)
                TensorPrimitives.Sigmoid(xs, t);
                TensorPrimitives.Multiply(xs, t, ys);
                continue;
            }
            // 0.5 x (1 + tanh(z)) = x sigmoid(2z), z = sqrt(2/pi) (x + 0.044715 x^3): the same function without
            // the cancellation in 1 + tanh(z) for negative x.
            GeluInner(xs, t);
            TensorPrimitives.Multiply(t, 2f, t);
            TensorPrimitives.Sigmoid(t, t);
            TensorPrimitives.Multiply(xs, t, ys);
        }
    }

    private static void ActivationBackward(ActivationKind kind, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        switch (kind)
        {
            case ActivationKind.Identity:
                dy.CopyTo(dx);
                return;
            case ActivationKind.Relu:
                SelectPositive(x, dy, dx);
                return;
            case ActivationKind.Silu:
            case ActivationKind.Tanh:
            case ActivationKind.Sigmoid:
            case ActivationKind.Gelu:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
        Span<float> scratch = stackalloc float[3 * ActivationTile];
        for (int start = 0; start < x.Length; start += ActivationTile)
        {
            int count = Math.Min(ActivationTile, x.Length - start);
            var xs = x.Slice(start, count);
            var derivative = scratch.Slice(0, count);
            var t = scratch.Slice(ActivationTile, count);
            var u = scratch.Slice(2 * ActivationTile, count);
            // 1 - s is evaluated as sigmoid(-x), and 1 - tanh^2 as 4 s (1 - s), so no derivative loses digits to
            // cancellation where the activation saturates.
            switch (kind)
            {
                case ActivationKind.Sigmoid:
                    // s (1 - s)
                    SigmoidPair(xs, t, u);
                    TensorPrimitives.Multiply(t, u, derivative);
                    break;
                case ActivationKind.Silu:
                    // s (1 + x (1 - s))
                    SigmoidPair(xs, t, u);
                    TensorPrimitives.MultiplyAdd(xs, u, 1f, u);
                    TensorPrimitives.Multiply(t, u, derivative);
                    break;
                case ActivationKind.Tanh:
                    // 1 - tanh(x)^2 = 4 s (1 - s), s = sigmoid(2x)
                    TensorPrimitives.Multiply(xs, 2f, derivative);
                    SigmoidPair(derivative, t, u);
                    TensorPrimitives.Multiply(t, u, derivative);
                    TensorPrimitives.Multiply(derivative, 4f, derivative);
                    break;
                default:
                    // 0.5 (1 + th) + 0.5 x (1 - th^2) z' = s + 2 x s (1 - s) z', th = tanh(z), s = sigmoid(2z),
                    // z' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
                    GeluInner(xs, derivative);
                    TensorPrimitives.Multiply(derivative, 2f, derivative);
                    SigmoidPair(derivative, t, u);
                    TensorPrimitives.Multiply(u, t, u);
                    TensorPrimitives.Multiply(u, xs, u);
                    TensorPrimitives.Multiply(xs, xs, derivative);
                    TensorPrimitives.Multiply(derivative, 3 * GeluCubic, derivative);
                    TensorPrimitives.Add(derivative, 1f, derivative);
                    TensorPrimitives.Multiply(derivative, 2 * SqrtTwoOverPi, derivative);
                    TensorPrimitives.MultiplyAdd(u, derivative, t, derivative);
                    break;
            }
            TensorPrimitives.Multiply(dy.Slice(start, count), derivative, dx.Slice(start, count));
        }
    }

    /// <summary>s = sigmoid(x) and oneMinus = 1 - s = sigmoid(-x), each to full relative precision.</summary>
    private static void SigmoidPair(ReadOnlySpan<float> x, Span<float> s, Span<float> oneMinus)
    {
        TensorPrimitives.Negate(x, oneMinus);
        TensorPrimitives.Sigmoid(oneMinus, oneMinus);
        TensorPrimitives.Sigmoid(x, s);
    }

    /// <summary>inner = sqrt(2/pi) (x + 0.044715 x^3), evaluated in the same order as gelu_inner in kernels/elementwise.cu.</summary>
    private static void GeluInner(ReadOnlySpan<float> x, Span<float> inner)
    {
        TensorPrimitives.Multiply(x, x, inner);
        TensorPrimitives.Multiply(inner, x, inner);
        TensorPrimitives.MultiplyAdd(inner, GeluCubic, x, inner);
        TensorPrimitives.Multiply(inner, SqrtTwoOverPi, inner);
    }

    /// <summary>result = x > 0 ? values : 0 (ReLU forward with values = x, backward with values = dy; NaN maps to 0).</summary>
    private static void SelectPositive(ReadOnlySpan<float> x, ReadOnlySpan<float> values, Span<float> result)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= x.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var mask = Vector512.GreaterThan(Vector512.Create(x.Slice(i)), Vector512<float>.Zero);
                Vector512.BitwiseAnd(mask, Vector512.Create(values.Slice(i))).CopyTo(result.Slice(i));
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var mask = Vector256.GreaterThan(Vector256.Create(x.Slice(i)), Vector256<float>.Zero);
                Vector256.BitwiseAnd(mask, Vector256.Create(values.Slice(i))).CopyTo(result.Slice(i));
            }
        }
        for (; i < x.Length; i++)
            result[i] = x[i] > 0 ? values[i] : 0;
    }

    /// <summary>y = alpha x + beta y.</summary>
    private static void Axpby(float alpha, ReadOnlySpan<float> x, float beta, Span<float> y)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(alpha);
            var vb = Vector512.Create(beta);
            for (; i <= x.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var vy = Vector512.Create(y.Slice(i));
                Vector512.FusedMultiplyAdd(va, Vector512.Create(x.Slice(i)), vb * vy).CopyTo(y.Slice(i));
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(alpha);
            var vb = Vector256.Create(beta);
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var vy = Vector256.Create(y.Slice(i));
                Vector256.FusedMultiplyAdd(va, Vector256.Create(x.Slice(i)), vb * vy).CopyTo(y.Slice(i));
            }
        }
        for (; i < x.Length; i++)
            y[i] = MathF.FusedMultiplyAdd(alpha, x[i], beta * y[i]);
    }

    /// <summary>x = alpha x + shift.</summary>
    private static void ScaleShift(Span<float> x, float alpha, float shift)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(alpha);
            var vs = Vector512.Create(shift);
            for (; i <= x.Length - Vector512<float>.Count; i += Vector512<float>.Count)
                Vector512.FusedMultiplyAdd(va, Vector512.Create(x.Slice(i)), vs).CopyTo(x.Slice(i));
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(alpha);
            var vs = Vector256.Create(shift);
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
                Vector256.FusedMultiplyAdd(va, Vector256.Create(x.Slice(i)), vs).CopyTo(x.Slice(i));
        }
        for (; i < x.Length; i++)
            x[i] = MathF.FusedMultiplyAdd(alpha, x[i], shift);
    }
}
