// Latent-zone kernels, version 2: the forward tiles with the logits on tensor cores, and the backward tiles of
// kernels/latent_zone_backward.cuh recomputing them the same way. Same contract, partial buffers and combines as
// kernels/latent_zone.cu (whose combine, row-dot and norm kernels v2 launches too); CPU mirror:
// src/LZN.Native/Backends/Cpu/CpuZoneKernels.cs; launcher: src/LZN.Native/Backends/Cuda/CudaZoneKernels.cs.
//
//   logit_ij = s (x_i . a_j - (c/2) |a_j|^2) + b_j,   p_ij = softmax_j,   m_i = sum_j p_ij a_j
//
// - A block of 128 threads (4 warps) owns 64 rows; their points stay resident in shared memory for the whole launch.
// - Anchors stream in 64-row tiles holding every dim, through STAGES buffers (cp.async; with 2, the next tile
//   loads while this one is used). Dims are padded to a multiple of 32 with zeros.
// - Logits: warp w owns rows 16w..16w+15 and all 64 anchors of the tile (8 mma n-tiles); each 8-dim step is three
//   mma.sync.m16n8k8 TF32 products (zone_mma_3xtf32: hi.hi + hi.lo + lo.hi), accumulated in fp32, so the logits keep
//   fp32 accuracy at three tensor-core products instead of eight FMAs each.
// - The online softmax runs on the mma fragments (a lane holds rows g and g + 8, a quad of lanes one row); the
//   weights go to shared memory transposed (anchor-major), with each row's rescale factor.
// - The weighted sum is fp32 SIMT: thread (ty, tx) owns rows 8ty..8ty+7 and DG/16 dims from DG-dim group z, a
//   register tile updated by two 16-byte loads of weights and DG/64 of anchors per anchor.
// - Dims beyond one group (DG = 64 or 128) are split over gridDim.z, each group recomputing the logits; anchor
//   tiles are split over gridDim.y, each split writing partials that zone_forward_combine merges.
// - Each row's target logit is written from the same fragments, and the combine subtracts lse from it: a target
//   logit recomputed another way (the combine's fp32 chain) differs in its last bits, which s = c / t^2 magnifies
//   into log-probabilities above 0 for rows sure of their zone.

#include "latent_zone_tiles.cuh"
#include "latent_zone_backward.cuh"

#define ZONE2_THREADS 128
#define ZONE2_ROWS 64     // owner rows per block
#define ZONE2_ANCHORS 64  // anchors per streamed tile
#define ZONE2_WEIGHT_STRIDE (ZONE2_ROWS + 4)

// Row stride of the resident points and of the anchor tiles: the dims rounded up to 32, plus 4, so that the
// eight rows and four columns an mma fragment reads land in 32 distinct banks.
__device__ __forceinline__ int zone2_stride(int dim) { return (dim + 31) / 32 * 32 + 4; }

// Shared floats a block needs (mirrored in CudaZoneKernelsV2.cs): the points, STAGES anchor tiles, the transposed
// weights, the row rescale factors.
__device__ __forceinline__ unsigned zone2_shared_floats(int dim, int stages) {
    return (unsigned)((1 + stages) * ZONE2_ROWS * zone2_stride(dim) + ZONE2_ANCHORS * ZONE2_WEIGHT_STRIDE + ZONE2_ROWS);
}

// Queues one anchor tile (rows anchorStart.., every dim, zeros outside the matrix) into a [64, stride] buffer.
__device__ __forceinline__ void zone2_stage_anchors(float* dst, const float* anchors, int anchorStart, int anchorCount,
                                                    int dim, int stride) {
    const int padded = stride - 4;
    if ((dim & 3) == 0 && (reinterpret_cast<unsigned long long>(anchors) & 15) == 0) {
        for (int e = threadIdx.x; e < ZONE2_ANCHORS * padded / 4; e += ZONE2_THREADS) {
            const int r = e / (padded / 4), k = 4 * (e % (padded / 4));
            const int row = anchorStart + r;
            const bool valid = row < anchorCount && k < dim;
            zone_copy_async<16>(dst + r * stride + k, valid ? anchors + (long long)row * dim + k : anchors, valid);
        }
    } else {
        for (int e = threadIdx.x; e < ZONE2_ANCHORS * padded; e += ZONE2_THREADS) {
            const int r = e / padded, k = e % padded;
            const int row = anchorStart + r;
            const bool valid = row < anchorCount && k < dim;
            zone_copy_async<4>(dst + r * stride + k, valid ? anchors + (long long)row * dim + k : anchors, valid);
        }
    }
    zone_async_commit();
}

template <int DG, int STAGES>
__device__ void zone_forward_v2(
    const float* __restrict__ points,        // [rows, dim]
    const float* __restrict__ anchors,       // [anchorCount, dim]
    const float* __restrict__ sqNorms,       // [anchorCount]
    const float* __restrict__ logPriors,     // [anchorCount] or null
    float* __restrict__ logits,              // [rows, anchorCount] raw logits, or null
    const int* __restrict__ targets,         // [rows], or null
    float* __restrict__ targetLogits,        // [rows] the logit of each row's target (in range), or null
    float* __restrict__ partialAcc,          // [splits, rows, paddedDim]
    float* __restrict__ partialMax,          // [splits, rows]
    float* __restrict__ partialSum,          // [splits, rows]
    int rows, int anchorCount, int dim, int paddedDim, int tilesPerSplit, float scale, float halfC) {
    constexpr int TILE_D = DG / 16;  // dims per thread in the weighted sum
    extern __shared__ float4 zoneShared[];
    float* shared = reinterpret_cast<float*>(zoneShared);
    zone_require_shared(zone2_shared_floats(dim, STAGES));
    const int stride = zone2_stride(dim);
    float* pointsTile = shared;                                           // [64, stride]
    float* anchorTiles = shared + ZONE2_ROWS * stride;                    // STAGES x [64, stride]
    float* weights = anchorTiles + STAGES * ZONE2_ANCHORS * stride;       // [64 anchors, WEIGHT_STRIDE] (transposed)
    float* rescale = weights + ZONE2_ANCHORS * ZONE2_WEIGHT_STRIDE;       // [64] per-row factor of this tile

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int g = lane / 4, q = lane % 4;
    const int rowStart = blockIdx.x * ZONE2_ROWS;
    const int split = blockIdx.y;
    const int dimStart = blockIdx.z * DG;
    const int tileBegin = split * tilesPerSplit;
    const int tileEnd = min(tileBegin + tilesPerSplit, zone_ceil_div(anchorCount, ZONE2_ANCHORS));
    const int kSteps = (dim + 7) / 8;

    if (tileBegin < tileEnd) zone2_stage_anchors(anchorTiles, anchors, tileBegin * ZONE2_ANCHORS, anchorCount, dim, stride);

    // The owner rows, resident for the whole launch; zeros outside the matrix.
    for (int e = threadIdx.x; e < ZONE2_ROWS * stride; e += ZONE2_THREADS) {
        const int r = e / stride, k = e % stride;
        pointsTile[e] = rowStart + r < rows && k < dim ? points[(long long)(rowStart + r) * dim + k] : 0.0f;
    }

    // Logit-phase state: this lane's rows g and g + 8 of the warp's 16 (index h = 0, 1).
    float rowMax[2] = {zone_neg_inf(), zone_neg_inf()};
    float rowSum[2] = {0.0f, 0.0f};
    int rowTarget[2] = {-1, -1};
    if (targetLogits && blockIdx.z == 0) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int row = rowStart + 16 * warp + g + 8 * h;
            if (row < rows) rowTarget[h] = targets[row];
        }
    }
    // Weighted-sum state: rows 8ty.., dims dimStart + TILE_D tx ...
    const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
    float acc[8][TILE_D] = {};

    for (int tile = tileBegin; tile < tileEnd; tile++) {
        const int anchorStart = tile * ZONE2_ANCHORS;
        const float* staged = anchorTiles + (STAGES == 2 ? (tile - tileBegin) % 2 : 0) * ZONE2_ANCHORS * stride;
        if (STAGES == 2 && tile + 1 < tileEnd) {
            zone2_stage_anchors(anchorTiles + ((tile - tileBegin + 1) % 2) * ZONE2_ANCHORS * stride, anchors, anchorStart + ZONE2_ANCHORS,
                                anchorCount, dim, stride);
            zone_async_wait<1>();
        } else {
            zone_async_wait<0>();
        }
        __syncthreads();  // the tile (and, the first time, the points) are in shared memory

        // Logits of rows 16 warp + (g, g + 8) and anchors 8 nt + (2q, 2q + 1), three TF32 products per 8 dims.
        float c[8][4] = {};
        const float* ownRows = pointsTile + (16 * warp + g) * stride;
        for (int kk = 0; kk < kSteps; kk++) {
            const int k0 = 8 * kk;
            const ZoneSplit a[4] = {zone_split_tf32(ownRows[k0 + q]), zone_split_tf32(ownRows[8 * stride + k0 + q]),
                                    zone_split_tf32(ownRows[k0 + q + 4]), zone_split_tf32(ownRows[8 * stride + k0 + q + 4])};
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                const float* anchorRow = staged + (8 * nt + g) * stride + k0;
                const ZoneSplit b[2] = {zone_split_tf32(anchorRow[q]), zone_split_tf32(anchorRow[q + 4])};
                zone_mma_3xtf32(c[nt], a, b);
            }
        }

        // Logits, the tile's row maxima over the quad, the rescale of earlier tiles, and the weights.
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int j = anchorStart + 8 * nt + 2 * q + (i & 1);
                const bool valid = j < anchorCount;
                c[nt][i] = valid ? zone_logit(c[nt][i], sqNorms[j], logPriors ? logPriors[j] : 0.0f, scale, halfC) : zone_neg_inf();
            }
        }
        if (logits && blockIdx.z == 0) {
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const int row = rowStart + 16 * warp + g + 8 * (i / 2), j = anchorStart + 8 * nt + 2 * q + (i & 1);
                    if (row < rows && j < anchorCount) logits[(long long)row * anchorCount + j] = c[nt][i];
                }
        }
        // rowTarget stays -1 unless this block writes target logits; a target outside the matrix matches no anchor.
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int h = i / 2, j = anchorStart + 8 * nt + 2 * q + (i & 1);
                if (j == rowTarget[h]) targetLogits[rowStart + 16 * warp + g + 8 * h] = c[nt][i];
            }
#pragma unroll
        for (int h = 0; h < 2; h++) {
            float tileMax = zone_neg_inf();
#pragma unroll
            for (int nt = 0; nt < 8; nt++) tileMax = fmaxf(tileMax, fmaxf(c[nt][2 * h], c[nt][2 * h + 1]));
            tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, 1));
            tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, 2));
            const float newMax = fmaxf(rowMax[h], tileMax);
            // exp(-inf - -inf) would be NaN: rows whose logits are all -inf so far keep weight 0.
            const float reference = newMax == zone_neg_inf() ? 0.0f : newMax;
            const float correction = expf(rowMax[h] - reference);
            float tileSum = 0.0f;
            const int localRow = 16 * warp + g + 8 * h;
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int u = 0; u < 2; u++) {
                    const float p = expf(c[nt][2 * h + u] - reference);
                    tileSum += p;
                    weights[(8 * nt + 2 * q + u) * ZONE2_WEIGHT_STRIDE + localRow] = p;
                }
            tileSum += __shfl_xor_sync(0xffffffffu, tileSum, 1);
            tileSum += __shfl_xor_sync(0xffffffffu, tileSum, 2);
            rowSum[h] = fmaf(rowSum[h], correction, tileSum);
            rowMax[h] = newMax;
            if (q == 0) rescale[localRow] = correction;
        }
        __syncthreads();  // weights and rescale factors published

        // The weighted sum over the tile's anchors, in fp32: acc[r][u] += p[8ty + r][j] a_j[dimStart + TILE_D tx + u].
#pragma unroll
        for (int r = 0; r < 8; r++) {
            const float factor = rescale[8 * ty + r];
#pragma unroll
            for (int u = 0; u < TILE_D; u++) acc[r][u] *= factor;
        }
        const int d0 = dimStart + TILE_D * tx;
        if (d0 < dim) {
            for (int j = 0; j < ZONE2_ANCHORS; j++) {
                const float4 p0 = *reinterpret_cast<const float4*>(weights + j * ZONE2_WEIGHT_STRIDE + 8 * ty);
                const float4 p1 = *reinterpret_cast<const float4*>(weights + j * ZONE2_WEIGHT_STRIDE + 8 * ty + 4);
                const float p[8] = {p0.x, p0.y, p0.z, p0.w, p1.x, p1.y, p1.z, p1.w};
                float a[TILE_D];
#pragma unroll
                for (int u = 0; u < TILE_D; u += 4) {
                    const float4 v = *reinterpret_cast<const float4*>(staged + j * stride + d0 + u);
                    a[u] = v.x, a[u + 1] = v.y, a[u + 2] = v.z, a[u + 3] = v.w;
                }
#pragma unroll
                for (int r = 0; r < 8; r++)
#pragma unroll
                    for (int u = 0; u < TILE_D; u++) acc[r][u] = fmaf(p[r], a[u], acc[r][u]);
            }
        }
        __syncthreads();  // the tile, the weights and the factors may be overwritten
        if (STAGES == 1 && tile + 1 < tileEnd)
            zone2_stage_anchors(anchorTiles, anchors, anchorStart + ZONE2_ANCHORS, anchorCount, dim, stride);
    }

    // Partials: dims dimStart.. of this split for the block's rows; the row maxima and sums once (group 0).
#pragma unroll
    for (int r = 0; r < 8; r++) {
        const int row = rowStart + 8 * ty + r;
        if (row >= rows) continue;
        float* out = partialAcc + ((long long)split * rows + row) * paddedDim + dimStart + TILE_D * tx;
#pragma unroll
        for (int u = 0; u < TILE_D; u += 4) *reinterpret_cast<float4*>(out + u) = make_float4(acc[r][u], acc[r][u + 1], acc[r][u + 2], acc[r][u + 3]);
    }
    if (blockIdx.z == 0 && q == 0) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int row = rowStart + 16 * warp + g + 8 * h;
            if (row < rows) {
                partialMax[(long long)split * rows + row] = rowMax[h];
                partialSum[(long long)split * rows + row] = rowSum[h];
            }
        }
    }
}

#define ZONE_FORWARD_V2_KERNEL(NAME, DG, STAGES)                                                                  \
    extern "C" __global__ void __launch_bounds__(ZONE2_THREADS) NAME(                                               \
        const float* __restrict__ points, const float* __restrict__ anchors, const float* __restrict__ sqNorms,     \
        const float* __restrict__ logPriors, float* __restrict__ logits, const int* __restrict__ targets,           \
        float* __restrict__ targetLogits, float* __restrict__ partialAcc, float* __restrict__ partialMax,            \
        float* __restrict__ partialSum, int rows, int anchorCount, int dim, int paddedDim, int tilesPerSplit,      \
        float scale, float halfC) {                                                                                 \
        zone_forward_v2<DG, STAGES>(points, anchors, sqNorms, logPriors, logits, targets, targetLogits, partialAcc, \
                                    partialMax, partialSum, rows, anchorCount, dim, paddedDim, tilesPerSplit,       \
                                    scale, halfC);                                                                  \
    }

ZONE_FORWARD_V2_KERNEL(zone_forward_v2_64_s1, 64, 1)
ZONE_FORWARD_V2_KERNEL(zone_forward_v2_64_s2, 64, 2)
ZONE_FORWARD_V2_KERNEL(zone_forward_v2_128_s1, 128, 1)
ZONE_FORWARD_V2_KERNEL(zone_forward_v2_128_s2, 128, 2)

// ----------------------------------------------------------------------------------------------------
// backward tiles (kernels/latent_zone_backward.cuh) with the logits recomputed on tensor cores

// One block per SM is allowed (the 3xTF32 fragments add registers to v1's tiles): no spills. BODY's template
// arguments follow it as in latent_zone.cu (TENSOR_LOGITS true).
#define ZONE_BACKWARD_V2_KERNEL(NAME, BODY, ...)                                                  \
    extern "C" __global__ void __launch_bounds__(ZONE_THREADS, 1) NAME(ZONE_BACKWARD_PARAMS) {    \
        BODY<__VA_ARGS__>(ZONE_BACKWARD_ARGS);                                                    \
    }

ZONE_BACKWARD_KERNEL_SET(ZONE_BACKWARD_V2_KERNEL, zone_backward_points_v2, zone_backward_anchors_v2, true)
