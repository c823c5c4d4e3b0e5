// Tile machinery of kernels/latent_zone.cu (its header comment describes the design): tile constants and
// the shared-memory layouts' sizes, cp.async staging, the 4x4 register micro-tiles, and small reductions.
#pragma once

#include "latent_zone_common.cuh"
#include "ptx.cuh"

#define ZONE_THREADS 256
#define ZONE_TILE 64                                        // owner rows per block, streamed rows per tile
#define ZONE_KCHUNK 32                                      // dims per dot-product chunk
#define ZONE_CHUNK_STRIDE (ZONE_KCHUNK + 4)                 // float4 rows of a warp land in distinct banks
#define ZONE_DCHUNK 64                                      // dims per accumulator chunk
#define ZONE_WIDE_STRIDE (ZONE_DCHUNK + 4)
#define ZONE_CHUNK_FLOATS (ZONE_TILE * ZONE_CHUNK_STRIDE)   // one staged [64 x 32] chunk
#define ZONE_WIDE_FLOATS (ZONE_TILE * ZONE_WIDE_STRIDE)     // one staged [64 x 64] tile
// Dynamic shared memory of the tile kernels (mirrored in CudaZoneKernels.cs): two stage slots, then weights.
#define ZONE_FORWARD_SHARED_FLOATS (2 * 2 * ZONE_CHUNK_FLOATS + ZONE_WIDE_FLOATS)
#define ZONE_POINTS_SHARED_FLOATS (2 * 3 * ZONE_CHUNK_FLOATS + ZONE_WIDE_FLOATS)
#define ZONE_ANCHORS_SHARED_FLOATS (2 * 2 * ZONE_WIDE_FLOATS + 2 * ZONE_WIDE_FLOATS)
// The anchors tiles with one (points, velocity-gradient) dim-tile slot instead of two (90,112 B, for the 99 KB of
// sm_86/sm_89): the two chunk slots of the logit phase are then the larger use of the staging region.
#define ZONE_ANCHORS_W1_SHARED_FLOATS (2 * 3 * ZONE_CHUNK_FLOATS + 2 * ZONE_WIDE_FLOATS)
static_assert(2 * 3 * ZONE_CHUNK_FLOATS >= 2 * ZONE_WIDE_FLOATS, "one dim-tile slot fits the two chunk slots");

__device__ __forceinline__ int zone_ceil_div(int a, int b) { return (a + b - 1) / b; }

// A launch with less dynamic shared memory than the layout needs traps (a launch failure at the next
// synchronisation) instead of corrupting memory.
__device__ __forceinline__ void zone_require_shared(unsigned floats) {
    if (lzn_dynamic_shared_bytes() < floats * sizeof(float)) __trap();
}

__device__ __forceinline__ float zone_component(const float4& v, int i) {
    return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// Sum over the 16 lanes that share ty (lanes 0-15 and 16-31 of a warp hold different ty).
__device__ __forceinline__ float zone_sum16(float v) {
    for (int offset = 8; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ float zone_max16(float v) {
    for (int offset = 8; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// One cp.async global -> shared copy of BYTES (4 or 16, both addresses aligned to it); an invalid copy reads
// nothing and writes the zeros used outside a matrix.
template <int BYTES>
__device__ __forceinline__ void zone_copy_async(float* dst, const float* src, bool valid) {
    lzn_cp_async<BYTES>(dst, src, valid ? BYTES : 0);
}

__device__ __forceinline__ void zone_async_commit() { lzn_cp_async_commit(); }

template <int PENDING>
__device__ __forceinline__ void zone_async_wait() { lzn_cp_async_wait<PENDING>(); }

// Queues the copy of rows rowStart.. (64) and columns col0.. (COLS) of a row-major [rowCount, dim] matrix into
// a [64 x STRIDE] shared tile, zero outside the matrix (zeros leave the fmaf chains unchanged). VECTOR floats
// per copy; consecutive threads take consecutive columns of a row (coalesced).
template <int COLS, int STRIDE, int VECTOR>
__device__ __forceinline__ void zone_stage_by(float* dst, const float* src, int rowStart, int rowCount, int dim, int col0) {
#pragma unroll 1  // unrolled, the copies' addresses would hold registers the accumulators need
    for (int e = threadIdx.x; e < ZONE_TILE * COLS / VECTOR; e += ZONE_THREADS) {
        const int r = e / (COLS / VECTOR), k = VECTOR * (e % (COLS / VECTOR));
        const int row = rowStart + r, col = col0 + k;
        const bool valid = row < rowCount && col < dim;
        zone_copy_async<4 * VECTOR>(dst + r * STRIDE + k, valid ? src + (long long)row * dim + col : src, valid);
    }
}

// Whole float4s when the rows allow it: dim % 4 == 0 and a 16-byte aligned matrix keep every quad aligned and
// entirely inside or outside the matrix (col0 and STRIDE are multiples of 4). Odd dims and offset slices
// take single floats.
template <int COLS, int STRIDE>
__device__ __forceinline__ void zone_stage(float* dst, const float* src, int rowStart, int rowCount, int dim, int col0) {
    if ((dim & 3) == 0 && (reinterpret_cast<unsigned long long>(src) & 15) == 0)
        zone_stage_by<COLS, STRIDE, 4>(dst, src, rowStart, rowCount, dim, col0);
    else
        zone_stage_by<COLS, STRIDE, 1>(dst, src, rowStart, rowCount, dim, col0);
}

__device__ __forceinline__ void zone_stage_chunk(float* dst, const float* src, int rowStart, int rowCount, int dim, int k0) {
    zone_stage<ZONE_KCHUNK, ZONE_CHUNK_STRIDE>(dst, src, rowStart, rowCount, dim, k0);
}

__device__ __forceinline__ void zone_stage_wide(float* dst, const float* src, int rowStart, int rowCount, int dim, int d0) {
    zone_stage<ZONE_DCHUNK, ZONE_WIDE_STRIDE>(dst, src, rowStart, rowCount, dim, d0);
}

// acc[q][c] += sum_k left[ty + 16q][k] * right[tx + 16c][k] over one staged chunk, k ascending.
__device__ __forceinline__ void zone_dot_chunk(float (&acc)[4][4], const float* left, const float* right) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll 1  // unrolling hoists every chunk load and costs the backward ~60 registers (sm_90 ptxas)
    for (int k = 0; k < ZONE_KCHUNK; k += 4) {
        float4 l[4], r[4];
#pragma unroll
        for (int q = 0; q < 4; q++) l[q] = *reinterpret_cast<const float4*>(left + (ty + 16 * q) * ZONE_CHUNK_STRIDE + k);
#pragma unroll
        for (int c = 0; c < 4; c++) r[c] = *reinterpret_cast<const float4*>(right + (tx + 16 * c) * ZONE_CHUNK_STRIDE + k);
#pragma unroll
        for (int q = 0; q < 4; q++)
#pragma unroll
            for (int c = 0; c < 4; c++) {
                acc[q][c] = fmaf(l[q].x, r[c].x, acc[q][c]);
                acc[q][c] = fmaf(l[q].y, r[c].y, acc[q][c]);
                acc[q][c] = fmaf(l[q].z, r[c].z, acc[q][c]);
                acc[q][c] = fmaf(l[q].w, r[c].w, acc[q][c]);
            }
    }
}

// acc[q][u] += sum_j weights[ty + 16q][j] * values[j][4 tx + u]; weights [64 x 64], values [64 x 64].
__device__ __forceinline__ void zone_product_chunk(float (&acc)[4][4], const float* weights, const float* values) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll 4
    for (int j = 0; j < ZONE_TILE; j += 4) {
        float4 w[4], v[4];
#pragma unroll
        for (int q = 0; q < 4; q++) w[q] = *reinterpret_cast<const float4*>(weights + (ty + 16 * q) * ZONE_WIDE_STRIDE + j);
#pragma unroll
        for (int u = 0; u < 4; u++) v[u] = *reinterpret_cast<const float4*>(values + (j + u) * ZONE_WIDE_STRIDE + 4 * tx);
#pragma unroll
        for (int q = 0; q < 4; q++)
#pragma unroll
            for (int u = 0; u < 4; u++) {
                acc[q][u] = fmaf(zone_component(w[q], 0), zone_component(v[0], u), acc[q][u]);
                acc[q][u] = fmaf(zone_component(w[q], 1), zone_component(v[1], u), acc[q][u]);
                acc[q][u] = fmaf(zone_component(w[q], 2), zone_component(v[2], u), acc[q][u]);
                acc[q][u] = fmaf(zone_component(w[q], 3), zone_component(v[3], u), acc[q][u]);
            }
    }
}

// x = hi + lo in TF32 ("3xTF32"): hi is x rounded to TF32; x - hi is exact in fp32, and rounding it to TF32 too
// leaves an error below 2^-22 |x|. A product hi.hi + hi.lo + lo.hi (the lo.lo term is below fp32 rounding) keeps
// fp32 accuracy at three tensor-core products.
struct ZoneSplit {
    unsigned hi, lo;
};

__device__ __forceinline__ ZoneSplit zone_split_tf32(float x) {
    const unsigned hi = lzn_cvt_tf32(x);
    return {hi, lzn_cvt_tf32(x - __uint_as_float(hi))};
}

// c += a b for one 8-dim step of the 3xTF32 product, small terms first. v2's forward and backward both build every
// logit from this, 8 dims at a time in dim order, so a recomputed logit equals the forward's bit for bit.
__device__ __forceinline__ void zone_mma_3xtf32(float (&c)[4], const ZoneSplit (&a)[4], const ZoneSplit (&b)[2]) {
    const unsigned ahi[4] = {a[0].hi, a[1].hi, a[2].hi, a[3].hi}, alo[4] = {a[0].lo, a[1].lo, a[2].lo, a[3].lo};
    const unsigned bhi[2] = {b[0].hi, b[1].hi}, blo[2] = {b[0].lo, b[1].lo};
    lzn_mma_m16n8k8_tf32(c, alo, bhi, c);
    lzn_mma_m16n8k8_tf32(c, ahi, blo, c);
    lzn_mma_m16n8k8_tf32(c, ahi, bhi, c);
}

// The tensor-core logits of a 64 x 64 tile by the 8 warps of a block, over one staged 32-dim chunk: warp w owns rows
// 16 (w % 4) .. + 15 and anchors 32 (w / 4) .. + 31 (four 8-anchor mma tiles, c[nt] in the mma fragment layout).
// rowsChunk and anchorsChunk are [64, ZONE_CHUNK_STRIDE] (a stride of 4 mod 32: conflict-free fragment loads).
__device__ __forceinline__ void zone_mma_logits_chunk(float (&c)[4][4], const float* rowsChunk, const float* anchorsChunk) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, q = lane % 4;
    const float* rows = rowsChunk + (16 * (warp % 4) + g) * ZONE_CHUNK_STRIDE;
#pragma unroll
    for (int k0 = 0; k0 < ZONE_KCHUNK; k0 += 8) {
        const ZoneSplit a[4] = {zone_split_tf32(rows[k0 + q]), zone_split_tf32(rows[8 * ZONE_CHUNK_STRIDE + k0 + q]),
                                zone_split_tf32(rows[k0 + q + 4]), zone_split_tf32(rows[8 * ZONE_CHUNK_STRIDE + k0 + q + 4])};
#pragma unroll
        for (int nt = 0; nt < 4; nt++) {
            const float* anchor = anchorsChunk + (32 * (warp / 4) + 8 * nt + g) * ZONE_CHUNK_STRIDE + k0;
            const ZoneSplit b[2] = {zone_split_tf32(anchor[q]), zone_split_tf32(anchor[q + 4])};
            zone_mma_3xtf32(c[nt], a, b);
        }
    }
}

// Hands the finished tensor-core logits to the 4x4 micro-tile layout through shared memory: l[q][c] becomes (row
// ty + 16q, anchor tx + 16c), or with anchorsOwn (the anchors kernel) (anchor ty + 16q, row tx + 16c). scratch
// [64, ZONE_WIDE_STRIDE] must be free (the previous tile's last barrier has passed); it is free again on return.
__device__ __forceinline__ void zone_mma_logits_to_tile(float (&l)[4][4], const float (&c)[4][4], float* scratch, bool anchorsOwn) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, q = lane % 4;
#pragma unroll
    for (int nt = 0; nt < 4; nt++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int row = 16 * (warp % 4) + g + 8 * (i / 2), anchor = 32 * (warp / 4) + 8 * nt + 2 * q + (i & 1);
            scratch[anchorsOwn ? anchor * ZONE_WIDE_STRIDE + row : row * ZONE_WIDE_STRIDE + anchor] = c[nt][i];
        }
    __syncthreads();
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) l[i][j] = scratch[(ty + 16 * i) * ZONE_WIDE_STRIDE + tx + 16 * j];
    __syncthreads();
}

// Writes a thread's accumulator rows (owner rows rowStart + ty + 16q, dims dimStart + 64 ch + 4 tx ..) into
// partial[split][row][paddedDim]; paddedDim is a multiple of 64, so the float4 stores are aligned.
template <int CHUNKS>
__device__ __forceinline__ void zone_store_partial(const float (&acc)[CHUNKS][4][4], float* partial, int split,
                                                  int rowStart, int rowCount, int paddedDim, int dimStart) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int q = 0; q < 4; q++) {
        const int row = rowStart + ty + 16 * q;
        if (row >= rowCount) continue;
        float* out = partial + ((long long)split * rowCount + row) * paddedDim + dimStart + 4 * tx;
#pragma unroll
        for (int ch = 0; ch < CHUNKS; ch++)
            *reinterpret_cast<float4*>(out + ch * ZONE_DCHUNK) = make_float4(acc[ch][q][0], acc[ch][q][1], acc[ch][q][2], acc[ch][q][3]);
    }
}
