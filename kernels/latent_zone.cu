// Latent-zone kernels: one velocity evaluation of the latent flow over all anchors, fused with the Euler
// update, and its backward by recomputation (docs/math.md sections 3, 6, 7). CPU mirror:
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
// - global -> shared staging is asynchronous (cp.async, sm_80+) and double-buffered: the next chunk streams
//   in while the current one is multiplied, at no register cost;
// - CHUNKS 64-dim chunks are held per block (template: 1, 2 or 4); wider dims are split over gridDim.z
//   ("dim groups", each recomputing the dot products); the streamed tiles are split over gridDim.y so that
//   small batches still fill the GPU, each split writing partials that a combine kernel merges.
// Every dot product is accumulated with fmaf in dim order 0..dim-1, in the tiles and in the per-row
// helpers alike, so recomputed logits equal the forward's bit for bit and D_i = g_i . m_i equals g_i . a_k
// exactly when the softmax is one-hot (then ds vanishes exactly instead of being rounding noise times 1/t).

#include "latent_zone_tiles.cuh"
#include "latent_zone_backward.cuh"

// ----------------------------------------------------------------------------------------------------
// per-row helpers

// out[i] = sum_k u[i,k] v[i,k], one thread per row, fmaf in dim order like the tiles: D_i = g_i . m_i, which
// must equal the tiles' g_i . a_k bit for bit when m_i = a_k (one-hot rows).
extern "C" __global__ void zone_row_dots(const float* __restrict__ u, const float* __restrict__ v, float* __restrict__ out, int rows, int dim) {
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
    // Two stage slots of (points chunk, anchors chunk) [64, CHUNK_STRIDE] each; the product phase reuses them as
    // two anchors dim tiles [64, WIDE_STRIDE]. Then the weights [64, WIDE_STRIDE]: exp(logit - running row max).
    extern __shared__ float4 zoneShared[];
    float* shared = reinterpret_cast<float*>(zoneShared);
    zone_require_shared(ZONE_FORWARD_SHARED_FLOATS);
    const int slot = 2 * ZONE_CHUNK_FLOATS;
    float* weights = shared + 2 * slot;

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
        auto stageChunk = [&](int chunk) {
            float* target = shared + (chunk & 1) * slot;
            zone_stage_chunk(target, points, rowStart, rows, dim, chunk * ZONE_KCHUNK);
            zone_stage_chunk(target + ZONE_CHUNK_FLOATS, anchors, anchorStart, anchorCount, dim, chunk * ZONE_KCHUNK);
            zone_async_commit();
        };
        float l[4][4] = {};
        const int chunks = zone_ceil_div(dim, ZONE_KCHUNK);
        stageChunk(0);
        for (int chunk = 0; chunk < chunks; chunk++) {
            // Chunk + 1 goes to the slot last read before the previous trailing barrier.
            if (chunk + 1 < chunks) { stageChunk(chunk + 1); zone_async_wait<1>(); } else { zone_async_wait<0>(); }
            __syncthreads();
            const float* staged = shared + (chunk & 1) * slot;
            zone_dot_chunk(l, staged, staged + ZONE_CHUNK_FLOATS);
            __syncthreads();
        }
        // The first anchors dim tile streams in while the softmax runs.
        zone_stage_wide(shared, anchors, anchorStart, anchorCount, dim, dimStart);
        zone_async_commit();
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
            if (d0 >= dim) break;  // uniform over the block
            if (ch + 1 < CHUNKS && d0 + ZONE_DCHUNK < dim) {
                zone_stage_wide(shared + ((ch + 1) & 1) * ZONE_WIDE_FLOATS, anchors, anchorStart, anchorCount, dim, d0 + ZONE_DCHUNK);
                zone_async_commit();
                zone_async_wait<1>();
            } else {
                zone_async_wait<0>();
            }
            __syncthreads();  // also publishes the weights
            zone_product_chunk(acc[ch], weights, shared + (ch & 1) * ZONE_WIDE_FLOATS);
            __syncthreads();
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

// Merges the splits of one row (block = one row): lse, m, next = x + h (x - m) / t, target log-prob. The target's
// logit must be bit for bit one of those lse came from (else log-probs of rows sure of their zone leave 0 by the
// logits' last bits times s): v1 recomputes it with its tiles' fmaf chain; v2's tiles pass their own (targetLogits).
extern "C" __global__ void zone_forward_combine(
    const float* __restrict__ points,        // [rows, dim]
    const float* __restrict__ anchors,       // [anchorCount, dim]
    const float* __restrict__ sqNorms,       // [anchorCount]
    const float* __restrict__ logPriors,     // [anchorCount] or null
    const float* __restrict__ partialAcc,    // [splits, rows, paddedDim]
    const float* __restrict__ partialMax,    // [splits, rows]
    const float* __restrict__ partialSum,    // [splits, rows]
    const int* __restrict__ targets,         // [rows] or null
    const float* __restrict__ targetLogits,  // [rows] the tiles' logit of each target in range, or null: recomputed
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
                float logit;
                if (targetLogits) {
                    logit = targetLogits[i];
                } else {
                    const float* a = anchors + (long long)target * dim;
                    float dot = 0.0f;
                    for (int k = 0; k < dim; k++) dot = fmaf(x[k], a[k], dot);
                    logit = zone_logit(dot, sqNorms[target], logPriors ? logPriors[target] : 0.0f, scale, halfC);
                }
                result = logit - lse;
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
// backward tiles (kernels/latent_zone_backward.cuh), logits as fp32 FMA chains like the forward's

// BODY's template arguments follow it: CHUNKS, TENSOR_LOGITS (false here) and, for the anchors tiles, WIDE_STAGES.
#define ZONE_BACKWARD_KERNEL(NAME, BODY, ...)                                                     \
    extern "C" __global__ void __launch_bounds__(ZONE_THREADS) NAME(ZONE_BACKWARD_PARAMS) {       \
        BODY<__VA_ARGS__>(ZONE_BACKWARD_ARGS);                                                    \
    }

ZONE_BACKWARD_KERNEL_SET(ZONE_BACKWARD_KERNEL, zone_backward_points_tiles, zone_backward_anchors_tiles, false)

// dx_i += g_i / t + u_i with u_i = s (sum_s partialGrad - (sum_s partialDsSum) m_i), and with self anchors
// also dA_{selfOffset + i} += c u_i (the query path through the logits)   (block = one row)
extern "C" __global__ void zone_backward_points_combine(
    const float* __restrict__ weightedMean,  // [rows, dim]
    const float* __restrict__ velocityGrad,  // [rows, dim] or null
    const float* __restrict__ partialGrad,   // [splits, rows, paddedDim]
    const float* __restrict__ partialDsSum,  // [splits, rows]
    float* __restrict__ pointsGrad,          // [rows, dim], accumulated
    float* __restrict__ anchorsGrad,         // [anchorCount, dim], accumulated when selfOffset >= 0
    int rows, int dim, int paddedDim, int splits, int selfOffset, float time, float scale, float c) {
    const int i = blockIdx.x;
    float dsSum = 0.0f;
    for (int s = 0; s < splits; s++) dsSum += partialDsSum[(long long)s * rows + i];
    for (int k = threadIdx.x; k < dim; k += blockDim.x) {
        float sum = 0.0f;
        for (int s = 0; s < splits; s++) sum += partialGrad[((long long)s * rows + i) * paddedDim + k];
        const long long e = (long long)i * dim + k;
        const float direct = velocityGrad ? velocityGrad[e] / time : 0.0f;
        const float throughLogits = scale * (sum - dsSum * weightedMean[e]);
        pointsGrad[e] += direct + throughLogits;
        if (selfOffset >= 0) anchorsGrad[(long long)(selfOffset + i) * dim + k] += c * throughLogits;
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
