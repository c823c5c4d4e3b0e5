using System.Runtime.Intrinsics;

namespace LZN.Native.Backends.Cpu;

/// <summary>
/// CPU mirror of kernels/optim.cu: Adam/AdamW and EMA as single SIMD passes (Vector512, Vector256, scalar
/// tail), Parallel.For over chunks of long tensors. Same per-element arithmetic as the CUDA kernels.
/// </summary>
internal sealed class CpuOptimizerKernels : IOptimizerKernels
{
    public void AdamStep(in AdamStepArgs args)
    {
        args.CheckLengths();
        var s = args.Scalars();
        var parameters = CpuBackend.Cast(args.Parameters); // [n]
        var gradients = CpuBackend.Cast(args.Gradients); // [n]
        var firstMoments = CpuBackend.Cast(args.FirstMoments); // [n]
        var secondMoments = CpuBackend.Cast(args.SecondMoments); // [n]
        CpuParallel.ForChunks((int)parameters.Length, (start, count) => Adam(s,
            parameters.Span.Slice(start, count), gradients.Span.Slice(start, count),
            firstMoments.Span.Slice(start, count), secondMoments.Span.Slice(start, count)));
    }

    public void EmaUpdate(FloatBuffer shadow, FloatBuffer value, double decay)
    {
        ArgumentChecks.Ema(shadow, value, decay);
        float weight = (float)(1 - decay);
        var shadows = CpuBackend.Cast(shadow); // [n]
        var values = CpuBackend.Cast(value); // [n]
        CpuParallel.ForChunks((int)shadows.Length, (start, count) =>
            Lerp(shadows.Span.Slice(start, count), values.Span.Slice(start, count), weight));
    }

    /// <summary>Adam over one chunk; see <see cref="IOptimizerKernels.AdamStep"/> for the formula.</summary>
    private static void Adam(in AdamScalars s, Span<float> p, ReadOnlySpan<float> grad, Span<float> m, Span<float> v)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= p.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var pv = Vector512.Create(p.Slice(i));
                var g = Vector512.FusedMultiplyAdd(Vector512.Create(s.GradientScale), Vector512.Create(grad.Slice(i)), Vector512.Create(s.CoupledDecay) * pv);
                var mv = Vector512.FusedMultiplyAdd(Vector512.Create(s.Beta1), Vector512.Create(m.Slice(i)), Vector512.Create(s.OneMinusBeta1) * g);
                var vv = Vector512.FusedMultiplyAdd(Vector512.Create(s.Beta2), Vector512.Create(v.Slice(i)), Vector512.Create(s.OneMinusBeta2) * g * g);
                var denominator = Vector512.FusedMultiplyAdd(Vector512.Sqrt(vv), Vector512.Create(s.InverseSqrtSecondCorrection), Vector512.Create(s.Epsilon));
                mv.CopyTo(m.Slice(i));
                vv.CopyTo(v.Slice(i));
                Vector512.FusedMultiplyAdd(pv, Vector512.Create(s.DecoupledShrink), -Vector512.Create(s.StepSize) * (mv / denominator)).CopyTo(p.Slice(i));
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= p.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var pv = Vector256.Create(p.Slice(i));
                var g = Vector256.FusedMultiplyAdd(Vector256.Create(s.GradientScale), Vector256.Create(grad.Slice(i)), Vector256.Create(s.CoupledDecay) * pv);
                var mv = Vector256.FusedMultiplyAdd(Vector256.Create(s.Beta1), Vector256.Create(m.Slice(i)), Vector256.Create(s.OneMinusBeta1) * g);
                var vv = Vector256.FusedMultiplyAdd(Vector256.Create(s.Beta2), Vector256.Create(v.Slice(i)), Vector256.Create(s.OneMinusBeta2) * g * g);
                var denominator = Vector256.FusedMultiplyAdd(Vector256.Sqrt(vv), Vector256.Create(s.InverseSqrtSecondCorrection), Vector256.Create(s.Epsilon));
                mv.CopyTo(m.Slice(i));
                vv.CopyTo(v.Slice(i));
                Vector256.FusedMultiplyAdd(pv, Vector256.Create(s.DecoupledShrink), -Vector256.Create(s.StepSize) * (mv / denominator)).CopyTo(p.Slice(i));
            }
        }
        for (; i < p.Length; i++)
        {
            float g = MathF.FusedMultiplyAdd(s.GradientScale, grad[i], s.CoupledDecay * p[i]);
            float mv = MathF.FusedMultiplyAdd(s.Beta1, m[i], s.OneMinusBeta1 * g);
            float vv = MathF.FusedMultiplyAdd(s.Beta2, v[i], s.OneMinusBeta2 * g * g);
            float denominator = MathF.FusedMultiplyAdd(MathF.Sqrt(vv), s.InverseSqrtSecondCorrection, s.Epsilon);
            m[i] = mv;
            v[i] = vv;
            p[i] = MathF.FusedMultiplyAdd(p[i], s.DecoupledShrink, -s.StepSize * (mv / denominator));
        }
    }

    /// <summary>shadow += weight (value - shadow).</summary>
    private static void Lerp(Span<float> shadow, ReadOnlySpan<float> value, float weight)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var w = Vector512.Create(weight);
            for (; i <= shadow.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var sv = Vector512.Create(shadow.Slice(i));
                Vector512.FusedMultiplyAdd(w, Vector512.Create(value.Slice(i)) - sv, sv).CopyTo(shadow.Slice(i));
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256.Create(weight);
            for (; i <= shadow.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var sv = Vector256.Create(shadow.Slice(i));
                Vector256.FusedMultiplyAdd(w, Vector256.Create(value.Slice(i)) - sv, sv).CopyTo(shadow.Slice(i));
            }
        }
        for (; i < shadow.Length; i++)
            shadow[i] = MathF.FusedMultiplyAdd(weight, value[i] - shadow[i], shadow[i]);
    }
}
