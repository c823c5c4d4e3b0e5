// Shared device helpers: ceil-div, warp and block reductions, the Philox4x32-10 counter RNG.
// NVRTC compiles without the C++ standard library, so only builtins appear here.
#pragma once

#define LZN_WARP_SIZE 32
#define LZN_FULL_MASK 0xffffffffu
// NVRTC has no <cmath>, so no INFINITY macro.
#define LZN_NEG_INFINITY __int_as_float(0xff800000)

__host__ __device__ inline long long ceil_div(long long a, long long b) { return (a + b - 1) / b; }

// Grid-stride loop over [0, n): correct for any grid size, so launchers may cap the grid.
#define LZN_GRID_STRIDE_LOOP(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

__device__ inline float warp_reduce_sum(float value) {
    for (int offset = LZN_WARP_SIZE / 2; offset > 0; offset >>= 1)
        value += __shfl_xor_sync(LZN_FULL_MASK, value, offset);
    return value;
}

__device__ inline float warp_reduce_max(float value) {
    for (int offset = LZN_WARP_SIZE / 2; offset > 0; offset >>= 1)
        value = fmaxf(value, __shfl_xor_sync(LZN_FULL_MASK, value, offset));
    return value;
}

// Reduction over a whole block (blockDim.x a multiple of 32, at most 1024) with WARP_REDUCE and its identity; every
// thread gets the result. `scratch` holds 32 floats of shared memory; the trailing barrier makes it reusable at once.
template <float (*WARP_REDUCE)(float)>
__device__ inline float block_reduce(float value, float* scratch, float identity) {
    const int lane = threadIdx.x % LZN_WARP_SIZE;
    const int warp = threadIdx.x / LZN_WARP_SIZE;
    const int warp_count = blockDim.x / LZN_WARP_SIZE;
    value = WARP_REDUCE(value);
    if (lane == 0) scratch[warp] = value;
    __syncthreads();
    value = lane < warp_count ? scratch[lane] : identity;
    value = WARP_REDUCE(value);
    __syncthreads();
    return value;
}

__device__ inline float block_reduce_sum(float value, float* scratch) { return block_reduce<warp_reduce_sum>(value, scratch, 0.0f); }

__device__ inline float block_reduce_max(float value, float* scratch) {
    return block_reduce<warp_reduce_max>(value, scratch, LZN_NEG_INFINITY);
}

// ---- Philox4x32-10 (Salmon et al., SC'11) -------------------------------------------------------
// Bit-identical to src/LZN.Native/Backends/Philox.cs: counter = (lo, hi, 0, 0), key = (lo, hi) of seed.

struct philox_words { unsigned int r0, r1, r2, r3; };

__device__ inline philox_words philox4x32_10(unsigned long long seed, unsigned long long counter) {
    const unsigned int M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    unsigned int c0 = (unsigned int)counter, c1 = (unsigned int)(counter >> 32), c2 = 0u, c3 = 0u;
    unsigned int k0 = (unsigned int)seed, k1 = (unsigned int)(seed >> 32);
    for (int round = 0; round < 10; ++round) {
        const unsigned int hi0 = __umulhi(M0, c0), lo0 = M0 * c0;
        const unsigned int hi1 = __umulhi(M1, c2), lo1 = M1 * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += W0;
        k1 += W1;
    }
    philox_words words = {c0, c1, c2, c3};
    return words;
}

// 2^-24: the top 24 bits of a word map onto [0, 1) exactly in float32.
#define LZN_PHILOX_UNIT_SCALE (1.0f / 16777216.0f)

// U[0, 1): the top 24 bits of the first word (exact, so identical to the CPU).
__device__ inline float philox_uniform(unsigned long long seed, unsigned long long counter) {
    return (float)(philox4x32_10(seed, counter).r0 >> 8) * LZN_PHILOX_UNIT_SCALE;
}

// N(0, 1): Box-Muller on the first two words, u1 in (0, 1] so the log is finite. The _rn intrinsics
// keep the compiler from contracting into FMAs, so only logf/sqrtf/cosf rounding differs from the CPU.
__device__ inline float philox_normal(unsigned long long seed, unsigned long long counter) {
    const philox_words words = philox4x32_10(seed, counter);
    const float u1 = (float)((words.r0 >> 8) + 1u) * LZN_PHILOX_UNIT_SCALE;
    const float u2 = (float)(words.r1 >> 8) * LZN_PHILOX_UNIT_SCALE;
    const float radius = sqrtf(__fmul_rn(-2.0f, logf(u1)));
    const float angle = __fmul_rn(__fmul_rn(2.0f, 3.14159265358979323846f), u2);
    return __fmul_rn(radius, cosf(angle));
}
