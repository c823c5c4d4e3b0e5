// Reductions: sum and sum of squares (two deterministic passes), column sums, row sums, row softmax.
// CPU mirror: Backends/Cpu/CpuBackend.cs (Sum, SumOfSquares, ColumnSums, RowSums, SoftmaxRows).
// Every reduction has a fixed order for a given launch shape, so results are reproducible run to run.
#include "common.cuh"

// Column sums use a 32 x 32 block: x walks columns (coalesced), y splits the rows.
#define LZN_COLUMN_TILE 32

// ------------------------------------------------------------------------------------------------
// kernels (launched by Backends/Cuda/CudaBackend.Reductions.cs)
// ------------------------------------------------------------------------------------------------

// Pass 1 of Sum / SumOfSquares: partials[gridDim.x] = per-block sums of x[n] (or of x^2).
// Block: any multiple of 32; grid: ceil_div(n, block) capped at the partials buffer's length.
extern "C" __global__ void sum_partials(const float* x, long long n, int squares, float* partials) {
    __shared__ float scratch[LZN_WARP_SIZE];
    float sum = 0.0f;
    LZN_GRID_STRIDE_LOOP(i, n) {
        const float value = x[i];
        sum += squares ? value * value : value;
    }
    sum = block_reduce_sum(sum, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// Pass 2: result[0] = sum of partials[count]; one block.
extern "C" __global__ void sum_final(const float* partials, int count, float* result) {
    __shared__ float scratch[LZN_WARP_SIZE];
    float sum = 0.0f;
    for (int i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
    sum = block_reduce_sum(sum, scratch);
    if (threadIdx.x == 0) result[0] = sum;
}

// out[cols] = sum over rows of x[rows, cols]. Block (32, 32); grid.x = ceil_div(cols, 32).
extern "C" __global__ void column_sums(const float* x, int rows, int cols, float* out) {
    __shared__ float tile[LZN_COLUMN_TILE][LZN_COLUMN_TILE + 1];
    const int col = blockIdx.x * LZN_COLUMN_TILE + threadIdx.x;
    float sum = 0.0f;
    if (col < cols)
        for (int row = threadIdx.y; row < rows; row += LZN_COLUMN_TILE) sum += x[(long long)row * cols + col];
    tile[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
        float total = 0.0f;
        for (int part = 0; part < LZN_COLUMN_TILE; ++part) total += tile[part][threadIdx.x];
        out[col] = total;
    }
}

// out[rows] = sum over columns of x[rows, cols]. One warp per row; grid = ceil_div(rows, warps per block).
extern "C" __global__ void row_sums(const float* x, int rows, int cols, float* out) {
    const int lane = threadIdx.x % LZN_WARP_SIZE;
    const int row = blockIdx.x * (blockDim.x / LZN_WARP_SIZE) + threadIdx.x / LZN_WARP_SIZE;
    if (row >= rows) return;
    const float* x_row = x + (long long)row * cols;
    float sum = 0.0f;
    for (int col = lane; col < cols; col += LZN_WARP_SIZE) sum += x_row[col];
    sum = warp_reduce_sum(sum);
    if (lane == 0) out[row] = sum;
}

// y[rows, cols] = softmax over each row of x (y may alias x). One warp per row: an online pass
// keeps a running max and a sum rescaled to it, the lanes merge, then a second pass writes.
extern "C" __global__ void softmax_rows(const float* x, float* y, int rows, int cols) {
    const int lane = threadIdx.x % LZN_WARP_SIZE;
    const int row = blockIdx.x * (blockDim.x / LZN_WARP_SIZE) + threadIdx.x / LZN_WARP_SIZE;
    if (row >= rows) return;
    const float* x_row = x + (long long)row * cols;
    float* y_row = y + (long long)row * cols;
    float running_max = LZN_NEG_INFINITY;
    float running_sum = 0.0f;
    for (int col = lane; col < cols; col += LZN_WARP_SIZE) {
        const float value = x_row[col];
        if (value > running_max) {
            running_sum = running_sum * expf(running_max - value) + 1.0f;
            running_max = value;
        } else if (value != LZN_NEG_INFINITY) {
            // -inf adds exp(-inf) = 0; skipping it also keeps a lane that has seen only -inf from adding
            // expf(-inf - -inf) = NaN, which no later finite element would undo.
            running_sum += expf(value - running_max);
        }
    }
    const float row_max = warp_reduce_max(running_max);
    // A lane that saw no element (or only -inf) contributes nothing; avoid exp(-inf - -inf) = NaN.
    float row_sum = running_max == LZN_NEG_INFINITY ? 0.0f : running_sum * expf(running_max - row_max);
    row_sum = warp_reduce_sum(row_sum);
    const float inverse = 1.0f / row_sum;
    for (int col = lane; col < cols; col += LZN_WARP_SIZE) y_row[col] = expf(x_row[col] - row_max) * inverse;
}
