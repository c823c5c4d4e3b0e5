// Rectified flow (docs/math.md section 9): the training pair x_t, target; the mean squared error
// with its gradient in one pass; the scaled error norm of an adaptive ODE step.
// CPU mirror: Backends/Cpu/CpuFlowMatchingKernels.cs. Reductions are two fixed-order passes (per-block
// partials, then one block), so results are reproducible run to run and need no atomics.
#include "common.cuh"

// ------------------------------------------------------------------------------------------------
// kernels (launched by Backends/Cuda/CudaFlowMatchingKernels.cs; 1-D grid = ceil_div(n, block),
// capped at one resident wave for the elementwise kernel and at the partials buffer for reductions)
// ------------------------------------------------------------------------------------------------

// noisy[rows, row_length] = x0 + t_r (x1 - x0) (= t x1 + (1 - t) x0); target = x1 - x0.
extern "C" __global__ void rf_training_pair(const float* x1, const float* x0, const float* times, float* noisy,
                                            float* target, long long row_length, long long n) {
    LZN_GRID_STRIDE_LOOP(i, n) {
        const float start = x0[i];
        const float difference = x1[i] - start;
        target[i] = difference;
        noisy[i] = fmaf(difference, times[i / row_length], start);
    }
}

// Pass 1 of the MSE: partials[block] = sum of (pred - target)^2 over the block's elements, and
// grad = grad_scale * (pred - target) when grad is not null. Block: a multiple of 32.
extern "C" __global__ void rf_squared_error_partials(const float* pred, const float* target, float* grad,
                                                     long long n, float grad_scale, float* partials) {
    __shared__ float scratch[LZN_WARP_SIZE];
    float sum = 0.0f;
    LZN_GRID_STRIDE_LOOP(i, n) {
        const float difference = pred[i] - target[i];
        sum = fmaf(difference, difference, sum);
        if (grad != nullptr) grad[i] = grad_scale * difference;
    }
    sum = block_reduce_sum(sum, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// Pass 1 of the error norm: partials[block] = sum of (err / (atol + rtol max(|y0|, |y1|)))^2.
extern "C" __global__ void rf_scaled_error_partials(const float* err, const float* y0, const float* y1,
                                                    long long n, float rtol, float atol, float* partials) {
    __shared__ float scratch[LZN_WARP_SIZE];
    float sum = 0.0f;
    LZN_GRID_STRIDE_LOOP(i, n) {
        const float scaled = __fdiv_rn(err[i], fmaf(fmaxf(fabsf(y0[i]), fabsf(y1[i])), rtol, atol));
        sum = fmaf(scaled, scaled, sum);
    }
    sum = block_reduce_sum(sum, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// Pass 2: result[0] = scale * sum of partials[count]; one block.
extern "C" __global__ void rf_sum_partials(const float* partials, int count, float scale, float* result) {
    __shared__ float scratch[LZN_WARP_SIZE];
    float sum = 0.0f;
    for (int i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
    sum = block_reduce_sum(sum, scratch);
    if (threadIdx.x == 0) result[0] = scale * sum;
}
