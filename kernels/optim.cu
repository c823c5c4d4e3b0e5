// Optimiser updates: fused Adam/AdamW and EMA, one pass over a parameter tensor each.
// CPU mirror: Backends/Cpu/CpuOptimizerKernels.cs (same per-element arithmetic, same FMA placement).
// The host forms every scalar in double and rounds once (Backends/IOptimizerKernels.cs, AdamScalars).
#include "common.cuh"

// ------------------------------------------------------------------------------------------------
// kernels (launched by Backends/Cuda/CudaOptimizerKernels.cs; 1-D grid = ceil_div(n, block),
// capped at one resident wave)
// ------------------------------------------------------------------------------------------------

// One Adam step over p[n], in place on p, m, v:
//   g = grad_scale * grad + coupled_decay * p
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   p = decoupled_shrink * p - step_size * m / (sqrt(v) * inv_sqrt_second_correction + eps)
// with step_size = lr / (1 - beta1^n); coupled_decay = wd (Adam) or 0; decoupled_shrink = 1 - lr wd (AdamW) or 1.
extern "C" __global__ void adam_step(float* p, const float* grad, float* m, float* v, long long n,
                                     float step_size, float inv_sqrt_second_correction, float beta1,
                                     float one_minus_beta1, float beta2, float one_minus_beta2, float eps,
                                     float coupled_decay, float decoupled_shrink, float grad_scale) {
    LZN_GRID_STRIDE_LOOP(i, n) {
        const float p_i = p[i];
        const float g = fmaf(grad_scale, grad[i], coupled_decay * p_i);
        const float m_i = fmaf(beta1, m[i], one_minus_beta1 * g);
        const float v_i = fmaf(beta2, v[i], one_minus_beta2 * g * g);
        const float denominator = fmaf(sqrtf(v_i), inv_sqrt_second_correction, eps);
        m[i] = m_i;
        v[i] = v_i;
        p[i] = fmaf(p_i, decoupled_shrink, -step_size * __fdiv_rn(m_i, denominator));
    }
}

// shadow[n] += weight * (value[n] - shadow[n]), weight = 1 - decay (exact for decays near 1).
extern "C" __global__ void ema_update(float* shadow, const float* value, long long n, float weight) {
    LZN_GRID_STRIDE_LOOP(i, n) {
        const float s = shadow[i];
        shadow[i] = fmaf(weight, value[i] - s, s);
    }
}
