// What every latent-zone kernel file shares (kernels/latent_zone.cu, latent_zone_v2.cu, latent_zone_gemm.cu): the one
// logit expression, the one logit-gradient expression, and |a_j|^2. No cp.async or mma here, so latent_zone_gemm.cu
// compiles for sm_75 too.
#pragma once

__device__ __forceinline__ float zone_neg_inf() { return __int_as_float(0xff800000); }

// The one logit expression (forward, backward and target log-prob use it, so they agree bit for bit).
__device__ __forceinline__ float zone_logit(float dot, float sqNorm, float logPrior, float scale, float halfC) {
    return fmaf(scale, fmaf(-halfC, sqNorm, dot), logPrior);
}

// ds_ij = -(p_ij / t)(g_i . a_j - D_i) + beta_i (delta_{j,tgt_i} - p_ij)   (docs/math.md section 7)
__device__ __forceinline__ float zone_ds(float p, float gDot, float rowDot, float beta, bool isTarget, float time) {
    return fmaf(-p / time, gDot - rowDot, beta * ((isTarget ? 1.0f : 0.0f) - p));
}

// sqNorms[j] = |a_j|^2, one warp per anchor (any summation order: every logit reads this one value).
extern "C" __global__ void zone_squared_norms(const float* __restrict__ anchors, float* __restrict__ sqNorms, int anchorCount, int dim) {
    const int j = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (j >= anchorCount) return;  // whole warps leave together
    const float* a = anchors + (long long)j * dim;
    float sum = 0.0f;
    for (int k = lane; k < dim; k += 32) sum = fmaf(a[k], a[k], sum);
    for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) sqNorms[j] = sum;
}
