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
// gemm-3xtf32 forms every dots = X A^T as one TF32 GEMM of zone_gemm_split_3xtf32's operands instead (forward and
// backward alike, so the logits still agree bit for bit); every other product stays fp32.
// Skipping zeros: at small t a row's softmax underflows to exactly 0 but at its nearest anchor or few (docs/zones.md).
// zone_gemm_forward_rows (and zone_gemm_count_nonzeros for the backward) count the chunk's nonzero p; where the
// launcher finds the chunk sparse it replaces m = P A by zone_gemm_sparse_mean, and the backward's four GEMMs after the
// logits by zone_gemm_sparse_backward_rows (each row's entries: nonzero p, target, self anchor) and
// zone_gemm_sparse_anchors (the scatter into dA in row order), with the entries of all rows in one list whose row
// offsets zone_gemm_entry_offsets lays out. Only the order of the nonzero terms changes.
// Sums over a row run in a fixed order per block (strided partials, then a block reduction), so results are
// deterministic. D_i is sum_j p_ij (g_i . a_j) from the same gDots the ds read, not g_i . m_i: a one-hot row then
// has D_i = g_i . a_k bit for bit and ds vanishes exactly instead of being rounding noise times 1/t.

#include "common.cuh"
#include "latent_zone_common.cuh"

#define ZONE_GEMM_ROW_THREADS 128  // threads of the per-row kernels (CudaZoneKernels.RowThreads)

// The backward's p_ij = exp(logit_ij - lse_i) from x_i . a_j: one expression for zone_gemm_backward_rows,
// zone_gemm_count_nonzeros and zone_gemm_sparse_backward_rows, so the entries counted are the entries found.
__device__ __forceinline__ float zone_gemm_backward_p(float dot, int j, const float* sqNorms, const float* logPriors,
                                                      float lse, float scale, float halfC) {
    return expf(zone_logit(dot, sqNorms[j], logPriors ? logPriors[j] : 0.0f, scale, halfC) - lse);
}

// Adds a thread's count to the row's (rowTotal, zeroed and published before) and the row's to *chunkTotal; returns
// the row's count in thread 0. Integer atomics: the sums do not depend on the order.
__device__ __forceinline__ unsigned zone_count_row(unsigned count, unsigned* rowTotal, unsigned* chunkTotal) {
    atomicAdd(rowTotal, count);
    __syncthreads();
    if (threadIdx.x == 0) atomicAdd(chunkTotal, *rowTotal);
    return *rowTotal;
}

// Order-preserving compaction of one flag per thread of a block of ZONE_GEMM_ROW_THREADS: returns the number of
// flagged threads before this one (its slot in the chunk's list) and sets *count to the chunk's total. The caller
// syncs before the next call rewrites warpCounts.
__device__ __forceinline__ int zone_compact_slot(bool flag, int* warpCounts, int* count) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const unsigned ballot = __ballot_sync(0xffffffffu, flag);
    if (lane == 0) warpCounts[warp] = __popc(ballot);
    __syncthreads();
    int before = 0, total = 0;
    for (int w = 0; w < ZONE_GEMM_ROW_THREADS / 32; w++) {
        before += w < warp ? warpCounts[w] : 0;
        total += warpCounts[w];
    }
    *count = total;
    return before + __popc(ballot & ((1u << lane) - 1u));
}

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
    unsigned* __restrict__ nonzeroStats,     // [2] the chunk's count of nonzero p (element 0), accumulated
    int anchorCount, float scale, float halfC) {
    __shared__ float scratch[32];
    __shared__ unsigned rowNonzeros;
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
    if (threadIdx.x == 0) rowNonzeros = 0;
    __syncthreads();  // the target's logit is read before it is overwritten
    unsigned nonzeros = 0;
    for (int j = threadIdx.x; j < anchorCount; j += blockDim.x) {
        const float p = expf(row[j] - lse);
        row[j] = p;
        nonzeros += p != 0.0f;
        if (probabilities) probabilities[i * anchorCount + j] = p;
    }
    zone_count_row(nonzeros, &rowNonzeros, &nonzeroStats[0]);
}

// The 3xTF32 operands of the logits' product (LZN_ZONE_KERNELS=gemm-3xtf32): each row x becomes three blocks of dim,
// x = hi + lo with hi = x rounded to TF32 (to nearest, ties away from zero, as cvt.rna.tf32.f32) and lo = x - hi
// (exact in fp32). Points take the layout [lo | hi | hi] and anchors [hi | lo | hi], so one TF32 GEMM over 3 dim
// sums lo.hi + hi.lo + hi.hi, small terms first; the dropped lo.lo is below 2^-22 |x||a| per product, and cuBLAS's
// own TF32 conversion of lo, which may truncate, below 2^-21. Integer rounding rather than cvt.rna, which needs sm_80,
// so the file still compiles for sm_75 (where cuBLAS computes TF32 requests in fp32).
__device__ __forceinline__ float zone_round_tf32(float x) {
    const unsigned bits = __float_as_uint(x);
    return (bits & 0x7f800000u) == 0x7f800000u ? x : __uint_as_float((bits + 0x1000u) & 0xffffe000u);
}

extern "C" __global__ void zone_gemm_split_3xtf32(
    const float* __restrict__ source,  // [rows, dim]
    float* __restrict__ split,         // [rows, 3 dim]: [lo | hi | hi] (points) or [hi | lo | hi] (anchors)
    long long count, int dim, int anchorLayout) {
    LZN_GRID_STRIDE_LOOP(e, count) {
        const long long row = e / dim;
        const int column = (int)(e - row * dim);
        const float x = source[e], hi = zone_round_tf32(x), lo = x - hi;
        float* out = split + row * 3 * dim + column;
        out[0] = anchorLayout ? hi : lo;
        out[dim] = anchorLayout ? lo : hi;
        out[2 * dim] = hi;
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
        const float p = zone_gemm_backward_p(row[j], j, sqNorms, logPriors, lse, scale, halfC);
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

// One block per row of the backward's chunk: nonzeroStats += {nonzero p_ij = exp(logit_ij - lse_i), entries}, where the
// row's entries are its nonzero p, its target and its self anchor (the p expression and the entries are those of
// zone_gemm_sparse_backward_rows); entryCounts_i = the row's entries.
extern "C" __global__ void zone_gemm_count_nonzeros(
    const float* __restrict__ dots,          // [rows, anchorCount] x_i . a_j
    const float* __restrict__ sqNorms,       // [anchorCount]
    const float* __restrict__ logPriors,     // [anchorCount] or null
    const float* __restrict__ logSumExp,     // [rows]
    const int* __restrict__ targets,         // [rows] or null
    unsigned* __restrict__ nonzeroStats,     // [2] {nonzero p, entries} of the chunk, accumulated
    int* __restrict__ entryCounts,           // [rows]
    int anchorCount, int selfOffset, float scale, float halfC) {
    __shared__ unsigned rowCounts[2];
    const long long i = blockIdx.x;
    const float* row = dots + i * anchorCount;
    const float lse = logSumExp[i];
    const int target = targets ? targets[i] : -1;
    const int self = selfOffset >= 0 ? selfOffset + (int)i : -1;
    if (threadIdx.x < 2) rowCounts[threadIdx.x] = 0;
    __syncthreads();
    unsigned nonzeros = 0, entries = 0;
    for (int j = threadIdx.x; j < anchorCount; j += blockDim.x) {
        const bool nonzero = zone_gemm_backward_p(row[j], j, sqNorms, logPriors, lse, scale, halfC) != 0.0f;
        nonzeros += nonzero;
        entries += nonzero || j == target || j == self;
    }
    zone_count_row(nonzeros, &rowCounts[0], &nonzeroStats[0]);
    const unsigned rowEntries = zone_count_row(entries, &rowCounts[1], &nonzeroStats[1]);
    if (threadIdx.x == 0) entryCounts[i] = (int)rowEntries;
}

// One block: entryOffsets = the exclusive prefix sums of entryCounts (entryOffsets[rows] = all entries). Each thread
// sums a contiguous run of rows, thread 0 scans the run totals, and each thread writes its run's offsets.
extern "C" __global__ void zone_gemm_entry_offsets(
    const int* __restrict__ entryCounts,     // [rows]
    int* __restrict__ entryOffsets,          // [rows + 1]
    int rows) {
    __shared__ int runStart[ZONE_GEMM_ROW_THREADS + 1];
    const int run = (int)ceil_div(rows, ZONE_GEMM_ROW_THREADS);
    const int first = min(rows, (int)threadIdx.x * run), last = min(rows, first + run);
    int sum = 0;
    for (int i = first; i < last; i++) sum += entryCounts[i];
    runStart[threadIdx.x + 1] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        runStart[0] = 0;
        for (int t = 1; t <= ZONE_GEMM_ROW_THREADS; t++) runStart[t] += runStart[t - 1];
        entryOffsets[rows] = runStart[ZONE_GEMM_ROW_THREADS];
    }
    __syncthreads();
    int offset = runStart[threadIdx.x];
    for (int i = first; i < last; i++) {
        entryOffsets[i] = offset;
        offset += entryCounts[i];
    }
}

// m_i = sum over the nonzero p_ij of p_ij a_j in column order, one block per row: P A without its zero products. A
// row with one nonzero p gets p a_j, the GEMM's result bit for bit. NaN counts as nonzero, as in the GEMM.
extern "C" __global__ void zone_gemm_sparse_mean(
    const float* __restrict__ probabilities, // [rows, anchorCount]
    const float* __restrict__ anchors,       // [anchorCount, dim]
    float* __restrict__ weightedMean,        // [rows, dim]
    int anchorCount, int dim) {
    __shared__ int warpCounts[ZONE_GEMM_ROW_THREADS / 32];
    __shared__ int columns[ZONE_GEMM_ROW_THREADS];
    __shared__ float weights[ZONE_GEMM_ROW_THREADS];
    const long long i = blockIdx.x;
    const float* pRow = probabilities + i * anchorCount;
    float* mean = weightedMean + i * dim;
    for (int k = threadIdx.x; k < dim; k += blockDim.x) mean[k] = 0.0f;  // each thread keeps its own dims below
    for (int base = 0; base < anchorCount; base += blockDim.x) {
        const int j = base + threadIdx.x;
        const float p = j < anchorCount ? pRow[j] : 0.0f;
        int count;
        const int slot = zone_compact_slot(p != 0.0f, warpCounts, &count);
        if (p != 0.0f) {
            columns[slot] = j;
            weights[slot] = p;
        }
        __syncthreads();
        for (int e = 0; e < count; e++) {
            const float* a = anchors + (long long)columns[e] * dim;
            for (int k = threadIdx.x; k < dim; k += blockDim.x) mean[k] = fmaf(weights[e], a[k], mean[k]);
        }
        __syncthreads();  // the list and the warp counts are rewritten by the next chunk
    }
}

// One block per row: the backward of a sparse chunk up to dA. Row i's entries, in column order at entryOffsets_i, are
// the columns where p_ij is nonzero, its target and its self anchor. Per entry: g_i . a_j (a warp each), then
// D_i = sum_e p_e (g_i . a_e), ds_e as zone_gemm_backward_rows computes it, and p_e - [j = self_i]; per row:
// sum_e ds_e and T_i = sum_e ds_e a_e (the GEMM T = ds A).
extern "C" __global__ void zone_gemm_sparse_backward_rows(
    const float* __restrict__ dots,          // [rows, anchorCount] x_i . a_j
    const float* __restrict__ anchors,       // [anchorCount, dim]
    const float* __restrict__ velocityGrad,  // [rows, dim] or null
    const float* __restrict__ sqNorms,       // [anchorCount]
    const float* __restrict__ logPriors,     // [anchorCount] or null
    const float* __restrict__ logSumExp,     // [rows]
    const int* __restrict__ targets,         // [rows] or null
    const float* __restrict__ targetGrad,    // [rows] beta_i, or null
    const int* __restrict__ entryOffsets,    // [rows + 1]
    int* __restrict__ entryRows,             // [entries] i
    int* __restrict__ entryColumns,          // [entries] j
    float* __restrict__ entryDs,             // [entries] ds_ij
    float* __restrict__ entryWeights,        // [entries] p_ij - [j = self_i]
    float* __restrict__ rowDsSum,            // [rows]
    float* __restrict__ dsTimesAnchors,      // [rows, dim] T
    int anchorCount, int dim, int selfOffset, float time, float scale, float halfC) {
    __shared__ int warpCounts[ZONE_GEMM_ROW_THREADS / 32];
    const long long i = blockIdx.x;
    const float* row = dots + i * anchorCount;
    const int first = entryOffsets[i], entries = entryOffsets[i + 1] - first;
    int* columns = entryColumns + first;
    float* ds = entryDs + first;
    float* weights = entryWeights + first;
    const float lse = logSumExp[i];
    const int target = targets ? targets[i] : -1;
    const int self = selfOffset >= 0 ? selfOffset + (int)i : -1;

    int found = 0;
    for (int base = 0; base < anchorCount; base += blockDim.x) {
        const int j = base + threadIdx.x;
        const float p = j < anchorCount ? zone_gemm_backward_p(row[j], j, sqNorms, logPriors, lse, scale, halfC) : 0.0f;
        const bool entry = j < anchorCount && (p != 0.0f || j == target || j == self);
        int count;
        const int slot = found + zone_compact_slot(entry, warpCounts, &count);
        if (entry) {
            if (slot >= entries) __trap();  // more entries than zone_gemm_count_nonzeros counted
            entryRows[first + slot] = (int)i;
            columns[slot] = j;
            weights[slot] = p;
        }
        found += count;
        __syncthreads();  // the warp counts are rewritten by the next chunk
    }
    if (found != entries) __trap();  // fewer entries than counted: the list would hold unwritten slots

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const float* g = velocityGrad ? velocityGrad + i * dim : nullptr;
    for (int e = warp; e < entries; e += ZONE_GEMM_ROW_THREADS / 32) {
        float dot = 0.0f;
        if (g) {
            const float* a = anchors + (long long)columns[e] * dim;
            for (int k = lane; k < dim; k += 32) dot = fmaf(g[k], a[k], dot);
        }
        dot = warp_reduce_sum(dot);
        if (lane == 0) ds[e] = dot;  // g_i . a_j until ds replaces it
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float rowDot = 0.0f;
        for (int e = 0; e < entries; e++) rowDot = fmaf(weights[e], ds[e], rowDot);
        const float beta = targetGrad ? targetGrad[i] : 0.0f;
        float dsSum = 0.0f;
        for (int e = 0; e < entries; e++) {
            const float p = weights[e];
            const float value = zone_ds(p, ds[e], rowDot, beta, columns[e] == target, time);
            ds[e] = value;
            dsSum += value;
            weights[e] = columns[e] == self ? p - 1.0f : p;
        }
        rowDsSum[i] = dsSum;
    }
    __syncthreads();
    float* t = dsTimesAnchors + i * dim;
    for (int k = threadIdx.x; k < dim; k += blockDim.x) {
        float sum = 0.0f;
        for (int e = 0; e < entries; e++) sum = fmaf(ds[e], anchors[(long long)columns[e] * dim + k], sum);
        t[k] = sum;
    }
}

// The scatter of a sparse chunk: dA_j += -(1/t) (p_ij - S_ij) g_i + s ds_ij x_i and columnSums_j += ds_ij for every
// entry. A block owns ZONE_GEMM_SPARSE_ANCHORS anchors and walks the chunk's whole entry list in row order, so every
// element of dA is summed by one thread in a fixed order: deterministic without atomics. columnSums holds the
// earlier chunks' sums.
#define ZONE_GEMM_SPARSE_ANCHORS 64
extern "C" __global__ void zone_gemm_sparse_anchors(
    const int* __restrict__ entryOffsets,    // [rows + 1]; entryOffsets[rows] = entries
    const int* __restrict__ entryRows,       // [entries]
    const int* __restrict__ entryColumns,    // [entries]
    const float* __restrict__ entryDs,       // [entries]
    const float* __restrict__ entryWeights,  // [entries] p_ij - S_ij
    const float* __restrict__ points,        // [rows, dim]
    const float* __restrict__ velocityGrad,  // [rows, dim] or null
    float* __restrict__ anchorsGrad,         // [anchorCount, dim] accumulated, or null
    float* __restrict__ columnSums,          // [anchorCount] accumulated
    int rows, int dim, float time, float scale) {
    __shared__ int warpCounts[ZONE_GEMM_ROW_THREADS / 32];
    __shared__ int list[ZONE_GEMM_ROW_THREADS];
    const int anchorStart = blockIdx.x * ZONE_GEMM_SPARSE_ANCHORS;
    const int entries = entryOffsets[rows];
    const float gScale = -1.0f / time;
    for (int base = 0; base < entries; base += blockDim.x) {
        const int e = base + threadIdx.x;
        const bool mine = e < entries && entryColumns[e] >= anchorStart && entryColumns[e] < anchorStart + ZONE_GEMM_SPARSE_ANCHORS;
        int count;
        const int slot = zone_compact_slot(mine, warpCounts, &count);
        if (mine) list[slot] = e;
        __syncthreads();
        for (int m = 0; m < count; m++) {
            const int entry = list[m], i = entryRows[entry], j = entryColumns[entry];
            if (threadIdx.x == 0) columnSums[j] += entryDs[entry];
            if (!anchorsGrad) continue;
            float* anchorGrad = anchorsGrad + (long long)j * dim;
            const float* x = points + (long long)i * dim;
            const float* g = velocityGrad ? velocityGrad + (long long)i * dim : nullptr;
            const float gWeight = gScale * entryWeights[entry], xWeight = scale * entryDs[entry];
            for (int k = threadIdx.x; k < dim; k += blockDim.x) {
                const float value = g ? fmaf(g[k], gWeight, anchorGrad[k]) : anchorGrad[k];
                anchorGrad[k] = fmaf(x[k], xWeight, value);
            }
        }
        __syncthreads();  // the list and the warp counts are rewritten by the next chunk
    }
}
