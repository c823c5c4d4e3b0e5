// The backward tiles of the latent-zone step (design notes in kernels/latent_zone.cu), shared by v1 and v2:
// TENSOR_LOGITS recomputes the logits with v2's 3xTF32 tensor-core products, in the same order as v2's forward,
// so p = exp(logit - lse) uses bit for bit the logits the forward's lse came from; the other dot products stay
// fp32 FMA chains in dim order (g . a_j cancels against D_i = g . m_i). Needs latent_zone_tiles.cuh.
#pragma once

// ----------------------------------------------------------------------------------------------------
// backward (section 7), recomputing p_ij = exp(logit_ij - lse_i) from the saved lse:
//   ds_ij = -(p_ij / t)(g_i . a_j - D_i) + beta_i (delta_{j,tgt_i} - p_ij),   D_i = g_i . m_i
//   dx_i += g_i / t + s (sum_j ds_ij a_j - (sum_j ds_ij) m_i)     (centred: sum_j ds_ij = 0 exactly in math)
//   dA_j += sum_i (s ds_ij x_i - p_ij g_i / t) - s c a_j sum_i ds_ij,   db_j += sum_i ds_ij
// Two tile kernels so that every accumulator has one owner: the points kernel owns row tiles and streams
// anchor tiles, the anchors kernel owns anchor tiles and streams row tiles (no atomics).

// Per-row constants of the backward: lse_i, D_i, beta_i, tgt_i.
struct ZoneRow {
    bool valid;
    float lse, rowDot, beta;
    int target;
};

__device__ __forceinline__ ZoneRow zone_load_row(int i, int rows, const float* logSumExp, const float* rowDots,
                                                 const int* targets, const float* targetGrad) {
    ZoneRow r;
    r.valid = i < rows;
    r.lse = r.valid ? logSumExp[i] : 0.0f;
    r.rowDot = r.valid && rowDots ? rowDots[i] : 0.0f;
    r.beta = r.valid && targetGrad ? targetGrad[i] : 0.0f;
    r.target = r.valid && targets ? targets[i] : -1;
    return r;
}

#define ZONE_BACKWARD_PARAMS                                                                                   \
    const float *__restrict__ points, const float *__restrict__ anchors, const float *__restrict__ sqNorms,    \
        const float *__restrict__ logPriors, const float *__restrict__ logSumExp,                              \
        const float *__restrict__ rowDots, const float *__restrict__ velocityGrad,                             \
        const int *__restrict__ targets, const float *__restrict__ targetGrad, float *__restrict__ partialGrad, \
        float *__restrict__ partialDsSum, int rows, int anchorCount, int dim, int paddedDim, int tilesPerSplit, \
        int selfOffset, float time, float scale, float halfC
#define ZONE_BACKWARD_ARGS                                                                                     \
    points, anchors, sqNorms, logPriors, logSumExp, rowDots, velocityGrad, targets, targetGrad, partialGrad,   \
        partialDsSum, rows, anchorCount, dim, paddedDim, tilesPerSplit, selfOffset, time, scale, halfC

// Shapes: points [rows, dim], anchors [anchorCount, dim], sqNorms/logPriors [anchorCount], logSumExp/rowDots/
// targets/targetGrad [rows], velocityGrad [rows, dim] or null (rowDots then null too); selfOffset >= 0 when
// row i's query is anchor selfOffset + i (ZoneBackwardArgs.SelfAnchorOffset), else -1;
// partialGrad [splits, rows, paddedDim] = sum_j ds_ij a_j, partialDsSum [splits, rows] = sum_j ds_ij.
template <int CHUNKS, bool TENSOR_LOGITS>
__device__ void zone_backward_points_tiles(ZONE_BACKWARD_PARAMS) {
    // Two stage slots of (points, velocity-gradient, anchors) chunks [64, CHUNK_STRIDE]; the product phase reuses
    // them as two anchors dim tiles [64, WIDE_STRIDE]. Then the weights [64, WIDE_STRIDE]: ds_ij.
    extern __shared__ float4 zoneShared[];
    float* shared = reinterpret_cast<float*>(zoneShared);
    zone_require_shared(ZONE_POINTS_SHARED_FLOATS);
    const int slot = 3 * ZONE_CHUNK_FLOATS;
    float* weights = shared + 2 * slot;

    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int rowStart = blockIdx.x * ZONE_TILE;
    const int split = blockIdx.y;
    const int dimStart = blockIdx.z * CHUNKS * ZONE_DCHUNK;
    const int tileBegin = split * tilesPerSplit;
    const int tileEnd = min(tileBegin + tilesPerSplit, zone_ceil_div(anchorCount, ZONE_TILE));

    ZoneRow row[4];
#pragma unroll
    for (int q = 0; q < 4; q++) row[q] = zone_load_row(rowStart + ty + 16 * q, rows, logSumExp, rowDots, targets, targetGrad);
    float acc[CHUNKS][4][4] = {};
    float dsSum[4] = {};

    for (int tile = tileBegin; tile < tileEnd; tile++) {
        const int anchorStart = tile * ZONE_TILE;
        auto stageChunk = [&](int chunk) {
            float* target = shared + (chunk & 1) * slot;
            const int k0 = chunk * ZONE_KCHUNK;
            zone_stage_chunk(target, points, rowStart, rows, dim, k0);
            if (velocityGrad) zone_stage_chunk(target + ZONE_CHUNK_FLOATS, velocityGrad, rowStart, rows, dim, k0);
            zone_stage_chunk(target + 2 * ZONE_CHUNK_FLOATS, anchors, anchorStart, anchorCount, dim, k0);
            zone_async_commit();
        };
        float l[4][4] = {}, gl[4][4] = {}, tensor[4][4] = {};
        const int chunks = zone_ceil_div(dim, ZONE_KCHUNK);
        stageChunk(0);
        for (int chunk = 0; chunk < chunks; chunk++) {
            if (chunk + 1 < chunks) { stageChunk(chunk + 1); zone_async_wait<1>(); } else { zone_async_wait<0>(); }
            __syncthreads();
            const float* staged = shared + (chunk & 1) * slot;
            if (TENSOR_LOGITS)
                zone_mma_logits_chunk(tensor, staged, staged + 2 * ZONE_CHUNK_FLOATS);
            else
                zone_dot_chunk(l, staged, staged + 2 * ZONE_CHUNK_FLOATS);
            if (velocityGrad) zone_dot_chunk(gl, staged + ZONE_CHUNK_FLOATS, staged + 2 * ZONE_CHUNK_FLOATS);
            __syncthreads();
        }
        if (TENSOR_LOGITS) zone_mma_logits_to_tile(l, tensor, weights, false);
        zone_stage_wide(shared, anchors, anchorStart, anchorCount, dim, dimStart);
        zone_async_commit();
#pragma unroll
        for (int c = 0; c < 4; c++) {
            const int j = anchorStart + tx + 16 * c;
            const bool valid = j < anchorCount;
            const float sq = valid ? sqNorms[j] : 0.0f;
            const float b = valid && logPriors ? logPriors[j] : 0.0f;
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const float p = expf(zone_logit(l[q][c], sq, b, scale, halfC) - row[q].lse);
                const float ds = valid && row[q].valid ? zone_ds(p, gl[q][c], row[q].rowDot, row[q].beta, j == row[q].target, time) : 0.0f;
                dsSum[q] += ds;
                weights[(ty + 16 * q) * ZONE_WIDE_STRIDE + tx + 16 * c] = ds;
            }
        }
#pragma unroll
        for (int ch = 0; ch < CHUNKS; ch++) {
            const int d0 = dimStart + ch * ZONE_DCHUNK;
            if (d0 >= dim) break;
            if (ch + 1 < CHUNKS && d0 + ZONE_DCHUNK < dim) {
                zone_stage_wide(shared + ((ch + 1) & 1) * ZONE_WIDE_FLOATS, anchors, anchorStart, anchorCount, dim, d0 + ZONE_DCHUNK);
                zone_async_commit();
                zone_async_wait<1>();
            } else {
                zone_async_wait<0>();
            }
            __syncthreads();
            zone_product_chunk(acc[ch], weights, shared + (ch & 1) * ZONE_WIDE_FLOATS);
            __syncthreads();
        }
    }

    zone_store_partial<CHUNKS>(acc, partialGrad, split, rowStart, rows, paddedDim, dimStart);
#pragma unroll
    for (int q = 0; q < 4; q++) {
        const float total = zone_sum16(dsSum[q]);
        const int i = rowStart + ty + 16 * q;
        if (blockIdx.z == 0 && tx == 0 && i < rows) partialDsSum[(long long)split * rows + i] = total;
    }
}

// Same inputs; partialGrad [splits, anchorCount, paddedDim] = sum_i (s ds_ij x_i - (p_ij - S_ij) g_i / t),
// partialDsSum [splits, anchorCount] = sum_i ds_ij. S_ij = 1 where anchor j is row i's own query: its direct
// path g_i / t joins the product so that a one-hot row adds exactly zero. Thread roles are transposed:
// ty + 16q are anchors. WIDE_STAGES = 2 streams the next dim tile while one is multiplied; 1 keeps one slot
// (ZONE_ANCHORS_W1_SHARED_FLOATS) for devices with 99 KB per block, loading each dim tile after the last is used.
template <int CHUNKS, bool TENSOR_LOGITS, int WIDE_STAGES>
__device__ void zone_backward_anchors_tiles(ZONE_BACKWARD_PARAMS) {
    // Two stage slots of (anchors, points, velocity-gradient) chunks [64, CHUNK_STRIDE]; the product phase reuses
    // the region as WIDE_STAGES slots of (points, velocity-gradient) dim tiles [64, WIDE_STRIDE]. Then the weights
    // [64 anchors, WIDE_STRIDE]: s ds_ij and -p_ij / t.
    static_assert(WIDE_STAGES == 1 || WIDE_STAGES == 2, "one or two dim-tile slots");
    extern __shared__ float4 zoneShared[];
    float* shared = reinterpret_cast<float*>(zoneShared);
    zone_require_shared(WIDE_STAGES == 2 ? ZONE_ANCHORS_SHARED_FLOATS : ZONE_ANCHORS_W1_SHARED_FLOATS);
    const int slot = 3 * ZONE_CHUNK_FLOATS, wideSlot = 2 * ZONE_WIDE_FLOATS;
    float* dsWeights = shared + (WIDE_STAGES == 2 ? 2 * wideSlot : 2 * slot);  // after the larger use of the region
    float* pWeights = dsWeights + ZONE_WIDE_FLOATS;

    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int anchorStart = blockIdx.x * ZONE_TILE;
    const int split = blockIdx.y;
    const int dimStart = blockIdx.z * CHUNKS * ZONE_DCHUNK;
    const int tileBegin = split * tilesPerSplit;
    const int tileEnd = min(tileBegin + tilesPerSplit, zone_ceil_div(rows, ZONE_TILE));

    float sq[4], b[4];
#pragma unroll
    for (int q = 0; q < 4; q++) {
        const int j = anchorStart + ty + 16 * q;
        sq[q] = j < anchorCount ? sqNorms[j] : 0.0f;
        b[q] = j < anchorCount && logPriors ? logPriors[j] : 0.0f;
    }
    float acc[CHUNKS][4][4] = {};
    float dsSum[4] = {};

    for (int tile = tileBegin; tile < tileEnd; tile++) {
        const int rowStart = tile * ZONE_TILE;
        ZoneRow row[4];
#pragma unroll
        for (int c = 0; c < 4; c++) row[c] = zone_load_row(rowStart + tx + 16 * c, rows, logSumExp, rowDots, targets, targetGrad);
        auto stageChunk = [&](int chunk) {
            float* target = shared + (chunk & 1) * slot;
            const int k0 = chunk * ZONE_KCHUNK;
            zone_stage_chunk(target, anchors, anchorStart, anchorCount, dim, k0);
            zone_stage_chunk(target + ZONE_CHUNK_FLOATS, points, rowStart, rows, dim, k0);
            if (velocityGrad) zone_stage_chunk(target + 2 * ZONE_CHUNK_FLOATS, velocityGrad, rowStart, rows, dim, k0);
            zone_async_commit();
        };
        float l[4][4] = {}, gl[4][4] = {}, tensor[4][4] = {};
        const int chunks = zone_ceil_div(dim, ZONE_KCHUNK);
        stageChunk(0);
        for (int chunk = 0; chunk < chunks; chunk++) {
            if (chunk + 1 < chunks) { stageChunk(chunk + 1); zone_async_wait<1>(); } else { zone_async_wait<0>(); }
            __syncthreads();
            const float* staged = shared + (chunk & 1) * slot;
            if (TENSOR_LOGITS)
                zone_mma_logits_chunk(tensor, staged + ZONE_CHUNK_FLOATS, staged);  // rows are the streamed points here
            else
                zone_dot_chunk(l, staged, staged + ZONE_CHUNK_FLOATS);
            if (velocityGrad) zone_dot_chunk(gl, staged, staged + 2 * ZONE_CHUNK_FLOATS);
            __syncthreads();
        }
        if (TENSOR_LOGITS) zone_mma_logits_to_tile(l, tensor, dsWeights, true);
        zone_stage_wide(shared, points, rowStart, rows, dim, dimStart);
        if (velocityGrad) zone_stage_wide(shared + ZONE_WIDE_FLOATS, velocityGrad, rowStart, rows, dim, dimStart);
        zone_async_commit();
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const int j = anchorStart + ty + 16 * q;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const bool valid = j < anchorCount && row[c].valid;
                const bool self = selfOffset >= 0 && j == selfOffset + rowStart + tx + 16 * c;
                const float p = valid ? expf(zone_logit(l[q][c], sq[q], b[q], scale, halfC) - row[c].lse) : 0.0f;
                const float ds = valid ? zone_ds(p, gl[q][c], row[c].rowDot, row[c].beta, j == row[c].target, time) : 0.0f;
                dsSum[q] += ds;
                dsWeights[(ty + 16 * q) * ZONE_WIDE_STRIDE + tx + 16 * c] = scale * ds;
                pWeights[(ty + 16 * q) * ZONE_WIDE_STRIDE + tx + 16 * c] = valid ? -(p - (self ? 1.0f : 0.0f)) / time : 0.0f;
            }
        }
#pragma unroll
        for (int ch = 0; ch < CHUNKS; ch++) {
            const int d0 = dimStart + ch * ZONE_DCHUNK;
            if (d0 >= dim) break;
            const bool more = ch + 1 < CHUNKS && d0 + ZONE_DCHUNK < dim;
            auto stageWide = [&](float* target) {
                zone_stage_wide(target, points, rowStart, rows, dim, d0 + ZONE_DCHUNK);
                if (velocityGrad) zone_stage_wide(target + ZONE_WIDE_FLOATS, velocityGrad, rowStart, rows, dim, d0 + ZONE_DCHUNK);
                zone_async_commit();
            };
            if (WIDE_STAGES == 2 && more) {
                stageWide(shared + ((ch + 1) & 1) * wideSlot);
                zone_async_wait<1>();
            } else {
                zone_async_wait<0>();
            }
            __syncthreads();
            const float* xValues = shared + (WIDE_STAGES == 2 ? (ch & 1) * wideSlot : 0);
            zone_product_chunk(acc[ch], dsWeights, xValues);
            if (velocityGrad) zone_product_chunk(acc[ch], pWeights, xValues + ZONE_WIDE_FLOATS);
            __syncthreads();
            if (WIDE_STAGES == 1 && more) stageWide(shared);  // the one slot is free after the barrier
        }
    }

    zone_store_partial<CHUNKS>(acc, partialGrad, split, anchorStart, anchorCount, paddedDim, dimStart);
#pragma unroll
    for (int q = 0; q < 4; q++) {
        const float total = zone_sum16(dsSum[q]);
        const int j = anchorStart + ty + 16 * q;
        if (blockIdx.z == 0 && tx == 0 && j < anchorCount) partialDsSum[(long long)split * anchorCount + j] = total;
    }
}

// Every backward tile kernel of a version, defined by KERNEL(NAME, BODY, template arguments...): the points and
// anchors tiles for 1, 2 and 4 64-dim chunks, and the anchors tiles with one dim-tile slot (_w1, for 99 KB devices).
#define ZONE_BACKWARD_KERNEL_SET(KERNEL, POINTS, ANCHORS, TENSOR_LOGITS)          \
    KERNEL(POINTS##_64, zone_backward_points_tiles, 1, TENSOR_LOGITS)             \
    KERNEL(POINTS##_128, zone_backward_points_tiles, 2, TENSOR_LOGITS)            \
    KERNEL(POINTS##_256, zone_backward_points_tiles, 4, TENSOR_LOGITS)            \
    KERNEL(ANCHORS##_64, zone_backward_anchors_tiles, 1, TENSOR_LOGITS, 2)        \
    KERNEL(ANCHORS##_128, zone_backward_anchors_tiles, 2, TENSOR_LOGITS, 2)       \
    KERNEL(ANCHORS##_256, zone_backward_anchors_tiles, 4, TENSOR_LOGITS, 2)       \
    KERNEL(ANCHORS##_64_w1, zone_backward_anchors_tiles, 1, TENSOR_LOGITS, 1)     \
    KERNEL(ANCHORS##_128_w1, zone_backward_anchors_tiles, 2, TENSOR_LOGITS, 1)    \
    KERNEL(ANCHORS##_256_w1, zone_backward_anchors_tiles, 4, TENSOR_LOGITS, 1)
