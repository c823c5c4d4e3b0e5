// Kernels with planted faults, one per detector of the emulated CUDA device (src/LZN.Emulator), and their
// correct twins where a detector must also stay quiet. Compiled by NVRTC in the tests (the image) and by
// the emulator's build (the host module that runs); EmulatorDetectorTests launches them.
#include "common.cuh"
#include "ptx.cuh"

// out[i] = value for i < n; the tests plant an n past the end of `out`.
extern "C" __global__ void write_n(float* out, long long n, float value) {
    LZN_GRID_STRIDE_LOOP(i, n) out[i] = value;
}

// out[i] = in[i] for i < n; the tests plant an n past the end of `in` (a read fault).
extern "C" __global__ void copy_n(const float* in, float* out, long long n) {
    LZN_GRID_STRIDE_LOOP(i, n) out[i] = in[i];
}

// Every thread writes its slot of the dynamic shared array, then reads element `index` of it.
extern "C" __global__ void read_dynamic_shared(float* out, int index) {
    extern __shared__ float dynamicShared[];
    dynamicShared[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = dynamicShared[index];
}

// Threads from `exit_from` on leave before the barrier the others wait at.
extern "C" __global__ void exit_before_barrier(float* out, int exit_from) {
    if ((int)threadIdx.x >= exit_from) return;
    __syncthreads();
    out[threadIdx.x] = 1.0f;
}

// Odd and even threads wait at two different barriers.
extern "C" __global__ void split_barriers(float* out) {
    if (threadIdx.x % 2 == 1) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1.0f;
}

// Lanes from `active` on leave; the rest shuffle with the full mask, naming the lanes that left.
extern "C" __global__ void shuffle_after_exit(float* out, int active) {
    if ((int)(threadIdx.x % 32) >= active) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (float)threadIdx.x, 1);
}

// The low half-warp shuffles among itself but reads lanes of the high half, which are not in its mask.
extern "C" __global__ void shuffle_outside_mask(float* out) {
    if (threadIdx.x % 32 < 16) out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, (float)threadIdx.x, 16);
}

// A warp sum that every lane joins: no fault.
extern "C" __global__ void warp_sums(float* out) {
    out[threadIdx.x] = warp_reduce_sum((float)threadIdx.x);
}

// Each thread reads its neighbour's shared slot; `synchronised` decides whether a barrier comes first.
extern "C" __global__ void read_neighbour(float* out, int synchronised) {
    __shared__ float slots[1024];
    slots[threadIdx.x] = (float)(blockIdx.x * blockDim.x + threadIdx.x + 1);
    if (synchronised) __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = slots[(threadIdx.x + 1) % blockDim.x];
}

// Thread 0 of every block writes its block index to out[0]: which block writes last decides the output.
extern "C" __global__ void blocks_write_one_element(float* out) {
    if (threadIdx.x == 0) out[0] = (float)blockIdx.x;
}

// Stages in[] through shared memory with cp.async; `wait_first` decides whether the read waits for it.
extern "C" __global__ void staged_copy(const float* in, float* out, int wait_first) {
    extern __shared__ float dynamicShared[];
    lzn_cp_async<4>(&dynamicShared[threadIdx.x], &in[threadIdx.x], 4);
    lzn_cp_async_commit();
    if (wait_first) lzn_cp_async_wait<0>();
    out[threadIdx.x] = dynamicShared[threadIdx.x];
    lzn_cp_async_wait<0>();
}

// A float4 load from in + offset; an offset that is not a multiple of 4 floats is misaligned.
extern "C" __global__ void load_vector(const float* in, float* out, int offset) {
    const float4 v = *reinterpret_cast<const float4*>(in + offset);
    out[0] = v.x + v.y + v.z + v.w;
}

// Traps when asked to.
extern "C" __global__ void trap_if(int trap) {
    if (trap) __trap();
}

// At most 128 threads per block.
extern "C" __global__ void __launch_bounds__(128) bounded(float* out) {
    out[threadIdx.x] = 1.0f;
}

// Many live accumulators, so the kernel needs more registers than a 1024-thread block can have.
extern "C" __global__ void register_hungry(const float* in, float* out, int steps) {
    float acc[96];
#pragma unroll
    for (int j = 0; j < 96; j++) acc[j] = in[j];
    for (int s = 0; s < steps; s++) {
#pragma unroll
        for (int j = 0; j < 96; j++) acc[j] = fmaf(acc[j], acc[(j + 1) % 96], in[s]);
    }
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < 96; j++) sum += acc[j];
    out[threadIdx.x] = sum;
}

// D = A B for A [16, 8] (row-major), B [8, 8] (b[k * 8 + n]) and D [16, 8] on the tensor cores, each lane loading
// its fragments as the PTX ISA lays them out; `swap` plants a layout error (a1 and a2 exchanged), `unconverted`
// hands the mma raw floats instead of cvt.rna.tf32 values.
extern "C" __global__ void mma_tile(const float* a, const float* b, float* d, int swap, int unconverted) {
    const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
    auto operand = [&](float v) { return unconverted ? __float_as_uint(v) : lzn_cvt_tf32(v); };
    unsigned fa[4] = {operand(a[g * 8 + q]), operand(a[(g + 8) * 8 + q]), operand(a[g * 8 + q + 4]), operand(a[(g + 8) * 8 + q + 4])};
    if (swap) {
        const unsigned t = fa[1];
        fa[1] = fa[2];
        fa[2] = t;
    }
    const unsigned fb[2] = {operand(b[q * 8 + g]), operand(b[(q + 4) * 8 + g])};
    const float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    float out[4];
    lzn_mma_m16n8k8_tf32(out, fa, fb, c);
    d[g * 8 + 2 * q] = out[0];
    d[g * 8 + 2 * q + 1] = out[1];
    d[(g + 8) * 8 + 2 * q] = out[2];
    d[(g + 8) * 8 + 2 * q + 1] = out[3];
}
