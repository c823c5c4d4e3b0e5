// The interface between host-compiled kernel modules (kernels/*.cu built with lzn_emulation.h) and the
// emulated driver (libcuda.so.1). Plain C types only: a module and the driver are separate shared objects.
#pragma once

#include <stddef.h>
#include <stdint.h>

#define LZN_EMU_ABI_VERSION 1

// Every emulated architecture's opt-in maximum fits in this (sm_90: 227 KiB); the dynamic shared array
// of each module is this large per worker thread, and accesses beyond the launched size are faults.
#define LZN_EMU_MAX_DYNAMIC_SHARED (232448u)

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lzn_emu_dim3 {
    unsigned x, y, z;
} lzn_emu_dim3;

// One extern "C" __global__ function of a module: its parameter sizes as the host compiler laid them
// out, and a trampoline that calls it with args[i] pointing at parameter i.
typedef struct lzn_emu_kernel_info {
    const char* name;
    int param_count;
    const unsigned short* param_sizes;
    void (*invoke)(void* const* args);
} lzn_emu_kernel_info;

// One source file the module was compiled from (its path at build time), with the exact bytes it had.
typedef struct lzn_emu_source_file {
    const char* path;
    const unsigned char* bytes;
    size_t length;
} lzn_emu_source_file;

// What a module (modules/<file>.so) exports through lzn_emu_module().
typedef struct lzn_emu_module_info {
    int abi_version;
    const char* file;            // e.g. "latent_zone.cu"
    int kernel_count;
    const lzn_emu_kernel_info* kernels;
    int source_count;
    const lzn_emu_source_file* sources;
    // The calling worker thread's dynamic shared array (extern __shared__), or null when the module has none.
    void* (*dynamic_shared)(void);
} lzn_emu_module_info;

typedef const lzn_emu_module_info* (*lzn_emu_module_fn)(void);

// ---- runtime calls made by kernel code (implemented by the driver) ----------------------------------

lzn_emu_dim3 lzn_emu_thread_idx(void) __attribute__((const));
lzn_emu_dim3 lzn_emu_block_idx(void) __attribute__((const));
lzn_emu_dim3 lzn_emu_block_dim(void) __attribute__((const));
lzn_emu_dim3 lzn_emu_grid_dim(void) __attribute__((const));

void lzn_emu_syncthreads(const char* file, int line);
int lzn_emu_syncthreads_vote(int kind, int predicate, const char* file, int line);

// Warp collectives. kind: LZN_EMU_SHFL_* or LZN_EMU_VOTE_*; the value travels as its bits.
enum {
    LZN_EMU_SHFL_IDX = 0,
    LZN_EMU_SHFL_UP = 1,
    LZN_EMU_SHFL_DOWN = 2,
    LZN_EMU_SHFL_XOR = 3,
    LZN_EMU_VOTE_ALL = 4,
    LZN_EMU_VOTE_ANY = 5,
    LZN_EMU_VOTE_BALLOT = 6,
    LZN_EMU_SYNCWARP = 7,
    LZN_EMU_MMA_M16N8K8_TF32 = 8,
};
uint64_t lzn_emu_warp_collective(int kind, unsigned mask, uint64_t value, int lane_argument, int width,
                                 const char* file, int line);
unsigned lzn_emu_active_mask(void);

// Memory: every load and store of kernel code reports here (GCC's kernel-address instrumentation).
void lzn_emu_check_access(const void* address, size_t bytes, int is_write);

// PTX helpers (kernels/ptx.cuh): the dynamic shared size and cp.async with commit/wait groups.
unsigned lzn_emu_dynamic_shared_size(void);
void lzn_emu_cp_async(void* shared_destination, const void* global_source, int bytes, int source_bytes);
void lzn_emu_cp_async_commit(void);
void lzn_emu_cp_async_wait(int pending_groups);

// TF32 tensor cores: cvt.rna.tf32.f32 and mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 (a warp collective:
// every lane of the warp takes part; the fragments are the PTX ISA's).
unsigned lzn_emu_cvt_tf32(float value) __attribute__((const));
void lzn_emu_mma_m16n8k8_tf32(float* d, const unsigned* a, const unsigned* b, const float* c, const char* file, int line);

// How the tensor cores' TF32 sums round (the mma above and the emulated cuBLAS's TF32 GEMMs share it). By default a
// sum of exact products is rounded once to nearest. LZN_EMULATOR_TF32=truncate models what published measurements of
// NVIDIA tensor cores report: the addends are aligned to the largest one's exponent and cut toward zero (here 3 bits
// below fp32's last, calibrated on an H200, executor.cpp), the sum is cut toward zero to fp32, and cuBLAS reads only
// the 10 leading mantissa bits of an fp32 operand.
int lzn_emu_tf32_truncates(void);
float lzn_emu_tf32_accumulate(const double* terms, int count, int truncate);

__attribute__((noreturn)) void lzn_emu_trap(const char* file, int line);

#ifdef __cplusplus
}
#endif
