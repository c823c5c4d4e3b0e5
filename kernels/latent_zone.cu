// Latent-zone kernels: one velocity evaluation of the latent flow over all anchors, fused with the Euler
// update, and its backward by recomputation (design/lzn-math.md sections 3, 6, 7). CPU mirror:
// src/LZN.Native/Backends/Cpu/CpuZoneKernels.cs; launcher: src/LZN.Native/Backends/Cuda/CudaZoneKernels.cs.
//
//   logit_ij = s (x_i . a_j - (c/2) |a_j|^2) + b_j        c = 1 - t, s = c / t^2
//   p_ij = softmax_j(logit_ij),  m_i = sum_j p_ij a_j,  v_i = (x_i - m_i) / t,  next_i = x_i + h v_i
//
// Flash-attention shape, fp32 everywhere, no fast-math (v divides the error of m by t ~ 1e-4):
// - a block of 256 threads owns a tile of 64 "owner" rows and streams 64-row tiles of the other matrix;
// - dot products x_i . a_j come from a 4x4-per-thread register micro-tile over 32-wide dim chunks staged in
//   shared memory; thread (tx, ty) = (tid % 16, tid / 16) owns owner rows ty + 16q and streamed rows tx + 16c;
// - the weights (probabilities or their gradients) go through shared memory into a [64 x dims] accumulator
//   held in registers: per 64-dim chunk, thread owns owner rows ty + 16q and dims 4 tx .. 4 tx + 3;
// - CHUNKS 64-dim chunks are held per block (template: 1, 2 or 4); wider dims are split over gridDim.z
//   ("dim groups", each recomputing the dot products); the streamed tiles are split over gridDim.y so that
//   small batches still fill the GPU, each split writing partials that a combine kernel merges.
// Every dot product is accumulated with fmaf in dim order 0..dim-1, in the tiles and in the per-row
// helpers alike, so recomputed logits equal the forward's bit for bit and D_i = g_i . m_i equals g_i . a_k
// exactly when the softmax is one-hot (then ds vanishes exactly instead of being rounding noise times 1/t).

#define ZONE_THREADS 256
#define ZONE_TILE 64                                        // owner rows per block, streamed rows per tile
#define ZONE_KCHUNK 32                                      // dims per dot-product chunk
#define ZONE_CHUNK_STRIDE (ZONE_KCHUNK + 4)                 // float4 rows of a warp land in distinct banks
#define ZONE_DCHUNK 64                                      // dims per accumulator chunk
#define ZONE_WIDE_STRIDE (ZONE_DCHUNK + 4)
#define ZONE_CHUNK_FLOATS (ZONE_TILE * ZONE_CHUNK_STRIDE)   // one staged [64 x 32] chunk
#define ZONE_WIDE_FLOATS (ZONE_TILE * ZONE_WIDE_STRIDE)     // one staged [64 x 64] tile

// ----------------------------------------------------------------------------------------------------
// device helpers

__device__ __forceinline__ float zone_neg_inf() { return __int_as_float(0xff800000); }

__device__ __forceinline__ int zone_ceil_div(int a, int b) { return (a + b - 1) / b; }

// The one logit expression (forward, backward and target log-prob use it, so they agree bit for bit).
__device__ __forceinline__ float zone_logit(float dot, float sqNorm, float logPrior, float scale, float halfC) {
    return fmaf(scale, fmaf(-halfC, sqNorm, dot), logPrior);
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

// Stages rows rowStart.. (64) and dims k0.. (32) of a row-major [rowCount, dim] matrix into a
// [64 x ZONE_CHUNK_STRIDE] shared tile, zero outside the matrix (zeros leave the fmaf chains unchanged).
__device__ __forceinline__ void zone_stage_chunk(float* dst, const float* src, int rowStart, int rowCount, int dim, int k0) {
    for (int e = threadIdx.x; e < ZONE_TILE * ZONE_KCHUNK; e += ZONE_THREADS) {
        const int r = e / ZONE_KCHUNK, k = e % ZONE_KCHUNK;
        const int row = rowStart + r, col = k0 + k;
        dst[r * ZONE_CHUNK_STRIDE + k] = (row < rowCount && col < dim) ? src[(long long)row * dim + col] : 0.0f;
    }
}

// Same for a [64 x 64] tile (rows rowStart.., dims d0..) into [64 x ZONE_WIDE_STRIDE].
__device__ __forceinline__ void zone_stage_wide(float* dst, const float* src, int rowStart, int rowCount, int dim, int d0) {
    for (int e = threadIdx.x; e < ZONE_TILE * ZONE_DCHUNK; e += ZONE_THREADS) {
        const int r = e / ZONE_DCHUNK, k = e % ZONE_DCHUNK;
        const int row = rowStart + r, col = d0 + k;
        dst[r * ZONE_WIDE_STRIDE + k] = (row < rowCount && col < dim) ? src[(long long)row * dim + col] : 0.0f;
    }
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

// ----------------------------------------------------------------------------------------------------
// per-row helpers

// out[i] = sum_k u[i,k] v[i,k] in dim order (|a_j|^2 with u = v = anchors; D_i = g_i . m_i).
extern "C" __global__ void zone_row_dots(const float* u, const float* v, float* out, int rows, int dim) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows) return;
    const float* ui = u + (long long)i * dim;
    const float* vi = v + (long long)i * dim;
    float sum = 0.0f;
    for (int k = 0; k < dim; k++) sum = fmaf(ui[k], vi[k], sum);
    out[i] = sum;
}

// ----------------------------------------------------------------------------------------------------
// forward: online softmax over anchor tiles, partial (max, sum, sum_j e^(l - max) a_j) per split

template <int CHUNKS>
__device__ void zone_forward_tiles(
    const float* __restrict__ points,        // [rows, dim]
    const float* __restrict__ anchors,       // [anchorCount, dim]
    const float* __restrict__ sqNorms,       // [anchorCount]
    const float* __restrict__ logPriors,     // [anchorCount] or null
    float* __restrict__ logits,              // [rows, anchorCount] raw logits, or null
    float* __restrict__ partialAcc,          // [splits, rows, paddedDim]
    float* __restrict__ partialMax,          // [splits, rows]
    float* __restrict__ partialSum,          // [splits, rows]
    int rows, int anchorCount, int dim, int paddedDim, int tilesPerSplit, float scale, float halfC) {
    extern __shared__ float4 zoneShared[];
    float* shared = reinterpret_cast<float*>(zoneShared);
    float* xs = shared;                                   // [64, CHUNK_STRIDE] points chunk
    float* as = shared + ZONE_CHUNK_FLOATS;               // [64, CHUNK_STRIDE] anchors chunk
    float* values = shared;                               // [64, WIDE_STRIDE] anchors dim chunk (after xs/as)
    float* weights = shared + 2 * ZONE_CHUNK_FLOATS;      // [64, WIDE_STRIDE] p_ij - row max

    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int rowStart = blockIdx.x * ZONE_TILE;
    const int split = blockIdx.y;
    const int dimStart = blockIdx.z * CHUNKS * ZONE_DCHUNK;
    const int tileBegin = split * tilesPerSplit;
    const int tileEnd = min(tileBegin + tilesPerSplit, zone_ceil_div(anchorCount, ZONE_TILE));

    float acc[CHUNKS][4][4] = {};
    float rowMax[4], rowSum[4];
#pragma unroll
    for (int q = 0; q < 4; q++) { rowMax[q] = zone_neg_inf(); rowSum[q] = 0.0f; }

    for (int tile = tileBegin; tile < tileEnd; tile++) {
        const int anchorStart = tile * ZONE_TILE;
        float l[4][4] = {};
        for (int k0 = 0; k0 < dim; k0 += ZONE_KCHUNK) {
            __syncthreads();
            zone_stage_chunk(xs, points, rowStart, rows, dim, k0);
            zone_stage_chunk(as, anchors, anchorStart, anchorCount, dim, k0);
            __syncthreads();
            zone_dot_chunk(l, xs, as);
        }
#pragma unroll
        for (int c = 0; c < 4; c++) {
            const int j = anchorStart + tx + 16 * c;
            const bool valid = j < anchorCount;
            const float sq = valid ? sqNorms[j] : 0.0f;
            const float b = valid && logPriors ? logPriors[j] : 0.0f;
#pragma unroll
            for (int q = 0; q < 4; q++) l[q][c] = valid ? zone_logit(l[q][c], sq, b, scale, halfC) : zone_neg_inf();
        }
        if (logits && blockIdx.z == 0) {
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const int i = rowStart + ty + 16 * q;
#pragma unroll
                for (int c = 0; c < 4; c++) {
                    const int j = anchorStart + tx + 16 * c;
                    if (i < rows && j < anchorCount) logits[(long long)i * anchorCount + j] = l[q][c];
                }
            }
        }
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const float tileMax = zone_max16(fmaxf(fmaxf(l[q][0], l[q][1]), fmaxf(l[q][2], l[q][3])));
            const float newMax = fmaxf(rowMax[q], tileMax);
            // exp(-inf - -inf) would be NaN: rows whose logits are all -inf so far keep weight 0.
            const float reference = newMax == zone_neg_inf() ? 0.0f : newMax;
            const float correction = expf(rowMax[q] - reference);
            float tileSum = 0.0f;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const float p = expf(l[q][c] - reference);
                tileSum += p;
                weights[(ty + 16 * q) * ZONE_WIDE_STRIDE + tx + 16 * c] = p;
            }
            rowSum[q] = fmaf(rowSum[q], correction, zone_sum16(tileSum));
            rowMax[q] = newMax;
#pragma unroll
            for (int ch = 0; ch < CHUNKS; ch++)
#pragma unroll
                for (int u = 0; u < 4; u++) acc[ch][q][u] *= correction;
        }
#pragma unroll
        for (int ch = 0; ch < CHUNKS; ch++) {
            const int d0 = dimStart + ch * ZONE_DCHUNK;
            if (d0 >= dim) break;   // uniform over the block
            __syncthreads();        // weights written, xs/as (aliased by values) no longer read
            zone_stage_wide(values, anchors, anchorStart, anchorCount, dim, d0);
            __syncthreads();
            zone_product_chunk(acc[ch], weights, values);
        }
    }

    zone_store_partial<CHUNKS>(acc, partialAcc, split, rowStart, rows, paddedDim, dimStart);
    if (blockIdx.z == 0 && tx == 0) {
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const int i = rowStart + ty + 16 * q;
            if (i < rows) {
                partialMax[(long long)split * rows + i] = rowMax[q];
                partialSum[(long long)split * rows + i] = rowSum[q];
            }
        }
    }
}

#define ZONE_FORWARD_KERNEL(NAME, CHUNKS)                                                                      \
    extern "C" __global__ void __launch_bounds__(ZONE_THREADS, 2) NAME(                                        \
        const float* __restrict__ points, const float* __restrict__ anchors, const float* __restrict__ sqNorms, \
        const float* __restrict__ logPriors, float* __restrict__ logits, float* __restrict__ partialAcc,        \
        float* __restrict__ partialMax, float* __restrict__ partialSum, int rows, int anchorCount, int dim,     \
        int paddedDim, int tilesPerSplit, float scale, float halfC) {                                          \
        zone_forward_tiles<CHUNKS>(points, anchors, sqNorms, logPriors, logits, partialAcc, partialMax,       \
                                   partialSum, rows, anchorCount, dim, paddedDim, tilesPerSplit, scale, halfC); \
    }

ZONE_FORWARD_KERNEL(zone_forward_tiles_64, 1)
ZONE_FORWARD_KERNEL(zone_forward_tiles_128, 2)
ZONE_FORWARD_KERNEL(zone_forward_tiles_256, 4)

// Merges the splits of one row (block = one row): lse, m, next = x + h (x - m) / t, target log-prob.
extern "C" __global__ void zone_forward_combine(
    const float* __restrict__ points,        // [rows, dim]
    const float* __restrict__ anchors,       // [anchorCount, dim]
    const float* __restrict__ sqNorms,       // [anchorCount]
    const float* __restrict__ logPriors,     // [anchorCount] or null
    const float* __restrict__ partialAcc,    // [splits, rows, paddedDim]
    const float* __restrict__ partialMax,    // [splits, rows]
    const float* __restrict__ partialSum,    // [splits, rows]
    const int* __restrict__ targets,         // [rows] or null
    float* __restrict__ nextPoints,          // [rows, dim]
    float* __restrict__ weightedMean,        // [rows, dim] or null
    float* __restrict__ logSumExp,           // [rows]
    float* __restrict__ targetLogProb,       // [rows] or null
    int rows, int anchorCount, int dim, int paddedDim, int splits,
    float time, float stepSize, float scale, float halfC) {
    const int i = blockIdx.x;
    float maxAll = zone_neg_inf();
    for (int s = 0; s < splits; s++) maxAll = fmaxf(maxAll, partialMax[(long long)s * rows + i]);
    const float reference = maxAll == zone_neg_inf() ? 0.0f : maxAll;
    float total = 0.0f;
    for (int s = 0; s < splits; s++)
        total = fmaf(expf(partialMax[(long long)s * rows + i] - reference), partialSum[(long long)s * rows + i], total);

    const float* x = points + (long long)i * dim;
    for (int k = threadIdx.x; k < dim; k += blockDim.x) {
        float sum = 0.0f;
        for (int s = 0; s < splits; s++)
            sum = fmaf(expf(partialMax[(long long)s * rows + i] - reference),
                       partialAcc[((long long)s * rows + i) * paddedDim + k], sum);
        const float m = sum / total;
        const float v = (x[k] - m) / time;
        nextPoints[(long long)i * dim + k] = fmaf(stepSize, v, x[k]);
        if (weightedMean) weightedMean[(long long)i * dim + k] = m;
    }

    if (threadIdx.x == 0) {
        const float lse = reference + logf(total);
        logSumExp[i] = lse;
        if (targetLogProb) {
            const int target = targets[i];
            float result = __int_as_float(0x7fc00000);  // NaN marks a target outside [0, anchorCount)
            if (target >= 0 && target < anchorCount) {
                const float* a = anchors + (long long)target * dim;
                float dot = 0.0f;
                for (int k = 0; k < dim; k++) dot = fmaf(x[k], a[k], dot);
                result = zone_logit(dot, sqNorms[target], logPriors ? logPriors[target] : 0.0f, scale, halfC) - lse;
            }
            targetLogProb[i] = result;
        }
    }
}

// probabilities[i, j] = exp(logit_ij - lse_i), in place over the raw logits written by the tiles.
extern "C" __global__ void zone_forward_probabilities(float* probabilities, const float* logSumExp, int rows, int anchorCount) {
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (long long)rows * anchorCount) return;
    probabilities[e] = expf(probabilities[e] - logSumExp[e / anchorCount]);
}

// ----------------------------------------------------------------------------------------------------
// backward (section 7), recomputing p_ij = exp(logit_ij - lse_i) from the saved lse:
//   ds_ij = -(p_ij / t)(g_i . a_j - D_i) + beta_i (delta_{j,tgt_i} - p_ij),   D_i = g_i . m_i
//   dx_i += g_i / t + s (sum_j ds_ij a_j - (sum_j ds_ij) m_i)     (centred: sum_j ds_ij = 0 exactly in math)
//   dA_j += sum_i (s ds_ij x_i - p_ij g_i / t) - s c a_j sum_i ds_ij,   db_j += sum_i ds_ij
// Two tile kernels so that every accumulator has one owner: the points kernel owns row tiles and streams
// anchor tiles, the anchors kernel owns anchor tiles and streams row tiles (no atomics).

__device__ __forceinline__ float zone_ds(float p, float gDot, float rowDot, float beta, bool isTarget, float time) {
    return fmaf(-p / time, gDot - rowDot, beta * ((isTarget ? 1.0f : 0.0f) - p));
}

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
        float time, float scale, float halfC
#define ZONE_BACKWARD_ARGS                                                                                     \
    points, anchors, sqNorms, logPriors, logSumExp, rowDots, velocityGrad, targets, targetGrad, partialGrad,   \
        partialDsSum, rows, anchorCount, dim, paddedDim, tilesPerSplit, time, scale, halfC

// Shapes: points [rows, dim], anchors [anchorCount, dim], sqNorms/logPriors [anchorCount], logSumExp/rowDots/
// targets/targetGrad [rows], velocityGrad [rows, dim] or null (rowDots then null too);
// partialGrad [splits, rows, paddedDim] = sum_j ds_ij a_j, partialDsSum [splits, rows] = sum_j ds_ij.
template <int CHUNKS>
__device__ void zone_backward_points_tiles(ZONE_BACKWARD_PARAMS) {
    extern __shared__ float4 zoneShared[];
    float* shared = reinterpret_cast<float*>(zoneShared);
    float* xs = shared;                                   // [64, CHUNK_STRIDE] points chunk
    float* gs = shared + ZONE_CHUNK_FLOATS;               // [64, CHUNK_STRIDE] velocity-gradient chunk
    float* as = shared + 2 * ZONE_CHUNK_FLOATS;           // [64, CHUNK_STRIDE] anchors chunk
    float* values = shared;                               // [64, WIDE_STRIDE] anchors dim chunk (after the chunks)
    float* weights = shared + 3 * ZONE_CHUNK_FLOATS;      // [64, WIDE_STRIDE] ds_ij

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
        float l[4][4] = {}, gl[4][4] = {};
        for (int k0 = 0; k0 < dim; k0 += ZONE_KCHUNK) {
            __syncthreads();
            zone_stage_chunk(xs, points, rowStart, rows, dim, k0);
            zone_stage_chunk(as, anchors, anchorStart, anchorCount, dim, k0);
            if (velocityGrad) zone_stage_chunk(gs, velocityGrad, rowStart, rows, dim, k0);
            __syncthreads();
            zone_dot_chunk(l, xs, as);
            if (velocityGrad) zone_dot_chunk(gl, gs, as);
        }
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
            __syncthreads();
            zone_stage_wide(values, anchors, anchorStart, anchorCount, dim, d0);
            __syncthreads();
            zone_product_chunk(acc[ch], weights, values);
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

// Same inputs; partialGrad [splits, anchorCount, paddedDim] = sum_i (s ds_ij x_i - p_ij g_i / t),
// partialDsSum [splits, anchorCount] = sum_i ds_ij. Thread roles are transposed: ty + 16q are anchors.
template <int CHUNKS>
__device__ void zone_backward_anchors_tiles(ZONE_BACKWARD_PARAMS) {
    extern __shared__ float4 zoneShared[];
    float* shared = reinterpret_cast<float*>(zoneShared);
    const int stageFloats = 2 * ZONE_WIDE_FLOATS;         // >= 3 chunks; the chunks and the dim tiles alternate
    float* as = shared;                                   // [64, CHUNK_STRIDE] anchors chunk
    float* xs = shared + ZONE_CHUNK_FLOATS;               // [64, CHUNK_STRIDE] points chunk
    float* gs = shared + 2 * ZONE_CHUNK_FLOATS;           // [64, CHUNK_STRIDE] velocity-gradient chunk
    float* xValues = shared;                              // [64, WIDE_STRIDE] points dim chunk
    float* gValues = shared + ZONE_WIDE_FLOATS;           // [64, WIDE_STRIDE] velocity-gradient dim chunk
    float* dsWeights = shared + stageFloats;              // [64 anchors, WIDE_STRIDE] s ds_ij
    float* pWeights = dsWeights + ZONE_WIDE_FLOATS;       // [64 anchors, WIDE_STRIDE] -p_ij / t

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
        float l[4][4] = {}, gl[4][4] = {};
        for (int k0 = 0; k0 < dim; k0 += ZONE_KCHUNK) {
            __syncthreads();
            zone_stage_chunk(as, anchors, anchorStart, anchorCount, dim, k0);
            zone_stage_chunk(xs, points, rowStart, rows, dim, k0);
            if (velocityGrad) zone_stage_chunk(gs, velocityGrad, rowStart, rows, dim, k0);
            __syncthreads();
            zone_dot_chunk(l, as, xs);
            if (velocityGrad) zone_dot_chunk(gl, as, gs);
        }
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const int j = anchorStart + ty + 16 * q;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const bool valid = j < anchorCount && row[c].valid;
                const float p = valid ? expf(zone_logit(l[q][c], sq[q], b[q], scale, halfC) - row[c].lse) : 0.0f;
                const float ds = valid ? zone_ds(p, gl[q][c], row[c].rowDot, row[c].beta, j == row[c].target, time) : 0.0f;
                dsSum[q] += ds;
                dsWeights[(ty + 16 * q) * ZONE_WIDE_STRIDE + tx + 16 * c] = scale * ds;
                pWeights[(ty + 16 * q) * ZONE_WIDE_STRIDE + tx + 16 * c] = -p / time;
            }
        }
#pragma unroll
        for (int ch = 0; ch < CHUNKS; ch++) {
            const int d0 = dimStart + ch * ZONE_DCHUNK;
            if (d0 >= dim) break;
            __syncthreads();
            zone_stage_wide(xValues, points, rowStart, rows, dim, d0);
            if (velocityGrad) zone_stage_wide(gValues, velocityGrad, rowStart, rows, dim, d0);
            __syncthreads();
            zone_product_chunk(acc[ch], dsWeights, xValues);
            if (velocityGrad) zone_product_chunk(acc[ch], pWeights, gValues);
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

#define ZONE_BACKWARD_KERNEL(NAME, BODY, CHUNKS)                                                  \
    extern "C" __global__ void __launch_bounds__(ZONE_THREADS) NAME(ZONE_BACKWARD_PARAMS) {       \
        BODY<CHUNKS>(ZONE_BACKWARD_ARGS);                                                         \
    }

ZONE_BACKWARD_KERNEL(zone_backward_points_tiles_64, zone_backward_points_tiles, 1)
ZONE_BACKWARD_KERNEL(zone_backward_points_tiles_128, zone_backward_points_tiles, 2)
ZONE_BACKWARD_KERNEL(zone_backward_points_tiles_256, zone_backward_points_tiles, 4)
ZONE_BACKWARD_KERNEL(zone_backward_anchors_tiles_64, zone_backward_anchors_tiles, 1)
ZONE_BACKWARD_KERNEL(zone_backward_anchors_tiles_128, zone_backward_anchors_tiles, 2)
ZONE_BACKWARD_KERNEL(zone_backward_anchors_tiles_256, zone_backward_anchors_tiles, 4)

// dx_i += g_i / t + s (sum_s partialGrad - (sum_s partialDsSum) m_i)   (block = one row)
extern "C" __global__ void zone_backward_points_combine(
    const float* __restrict__ weightedMean,  // [rows, dim]
    const float* __restrict__ velocityGrad,  // [rows, dim] or null
    const float* __restrict__ partialGrad,   // [splits, rows, paddedDim]
    const float* __restrict__ partialDsSum,  // [splits, rows]
    float* __restrict__ pointsGrad,          // [rows, dim], accumulated
    int rows, int dim, int paddedDim, int splits, float time, float scale) {
    const int i = blockIdx.x;
    float dsSum = 0.0f;
    for (int s = 0; s < splits; s++) dsSum += partialDsSum[(long long)s * rows + i];
    for (int k = threadIdx.x; k < dim; k += blockDim.x) {
        float sum = 0.0f;
        for (int s = 0; s < splits; s++) sum += partialGrad[((long long)s * rows + i) * paddedDim + k];
        const long long e = (long long)i * dim + k;
        const float direct = velocityGrad ? velocityGrad[e] / time : 0.0f;
        pointsGrad[e] += direct + scale * (sum - dsSum * weightedMean[e]);
    }
}

// dA_j += sum_s partialGrad - s c a_j sum_s partialDsSum;  db_j += sum_s partialDsSum   (block = one anchor)
extern "C" __global__ void zone_backward_anchors_combine(
    const float* __restrict__ anchors,       // [anchorCount, dim]
    const float* __restrict__ partialGrad,   // [splits, anchorCount, paddedDim]
    const float* __restrict__ partialDsSum,  // [splits, anchorCount]
    float* __restrict__ anchorsGrad,         // [anchorCount, dim] accumulated, or null
    float* __restrict__ logPriorsGrad,       // [anchorCount] accumulated, or null
    int anchorCount, int dim, int paddedDim, int splits, float scale, float c) {
    const int j = blockIdx.x;
    float dsSum = 0.0f;
    for (int s = 0; s < splits; s++) dsSum += partialDsSum[(long long)s * anchorCount + j];
    if (logPriorsGrad && threadIdx.x == 0) logPriorsGrad[j] += dsSum;
    if (!anchorsGrad) return;
    for (int k = threadIdx.x; k < dim; k += blockDim.x) {
        float sum = 0.0f;
        for (int s = 0; s < splits; s++) sum += partialGrad[((long long)s * anchorCount + j) * paddedDim + k];
        const long long e = (long long)j * dim + k;
        anchorsGrad[e] += sum - scale * c * dsSum * anchors[e];
    }
}
