// The CUDA device dialect for g++: force-included before a kernels/*.cu file so that the file compiles
// unchanged for the host. Each thread of a block runs as a fiber; the built-in indices, barriers, warp
// collectives and the few PTX helpers call into the emulated driver (lzn_emu_abi.h), which schedules the
// fibers and checks every memory access of kernel code.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lzn_emu_abi.h"

#define LZN_EMULATED_DEVICE 1

// ---- declaration specifiers ---------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __noinline__ __attribute__((noinline))
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __constant__ const
// One block's threads are fibers of one OS thread, so thread-local storage is the block's shared memory.
#define __shared__ thread_local

// ---- vector types --------------------------------------------------------------------------------------
struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
// A GPU loads and stores a vector type in one access that must be aligned to its size; the host compiler
// would split it into scalar accesses, so each copy reports the whole vector's access first.
#define LZN_EMU_VECTOR2(name, T)                                                                          \
    struct alignas(2 * sizeof(T)) name {                                                                  \
        T x, y;                                                                                           \
        name() = default;                                                                                 \
        constexpr name(T a, T b) : x(a), y(b) {}                                                          \
        name(const name& o) : x((lzn_emu_check_access(&o, sizeof(name), 0), o.x)), y(o.y) {}             \
        name& operator=(const name& o) {                                                                  \
            lzn_emu_check_access(&o, sizeof(name), 0);                                                    \
            lzn_emu_check_access(this, sizeof(name), 1);                                                  \
            x = o.x, y = o.y;                                                                             \
            return *this;                                                                                 \
        }                                                                                                 \
    };
#define LZN_EMU_VECTOR4(name, T)                                                                          \
    struct alignas(4 * sizeof(T)) name {                                                                  \
        T x, y, z, w;                                                                                     \
        name() = default;                                                                                 \
        constexpr name(T a, T b, T c, T d) : x(a), y(b), z(c), w(d) {}                                    \
        name(const name& o) : x((lzn_emu_check_access(&o, sizeof(name), 0), o.x)), y(o.y), z(o.z), w(o.w) {} \
        name& operator=(const name& o) {                                                                  \
            lzn_emu_check_access(&o, sizeof(name), 0);                                                    \
            lzn_emu_check_access(this, sizeof(name), 1);                                                  \
            x = o.x, y = o.y, z = o.z, w = o.w;                                                           \
            return *this;                                                                                 \
        }                                                                                                 \
    };
LZN_EMU_VECTOR2(float2, float)
LZN_EMU_VECTOR4(float4, float)
LZN_EMU_VECTOR2(int2, int)
LZN_EMU_VECTOR4(int4, int)
LZN_EMU_VECTOR2(uint2, unsigned)
LZN_EMU_VECTOR4(uint4, unsigned)
LZN_EMU_VECTOR2(double2, double)

inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

namespace lzn_emu_device {
inline uint3 to_uint3(lzn_emu_dim3 v) { return uint3{v.x, v.y, v.z}; }
}  // namespace lzn_emu_device

#define threadIdx (::lzn_emu_device::to_uint3(lzn_emu_thread_idx()))
#define blockIdx (::lzn_emu_device::to_uint3(lzn_emu_block_idx()))
#define blockDim (::lzn_emu_device::to_uint3(lzn_emu_block_dim()))
#define gridDim (::lzn_emu_device::to_uint3(lzn_emu_grid_dim()))
#define warpSize 32

// ---- arithmetic built-ins ------------------------------------------------------------------------------
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
// The round-to-nearest intrinsics are single IEEE operations; the module is built without contraction.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
// The fast-math intrinsics: the accurate host functions (a GPU differs in the last bits either way).
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float a, float b) { return a / b; }

inline float __int_as_float(int i) { float f; memcpy(&f, &i, sizeof f); return f; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, sizeof i); return i; }
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, sizeof f); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, sizeof u); return u; }
inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, sizeof d); return d; }
inline long long __double_as_longlong(double d) { long long i; memcpy(&i, &d, sizeof i); return i; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
    return (x >> 16) | (x << 16);
}
template <typename T>
inline T __ldg(const T* p) { return *p; }

// ---- barriers, warp collectives, traps --------------------------------------------------------------
#define __syncthreads() lzn_emu_syncthreads(__FILE__, __LINE__)
#define __syncthreads_count(p) lzn_emu_syncthreads_vote(0, (p) ? 1 : 0, __FILE__, __LINE__)
#define __syncthreads_and(p) lzn_emu_syncthreads_vote(1, (p) ? 1 : 0, __FILE__, __LINE__)
#define __syncthreads_or(p) lzn_emu_syncthreads_vote(2, (p) ? 1 : 0, __FILE__, __LINE__)
#define __trap() lzn_emu_trap(__FILE__, __LINE__)
#define __activemask() lzn_emu_active_mask()

namespace lzn_emu_device {
template <typename T>
inline T shuffle(int kind, const char* file, int line, unsigned mask, T value, int lane_argument, int width = 32) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "a shuffled value is at most 64 bits");
    uint64_t bits = 0;
    memcpy(&bits, &value, sizeof(T));
    bits = lzn_emu_warp_collective(kind, mask, bits, lane_argument, width, file, line);
    T result;
    memcpy(&result, &bits, sizeof(T));
    return result;
}
inline unsigned vote(int kind, const char* file, int line, unsigned mask, int predicate) {
    return (unsigned)lzn_emu_warp_collective(kind, mask, predicate ? 1u : 0u, 0, 32, file, line);
}
inline void syncwarp(const char* file, int line, unsigned mask = 0xffffffffu) { vote(LZN_EMU_SYNCWARP, file, line, mask, 0); }
}  // namespace lzn_emu_device

#define __shfl_sync(...) ::lzn_emu_device::shuffle(LZN_EMU_SHFL_IDX, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::lzn_emu_device::shuffle(LZN_EMU_SHFL_UP, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) ::lzn_emu_device::shuffle(LZN_EMU_SHFL_DOWN, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(...) ::lzn_emu_device::shuffle(LZN_EMU_SHFL_XOR, __FILE__, __LINE__, __VA_ARGS__)
#define __all_sync(mask, p) ::lzn_emu_device::vote(LZN_EMU_VOTE_ALL, __FILE__, __LINE__, (mask), (p))
#define __any_sync(mask, p) ::lzn_emu_device::vote(LZN_EMU_VOTE_ANY, __FILE__, __LINE__, (mask), (p))
#define __ballot_sync(mask, p) ::lzn_emu_device::vote(LZN_EMU_VOTE_BALLOT, __FILE__, __LINE__, (mask), (p))
#define __syncwarp(...) ::lzn_emu_device::syncwarp(__FILE__, __LINE__, ##__VA_ARGS__)

// ---- atomics (blocks run on several worker threads, so these are real atomics) ------------------------
namespace lzn_emu_device {
template <typename T>
inline T* checked(T* address) {
    lzn_emu_check_access(address, sizeof(T), 1);
    return address;
}
template <typename T, typename F>
inline T atomic_update(T* address, F update) {
    T* p = checked(address);
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(p, &old, update(old), true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return old;
}
template <typename F>
inline float atomic_update_float(float* address, F update) {
    unsigned* p = reinterpret_cast<unsigned*>(checked(address));
    unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
    for (;;) {
        const unsigned next = __float_as_uint(update(__uint_as_float(old)));
        if (__atomic_compare_exchange_n(p, &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return __uint_as_float(old);
    }
}
}  // namespace lzn_emu_device

inline int atomicAdd(int* a, int v) { return __atomic_fetch_add(::lzn_emu_device::checked(a), v, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* a, unsigned v) { return __atomic_fetch_add(::lzn_emu_device::checked(a), v, __ATOMIC_RELAXED); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
    return __atomic_fetch_add(::lzn_emu_device::checked(a), v, __ATOMIC_RELAXED);
}
inline float atomicAdd(float* a, float v) {
    return ::lzn_emu_device::atomic_update_float(a, [v](float old) { return old + v; });
}
inline int atomicSub(int* a, int v) { return __atomic_fetch_sub(::lzn_emu_device::checked(a), v, __ATOMIC_RELAXED); }
inline int atomicExch(int* a, int v) { return __atomic_exchange_n(::lzn_emu_device::checked(a), v, __ATOMIC_RELAXED); }
inline unsigned atomicExch(unsigned* a, unsigned v) { return __atomic_exchange_n(::lzn_emu_device::checked(a), v, __ATOMIC_RELAXED); }
inline float atomicExch(float* a, float v) {
    return __uint_as_float(__atomic_exchange_n(reinterpret_cast<unsigned*>(::lzn_emu_device::checked(a)), __float_as_uint(v), __ATOMIC_RELAXED));
}
inline int atomicMax(int* a, int v) { return ::lzn_emu_device::atomic_update(a, [v](int old) { return old > v ? old : v; }); }
inline int atomicMin(int* a, int v) { return ::lzn_emu_device::atomic_update(a, [v](int old) { return old < v ? old : v; }); }
inline unsigned atomicMax(unsigned* a, unsigned v) { return ::lzn_emu_device::atomic_update(a, [v](unsigned old) { return old > v ? old : v; }); }
inline unsigned atomicMin(unsigned* a, unsigned v) { return ::lzn_emu_device::atomic_update(a, [v](unsigned old) { return old < v ? old : v; }); }
inline int atomicCAS(int* a, int compare, int v) {
    __atomic_compare_exchange_n(::lzn_emu_device::checked(a), &compare, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return compare;
}
inline unsigned atomicCAS(unsigned* a, unsigned compare, unsigned v) {
    __atomic_compare_exchange_n(::lzn_emu_device::checked(a), &compare, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return compare;
}
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long compare, unsigned long long v) {
    __atomic_compare_exchange_n(::lzn_emu_device::checked(a), &compare, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return compare;
}
inline int atomicAnd(int* a, int v) { return __atomic_fetch_and(::lzn_emu_device::checked(a), v, __ATOMIC_RELAXED); }
inline int atomicOr(int* a, int v) { return __atomic_fetch_or(::lzn_emu_device::checked(a), v, __ATOMIC_RELAXED); }
inline int atomicXor(int* a, int v) { return __atomic_fetch_xor(::lzn_emu_device::checked(a), v, __ATOMIC_RELAXED); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
