// The kernels' only inline PTX, behind small helpers: the dynamic shared memory size and cp.async with its
// commit and wait groups (sm_80+). Under the emulated device (src/LZN.Emulator, LZN_EMULATED_DEVICE) each
// helper has a host implementation; this is the one place where the two builds differ.
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

#endif
