// Latent-zone step on cuBLAS (LZN_ZONE_KERNELS=gemm): the products of the step and its backward are fp32 SGEMMs over a
// chunk of rows, and these per-row kernels do everything between them. The formulas are kernels/latent_zone.cu's
// (docs/math.md sections 3 and 7); the launcher is src/LZN.Native/Backends/Cuda/CudaZoneGemm.cs, the CPU mirror
// src/LZN.Native/Backends/Cpu/CpuZoneKernels.cs. Per chunk of R rows the launcher materialises [R, anchorCount]
// (dots, then probabilities or ds in place), R sized to a fixed budget, so the extra memory does not grow with rows.
//
// forward:  dots = X A^T (GEMM) -> zone_gemm_forward_rows: logits, lse, p in place -> m = P A (GEMM)
//           -> zone_gemm_forward_update: next = x + h (x - m) / t
// backward: dots = X A^T and gDots = G A^T (GEMMs, the forward's shapes, so the logits are the forward's bit for bit)
//           -> zone_gemm_backward_rows: ds in place of dots, p - [j = self] in place of gDots, row sums of ds
//           -> zone_gemm_column_sums: sum_i ds_ij;  T = ds A (GEMM) -> zone_gemm_points_combine: dx (and dA of self rows)
//           -> dA += s ds^T X - (1/t) (P - S)^T G (GEMMs) ... -> zone_gemm_anchors_finalize: - s c a_j sum_i ds_ij, db.
// Sums over a row run in a fixed order per block (strided partials, then a block reduction), so results are
// deterministic. D_i is sum_j p_ij (g_i . a_j) from the same gDots the ds read, not g_i . m_i: a one-hot row then
// has D_i = g_i . a_k bit for bit and ds vanishes exactly instead of being rounding noise times 1/t.

#include "common.cuh"
#include "latent_zone_common.cuh"

// One block per row of the chunk. In place: dots [rows, anchorCount] become p_ij = exp(logit_ij - lse_i); also the
// full probabilities when asked for, lse_i and log p(i -> target_i) (NaN for a target outside [0, anchorCount)).
extern "C" __global__ void zone_gemm_forward_rows(
    float* __restrict__ dots,                // [rows, anchorCount] x_i . a_j in, p_ij out
    const float* __restrict__ sqNorms,       // [anchorCount]
    const float* __restrict__ logPriors,     // [anchorCount] or null
    const int* __restrict__ targets,         // [rows] or null
    float* __restrict__ probabilities,       // [rows, anchorCount] or null
    float* __restrict__ logSumExp,           // [rows]
    float* __restrict__ targetLogProb,       // [rows] or null
    int anchorCount, float scale, float halfC) {
    __shared__ float scratch[32];
    const long long i = blockIdx.x;
    float* row = dots + i * anchorCount;
    float rowMax = zone_neg_inf();
    for (int j = threadIdx.x; j < anchorCount; j += blockDim.x) {
        const float logit = zone_logit(row[j], sqNorms[j], logPriors ? logPriors[j] : 0.0f, scale, halfC);
        row[j] = logit;
        rowMax = fmaxf(rowMax, logit);
    }
    rowMax = block_reduce_max(rowMax, scratch);
    const float reference = rowMax == zone_neg_inf() ? 0.0f : rowMax;
    float total = 0.0f;
    for (int j = threadIdx.x; j < anchorCount; j += blockDim.x) total += expf(row[j] - reference);
    total = block_reduce_sum(total, scratch);  // its barriers also order the logits' writes before the reads below
    const float lse = reference + logf(total);

    if (threadIdx.x == 0) {
        logSumExp[i] = lse;
        if (targetLogProb) {
            const int target = targets[i];
            targetLogProb[i] = target >= 0 && target < anchorCount ? row[target] - lse : __int_as_float(0x7fc00000);
        }
    }
    __syncthreads();  // the target's logit is read before it is overwritten
    for (int j = threadIdx.x; j < anchorCount; j += blockDim.x) {
        const float p = expf(row[j] - lse);
        row[j] = p;
        if (probabilities) probabilities[i * anchorCount + j] = p;
    }
}

// next = x + h (x - m) / t, elementwise over [rows, dim].
extern "C" __global__ void zone_gemm_forward_update(
    const float* __restrict__ points,        // [rows, dim]
    const float* __restrict__ weightedMean,  // [rows, dim]
    float* __restrict__ nextPoints,          // [rows, dim]
    long long count, float time, float stepSize) {
    LZN_GRID_STRIDE_LOOP(e, count) {
        const float x = points[e];
        nextPoints[e] = fmaf(stepSize, (x - weightedMean[e]) / time, x);
    }
}

// One block per row of the chunk. In place: dots (x_i . a_j) become ds_ij; gDots (g_i . a_j), when there is a velocity
// gradient, become p_ij - [j = self_i], the weights of dA's -(1/t) (P - S)^T G (self_i = selfOffset + i, or none when
// selfOffset < 0: an exactly one-hot self row then weighs exactly 0). rowDsSum_i = sum_j ds_ij.
extern "C" __global__ void zone_gemm_backward_rows(
    float* __restrict__ dots,                // [rows, anchorCount] x_i . a_j in, ds_ij out
    float* __restrict__ gDots,               // [rows, anchorCount] g_i . a_j in, p_ij - [j = self_i] out; or null
    const float* __restrict__ sqNorms,       // [anchorCount]
    const float* __restrict__ logPriors,     // [anchorCount] or null
    const float* __restrict__ logSumExp,     // [rows]
    const int* __restrict__ targets,         // [rows] or null
    const float* __restrict__ targetGrad,    // [rows] beta_i, or null
    float* __restrict__ rowDsSum,            // [rows]
    int anchorCount, int selfOffset, float time, float scale, float halfC) {
    __shared__ float scratch[32];
    const long long i = blockIdx.x;
    float* row = dots + i * anchorCount;
    float* gRow = gDots ? gDots + i * anchorCount : nullptr;
    const float lse = logSumExp[i];
    float rowDot = 0.0f;
    for (int j = threadIdx.x; j < anchorCount; j += blockDim.x) {
        const float p = expf(zone_logit(row[j], sqNorms[j], logPriors ? logPriors[j] : 0.0f, scale, halfC) - lse);
        row[j] = p;
        if (gRow) rowDot = fmaf(p, gRow[j], rowDot);
    }
    if (gRow) rowDot = block_reduce_sum(rowDot, scratch);

    const float beta = targetGrad ? targetGrad[i] : 0.0f;
    const int target = targets ? targets[i] : -1;
    const int self = selfOffset >= 0 ? selfOffset + (int)i : -1;
    float dsSum = 0.0f;
    for (int j = threadIdx.x; j < anchorCount; j += blockDim.x) {
        const float p = row[j];
        const float ds = zone_ds(p, gRow ? gRow[j] : 0.0f, rowDot, beta, j == target, time);
        row[j] = ds;
        dsSum += ds;
        if (gRow) gRow[j] = j == self ? p - 1.0f : p;
    }
    dsSum = block_reduce_sum(dsSum, scratch);
    if (threadIdx.x == 0) rowDsSum[i] = dsSum;
}

// columnSums[j] = (accumulate ? columnSums[j] : 0) + sum_i ds_ij over the chunk's rows: blocks of 32 columns x 8 row groups, each thread summing its
// group's rows in order, then the 8 partials in order (deterministic).
#define ZONE_GEMM_COLUMNS 32
#define ZONE_GEMM_ROW_GROUPS 8
extern "C" __global__ void zone_gemm_column_sums(
    const float* __restrict__ ds,            // [rows, anchorCount]
    float* __restrict__ columnSums,          // [anchorCount]
    int rows, int anchorCount, int accumulate) {
    __shared__ float partial[ZONE_GEMM_ROW_GROUPS][ZONE_GEMM_COLUMNS];
    const int column = threadIdx.x % ZONE_GEMM_COLUMNS, group = threadIdx.x / ZONE_GEMM_COLUMNS;
    const int j = blockIdx.x * ZONE_GEMM_COLUMNS + column;
    float sum = 0.0f;
    if (j < anchorCount)
        for (int i = group; i < rows; i += ZONE_GEMM_ROW_GROUPS) sum += ds[(long long)i * anchorCount + j];
    partial[group][column] = sum;
    __syncthreads();
    if (group == 0 && j < anchorCount) {
        float total = 0.0f;
        for (int g = 0; g < ZONE_GEMM_ROW_GROUPS; g++) total += partial[g][column];
        columnSums[j] = accumulate ? columnSums[j] + total : total;
    }
}

// u_i = s (T_i - (sum_j ds_ij) m_i) with T = ds A: dx_i += g_i / t + u_i, and with self anchors also
// dA_{self_i} += c u_i (the query path through the logits). Elementwise over [rows, dim].
extern "C" __global__ void zone_gemm_points_combine(
    const float* __restrict__ weightedMean,  // [rows, dim]
    const float* __restrict__ velocityGrad,  // [rows, dim] or null
    const float* __restrict__ dsTimesAnchors,  // [rows, dim] T
    const float* __restrict__ rowDsSum,      // [rows]
    float* __restrict__ pointsGrad,          // [rows, dim], accumulated
    float* __restrict__ anchorsGrad,         // [anchorCount, dim], accumulated when selfOffset >= 0
    int rows, int dim, int selfOffset, float time, float scale, float c) {
    LZN_GRID_STRIDE_LOOP(e, (long long)rows * dim) {
        const long long i = e / dim;
        const float direct = velocityGrad ? velocityGrad[e] / time : 0.0f;
        const float throughLogits = scale * (dsTimesAnchors[e] - rowDsSum[i] * weightedMean[e]);
        pointsGrad[e] += direct + throughLogits;
        if (selfOffset >= 0) anchorsGrad[(selfOffset + i) * dim + e % dim] += c * throughLogits;
    }
}

// dA_j += -s c a_j sum_i ds_ij;  db_j += sum_i ds_ij. Elementwise over [anchorCount, dim].
extern "C" __global__ void zone_gemm_anchors_finalize(
    const float* __restrict__ anchors,       // [anchorCount, dim]
    const float* __restrict__ columnSums,    // [anchorCount] sum_i ds_ij over all rows
    float* __restrict__ anchorsGrad,         // [anchorCount, dim] accumulated, or null
    float* __restrict__ logPriorsGrad,       // [anchorCount] accumulated, or null
    int anchorCount, int dim, float scale, float c) {
    LZN_GRID_STRIDE_LOOP(e, (long long)anchorCount * dim) {
        const long long j = e / dim;
        if (anchorsGrad) anchorsGrad[e] -= scale * c * columnSums[j] * anchors[e];
        if (logPriorsGrad && e % dim == 0) logPriorsGrad[j] += columnSums[j];
    }
}
