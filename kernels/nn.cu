// Neural-network kernels: im2col / col2im, leading-axis transpose, group normalisation (layer
// normalisation is the case groups = 1, spatial = 1), nearest 2x upsampling, per-channel bias,
// sinusoidal time embedding, column-block copies, row gather and one-hot encoding.
// Layouts: images NCHW, batch-major; matrices row-major. CPU mirror: Backends/Cpu/CpuNnKernels*.cs;
// contract and shapes: Backends/INnKernels.cs.
#include "common.cuh"

// ------------------------------------------------------------------------------------------------
// kernels (launched by Backends/Cuda/CudaNnKernels.cs; elementwise kernels use a 1-D grid-stride
// loop with grid = ceil_div(n, block) capped at one resident wave; reductions use one block per
// (sample, group) or per channel, a fixed order and no atomics, so results are reproducible)
// ------------------------------------------------------------------------------------------------

// input [batch, channels, height, width] -> columns [channels * k * k, batch * out_h * out_w]
extern "C" __global__ void im2col(const float* input, float* columns, int batch, int channels, int height, int width,
                                  int k, int stride, int padding, int out_h, int out_w) {
    const long long pixels = (long long)out_h * out_w;
    const long long row_length = batch * pixels;
    const long long total = (long long)channels * k * k * row_length;
    LZN_GRID_STRIDE_LOOP(i, total) {
        const long long row = i / row_length, col = i % row_length;
        const int n = (int)(col / pixels), p = (int)(col % pixels);
        const int oy = p / out_w, ox = p % out_w;
        const int c = (int)(row / (k * k)), ki = (int)(row / k % k), kj = (int)(row % k);
        const int y = oy * stride + ki - padding, x = ox * stride + kj - padding;
        columns[i] = (y >= 0 && y < height && x >= 0 && x < width)
            ? input[(((long long)n * channels + c) * height + y) * width + x] : 0.0f;
    }
}

// Adjoint of im2col, gathered per input element (one writer each, no atomics):
// input[n, c, y, x] = sum over (ki, kj) with y = oy * stride + ki - padding, x = ox * stride + kj - padding.
extern "C" __global__ void col2im(const float* columns, float* input, int batch, int channels, int height, int width,
                                  int k, int stride, int padding, int out_h, int out_w) {
    const long long pixels = (long long)out_h * out_w;
    const long long row_length = batch * pixels;
    const long long total = (long long)batch * channels * height * width;
    LZN_GRID_STRIDE_LOOP(i, total) {
        const int x = (int)(i % width), y = (int)(i / width % height);
        const int c = (int)(i / ((long long)width * height) % channels), n = (int)(i / ((long long)width * height * channels));
        float sum = 0.0f;
        for (int ki = 0; ki < k; ++ki) {
            const int ty = y + padding - ki;
            if (ty < 0 || ty % stride != 0 || ty / stride >= out_h) continue;
            for (int kj = 0; kj < k; ++kj) {
                const int tx = x + padding - kj;
                if (tx < 0 || tx % stride != 0 || tx / stride >= out_w) continue;
                const long long row = ((long long)c * k + ki) * k + kj;
                sum += columns[row * row_length + n * pixels + (long long)(ty / stride) * out_w + tx / stride];
            }
        }
        input[i] = sum;
    }
}

// x [outer, middle, inner] -> y [middle, outer, inner]
extern "C" __global__ void transpose_leading(const float* x, float* y, long long outer, long long middle, long long inner) {
    const long long total = outer * middle * inner;
    LZN_GRID_STRIDE_LOOP(i, total) {
        const long long m = i / (outer * inner), o = i / inner % outer, e = i % inner;
        y[i] = x[(o * middle + m) * inner + e];
    }
}

// One block per (sample, group) of x [batch, channels, spatial]: two-pass mean and biased variance,
// then y = (x - mean) * rstd * gamma[c] + beta[c]; saves mean, rstd [batch, groups].
extern "C" __global__ void group_norm_forward(const float* x, const float* gamma, const float* beta, float* y,
                                              float* mean, float* rstd, int channels, int spatial, int groups,
                                              float epsilon) {
    __shared__ float scratch[LZN_WARP_SIZE];
    const int item = blockIdx.x;
    const int channels_per_group = channels / groups;
    const long long group_length = (long long)channels_per_group * spatial;
    const float* x_group = x + item * group_length;
    float* y_group = y + item * group_length;
    const int first_channel = item % groups * channels_per_group;

    float sum = 0.0f;
    for (long long i = threadIdx.x; i < group_length; i += blockDim.x) sum += x_group[i];
    const float group_mean = block_reduce_sum(sum, scratch) / (float)group_length;
    float squares = 0.0f;
    for (long long i = threadIdx.x; i < group_length; i += blockDim.x) {
        const float deviation = x_group[i] - group_mean;
        squares += deviation * deviation;
    }
    const float group_rstd = rsqrtf(block_reduce_sum(squares, scratch) / (float)group_length + epsilon);
    for (long long i = threadIdx.x; i < group_length; i += blockDim.x) {
        const int c = first_channel + (int)(i / spatial);
        y_group[i] = (x_group[i] - group_mean) * group_rstd * gamma[c] + beta[c];
    }
    if (threadIdx.x == 0) {
        mean[item] = group_mean;
        rstd[item] = group_rstd;
    }
}

// One block per (sample, group): dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy * gamma[c].
extern "C" __global__ void group_norm_backward_input(const float* x, const float* gamma, const float* mean,
                                                     const float* rstd, const float* dy, float* dx, int channels,
                                                     int spatial, int groups) {
    __shared__ float scratch[LZN_WARP_SIZE];
    const int item = blockIdx.x;
    const int channels_per_group = channels / groups;
    const long long group_length = (long long)channels_per_group * spatial;
    const long long offset = item * group_length;
    const int first_channel = item % groups * channels_per_group;
    const float group_mean = mean[item], group_rstd = rstd[item];

    float grad_sum = 0.0f, grad_dot = 0.0f;
    for (long long i = threadIdx.x; i < group_length; i += blockDim.x) {
        const float g = dy[offset + i] * gamma[first_channel + (int)(i / spatial)];
        grad_sum += g;
        grad_dot += g * (x[offset + i] - group_mean) * group_rstd;
    }
    const float mean_grad = block_reduce_sum(grad_sum, scratch) / (float)group_length;
    const float mean_grad_normalized = block_reduce_sum(grad_dot, scratch) / (float)group_length;
    for (long long i = threadIdx.x; i < group_length; i += blockDim.x) {
        const float g = dy[offset + i] * gamma[first_channel + (int)(i / spatial)];
        const float normalized = (x[offset + i] - group_mean) * group_rstd;
        dx[offset + i] = group_rstd * (g - mean_grad - normalized * mean_grad_normalized);
    }
}

// One block per channel: dgamma[c] += sum_{n,s} dy xhat, dbeta[c] += sum_{n,s} dy.
extern "C" __global__ void group_norm_backward_params(const float* x, const float* mean, const float* rstd,
                                                      const float* dy, float* dgamma, float* dbeta, int batch,
                                                      int channels, int spatial, int groups) {
    __shared__ float scratch[LZN_WARP_SIZE];
    const int c = blockIdx.x;
    const int group = c / (channels / groups);
    const long long count = (long long)batch * spatial;
    float gamma_sum = 0.0f, beta_sum = 0.0f;
    for (long long i = threadIdx.x; i < count; i += blockDim.x) {
        const int n = (int)(i / spatial);
        const long long index = ((long long)n * channels + c) * spatial + i % spatial;
        const int item = n * groups + group;
        gamma_sum += dy[index] * (x[index] - mean[item]) * rstd[item];
        beta_sum += dy[index];
    }
    gamma_sum = block_reduce_sum(gamma_sum, scratch);
    beta_sum = block_reduce_sum(beta_sum, scratch);
    if (threadIdx.x == 0) {
        dgamma[c] += gamma_sum;
        dbeta[c] += beta_sum;
    }
}

// x [planes, h, w] -> y [planes, 2h, 2w], nearest neighbour
extern "C" __global__ void upsample2x_forward(const float* x, float* y, long long planes, int height, int width) {
    const long long total = planes * 4 * height * width;
    LZN_GRID_STRIDE_LOOP(i, total) {
        const int ox = (int)(i % (2 * width)), oy = (int)(i / (2 * width) % (2 * height));
        const long long plane = i / (4LL * height * width);
        y[i] = x[(plane * height + oy / 2) * width + ox / 2];
    }
}

// dx [planes, h, w] = sum of each 2x2 block of dy [planes, 2h, 2w]
extern "C" __global__ void upsample2x_backward(const float* dy, float* dx, long long planes, int height, int width) {
    const long long total = planes * height * width;
    LZN_GRID_STRIDE_LOOP(i, total) {
        const int x = (int)(i % width), y = (int)(i / width % height);
        const long long plane = i / ((long long)height * width);
        const float* top = dy + (plane * 2 * height + 2 * y) * 2 * width + 2 * x;
        const float* bottom = top + 2 * width;
        dx[i] = top[0] + top[1] + bottom[0] + bottom[1];
    }
}

// x [batch, channels, spatial] += bias [channels]
extern "C" __global__ void add_channel_bias(float* x, const float* bias, int batch, int channels, int spatial) {
    const long long total = (long long)batch * channels * spatial;
    LZN_GRID_STRIDE_LOOP(i, total) x[i] += bias[i / spatial % channels];
}

// One block per channel: dbias[c] += sum_{n,s} dy[n, c, s]
extern "C" __global__ void channel_bias_backward(const float* dy, float* dbias, int batch, int channels, int spatial) {
    __shared__ float scratch[LZN_WARP_SIZE];
    const int c = blockIdx.x;
    const long long count = (long long)batch * spatial;
    float sum = 0.0f;
    for (long long i = threadIdx.x; i < count; i += blockDim.x)
        sum += dy[((i / spatial) * channels + c) * spatial + i % spatial];
    sum = block_reduce_sum(sum, scratch);
    if (threadIdx.x == 0) dbias[c] += sum;
}

// out [rows, dim]: out[r, i] = cos(s t_r f_i), out[r, half + i] = sin(s t_r f_i), f_i = exp(-log_max_period * i / half)
extern "C" __global__ void sinusoidal_embedding(const float* times, float* out, int rows, int dim, float time_scale,
                                                float log_max_period) {
    const int half = dim / 2;
    const long long total = (long long)rows * half;
    LZN_GRID_STRIDE_LOOP(i, total) {
        const int r = (int)(i / half), j = (int)(i % half);
        const float argument = time_scale * times[r] * expf(-log_max_period * (float)j / (float)half);
        float sine, cosine;
        sincosf(argument, &sine, &cosine);
        out[(long long)r * dim + j] = cosine;
        out[(long long)r * dim + half + j] = sine;
    }
}

// dst[r, dst_offset + j] = src[r, src_offset + j] for j < count
extern "C" __global__ void copy_columns(const float* src, float* dst, int rows, int src_columns, int src_offset,
                                        int dst_columns, int dst_offset, int count) {
    const long long total = (long long)rows * count;
    LZN_GRID_STRIDE_LOOP(i, total) {
        const long long r = i / count, j = i % count;
        dst[r * dst_columns + dst_offset + j] = src[r * src_columns + src_offset + j];
    }
}

// dst[r, :] = src[indices[r], :]; an index outside [0, source_rows) yields a NaN row (kernels cannot throw)
extern "C" __global__ void gather_rows(const float* src, const int* indices, float* dst, int rows, int columns,
                                       int source_rows) {
    const long long total = (long long)rows * columns;
    LZN_GRID_STRIDE_LOOP(i, total) {
        const int index = indices[i / columns];
        dst[i] = (index >= 0 && index < source_rows) ? src[(long long)index * columns + i % columns] : __int_as_float(0x7fc00000);
    }
}

// out [rows, classes] = one-hot(labels [rows])
extern "C" __global__ void one_hot(const int* labels, float* out, int rows, int classes) {
    const long long total = (long long)rows * classes;
    LZN_GRID_STRIDE_LOOP(i, total) out[i] = labels[i / classes] == (int)(i % classes) ? 1.0f : 0.0f;
}
