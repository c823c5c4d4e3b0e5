// The kernels' only inline PTX, behind small helpers: the dynamic shared memory size, cp.async with its
// commit and wait groups, and the TF32 tensor-core product mma.sync.m16n8k8 with cvt.rna.tf32.f32 (all
// sm_80+). Under the emulated device (src/LZN.Emulator, LZN_EMULATED_DEVICE) each helper has a host
// implementation; this is the one place where the two builds differ.
#pragma once

#ifdef LZN_EMULATED_DEVICE

__device__ __forceinline__ unsigned lzn_dynamic_shared_bytes() { return lzn_emu_dynamic_shared_size(); }

// The emulator queues the copy and performs it at the wait, so a read before the wait sees stale data.
template <int BYTES>
__device__ __forceinline__ void lzn_cp_async(void* shared_destination, const void* global_source, int source_bytes) {
    lzn_emu_cp_async(shared_destination, global_source, BYTES, source_bytes);
}

__device__ __forceinline__ void lzn_cp_async_commit() { lzn_emu_cp_async_commit(); }

template <int PENDING>
__device__ __forceinline__ void lzn_cp_async_wait() { lzn_emu_cp_async_wait(PENDING); }

__device__ __forceinline__ unsigned lzn_cvt_tf32(float value) { return lzn_emu_cvt_tf32(value); }

// The whole warp multiplies: the emulator gathers every lane's fragments and computes D = A B + C.
__device__ __forceinline__ void lzn_mma_m16n8k8_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2], const float (&c)[4]) {
    lzn_emu_mma_m16n8k8_tf32(d, a, b, c, __FILE__, __LINE__);
}

#else

__device__ __forceinline__ unsigned lzn_dynamic_shared_bytes() {
    unsigned bytes;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(bytes));
    return bytes;
}

// One asynchronous global -> shared copy of BYTES (4, 8 or 16; both addresses aligned to it). Only
// source_bytes (0 or BYTES) are read; the rest of the destination is zero-filled.
template <int BYTES>
__device__ __forceinline__ void lzn_cp_async(void* shared_destination, const void* global_source, int source_bytes) {
    const unsigned address = (unsigned)__cvta_generic_to_shared(shared_destination);
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(address), "l"(global_source), "n"(BYTES), "r"(source_bytes) : "memory");
}

__device__ __forceinline__ void lzn_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// Waits until at most PENDING of this thread's committed copy groups are in flight (a barrier then
// publishes every thread's copies).
template <int PENDING>
__device__ __forceinline__ void lzn_cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING) : "memory"); }

// A float rounded to TF32 (10 explicit mantissa bits; to nearest, ties away from zero), as an mma operand.
__device__ __forceinline__ unsigned lzn_cvt_tf32(float value) {
    unsigned result;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(result) : "f"(value));
    return result;
}

// D (16x8, fp32) = A (16x8, tf32, row) B (8x8, tf32, col) + C, one warp. Lane l holds, with g = l / 4 and
// q = l % 4: a = A[g][q], A[g+8][q], A[g][q+4], A[g+8][q+4]; b = B[q][g], B[q+4][g];
// c, d = C[g][2q], C[g][2q+1], C[g+8][2q], C[g+8][2q+1] (PTX ISA, "Matrix Fragments for mma.m16n8k8").
__device__ __forceinline__ void lzn_mma_m16n8k8_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2], const float (&c)[4]) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

#endif
