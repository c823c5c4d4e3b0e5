// Elementwise kernels: fills, axpby, multiply, scale-shift, activations (forward and backward),
// row-vector broadcast add. CPU mirror: Backends/Cpu/CpuElementwise.cs (the activation kind numbers are
// ActivationKind's values, Backends/IBackend.cs).
#include "common.cuh"

#define LZN_ACT_IDENTITY 0
#define LZN_ACT_RELU 1
#define LZN_ACT_SILU 2
#define LZN_ACT_TANH 3
#define LZN_ACT_SIGMOID 4
#define LZN_ACT_GELU 5

#define LZN_SQRT_TWO_OVER_PI 0.7978845608f
#define LZN_GELU_CUBIC 0.044715f

__device__ inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ inline float gelu_inner(float x) { return LZN_SQRT_TWO_OVER_PI * (x + LZN_GELU_CUBIC * x * x * x); }

__device__ inline float activation_value(int kind, float x) {
    switch (kind) {
        case LZN_ACT_RELU: return x > 0.0f ? x : 0.0f;
        case LZN_ACT_SILU: return x / (1.0f + expf(-x));
        case LZN_ACT_TANH: return tanhf(x);
        case LZN_ACT_SIGMOID: return sigmoidf(x);
        case LZN_ACT_GELU: return 0.5f * x * (1.0f + tanhf(gelu_inner(x)));
        default: return x;
    }
}

// f'(x), for dx = dy * f'(x). 1 - s is evaluated as sigmoid(-x) and 1 - tanh^2 as 4 s (1 - s), as the CPU
// mirror does, so no derivative loses digits to cancellation where the activation saturates.
__device__ inline float activation_derivative(int kind, float x) {
    switch (kind) {
        case LZN_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
        case LZN_ACT_SILU: return sigmoidf(x) * (1.0f + x * sigmoidf(-x));  // s (1 + x (1 - s))
        case LZN_ACT_TANH: return 4.0f * (sigmoidf(2.0f * x) * sigmoidf(-2.0f * x));
        case LZN_ACT_SIGMOID: return sigmoidf(x) * sigmoidf(-x);
        case LZN_ACT_GELU: {
            // 0.5 (1 + th) + 0.5 x (1 - th^2) z' = s + 2 x s (1 - s) z', th = tanh(z), s = sigmoid(2z)
            const float z2 = 2.0f * gelu_inner(x);
            const float s = sigmoidf(z2);
            const float two_d_inner = 2.0f * LZN_SQRT_TWO_OVER_PI * (1.0f + 3.0f * LZN_GELU_CUBIC * x * x);
            return s + (s * sigmoidf(-z2)) * x * two_d_inner;
        }
        default: return 1.0f;
    }
}

// ------------------------------------------------------------------------------------------------
// kernels (launched by Backends/Cuda/CudaBackend.Elementwise.cs, fills by CudaBackend.Memory.cs;
// 1-D grid = ceil_div(n, block), capped at one resident wave)
// ------------------------------------------------------------------------------------------------

// out[n] = value
extern "C" __global__ void fill_float(float* out, long long n, float value) {
    LZN_GRID_STRIDE_LOOP(i, n) out[i] = value;
}

// out[n] = value
extern "C" __global__ void fill_int(int* out, long long n, int value) {
    LZN_GRID_STRIDE_LOOP(i, n) out[i] = value;
}

// y[n] = alpha * x[n] + beta * y[n]
extern "C" __global__ void axpby(const float* x, float* y, long long n, float alpha, float beta) {
    LZN_GRID_STRIDE_LOOP(i, n) y[i] = alpha * x[i] + beta * y[i];
}

// z[n] = x[n] * y[n]; z may alias x or y (each element is read before it is written, by one thread)
extern "C" __global__ void multiply(const float* x, const float* y, float* z, long long n) {
    LZN_GRID_STRIDE_LOOP(i, n) z[i] = x[i] * y[i];
}

// x[n] = alpha * x[n] + shift
extern "C" __global__ void scale_shift(float* x, long long n, float alpha, float shift) {
    LZN_GRID_STRIDE_LOOP(i, n) x[i] = alpha * x[i] + shift;
}

// y[n] = f(x[n]); y may alias x
extern "C" __global__ void activation_forward(const float* x, float* y, long long n, int kind) {
    LZN_GRID_STRIDE_LOOP(i, n) y[i] = activation_value(kind, x[i]);
}

// dx[n] = dy[n] * f'(x[n]); dx may alias dy
extern "C" __global__ void activation_backward(const float* x, const float* dy, float* dx, long long n, int kind) {
    LZN_GRID_STRIDE_LOOP(i, n) dx[i] = dy[i] * activation_derivative(kind, x[i]);
}

// x[rows, cols] += alpha * v[cols] broadcast over rows
extern "C" __global__ void add_row_vector(float* x, const float* v, long long rows, long long cols, float alpha) {
    const long long n = rows * cols;
    LZN_GRID_STRIDE_LOOP(i, n) x[i] += alpha * v[i % cols];
}
