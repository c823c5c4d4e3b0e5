// Counter-based random fills: element i draws Philox4x32-10 at counter (offset + i) under key seed,
// so a fill is identical whatever the launch shape. CPU mirror: Backends/Philox.cs and
// CpuBackend.FillNormal / FillUniform / FillBernoulli. The _rn intrinsics stop FMA contraction, matching the CPU's
// separate multiply and add.
#include "common.cuh"

// ------------------------------------------------------------------------------------------------
// kernels (launched by Backends/Cuda/CudaBackend.Reductions.cs; 1-D grid = ceil_div(n, block),
// capped at one resident wave)
// ------------------------------------------------------------------------------------------------

// out[n] = mean + std * N(0, 1)
extern "C" __global__ void fill_normal(float* out, long long n, unsigned long long seed, unsigned long long offset,
                                       float mean, float std_dev) {
    LZN_GRID_STRIDE_LOOP(i, n)
        out[i] = __fadd_rn(mean, __fmul_rn(std_dev, philox_normal(seed, offset + (unsigned long long)i)));
}

// out[n] = low + (high - low) * U[0, 1)
extern "C" __global__ void fill_uniform(float* out, long long n, unsigned long long seed, unsigned long long offset,
                                        float low, float high) {
    const float width = high - low;
    LZN_GRID_STRIDE_LOOP(i, n)
        out[i] = __fadd_rn(low, __fmul_rn(width, philox_uniform(seed, offset + (unsigned long long)i)));
}

// out[n] = value where U[0, 1) < probability, else 0 (dropout masks: value = 1 / keep probability)
extern "C" __global__ void fill_bernoulli(float* out, long long n, unsigned long long seed, unsigned long long offset,
                                          float probability, float value) {
    LZN_GRID_STRIDE_LOOP(i, n)
        out[i] = philox_uniform(seed, offset + (unsigned long long)i) < probability ? value : 0.0f;
}
