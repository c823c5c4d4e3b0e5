// libcublas.so.13 of the emulated device: the cuBLAS entry points the project binds
// (src/LZN.Native/Interop/Cuda/Cublas.cs), with cuBLAS's own argument checks, computed by OpenBLAS on the
// emulated device memory. Operands are checked against the emulator's allocations first: a GEMM that would
// read or write past one is a sticky illegal-address fault, as the real library's kernels would cause.
// TF32 math (CUBLAS_TF32_TENSOR_OP_MATH, CUBLAS_COMPUTE_32F_FAST_TF32) rounds A and B to TF32 first. Under
// LZN_EMULATOR_TF32=truncate it instead truncates them and sums 8 products at a time with the tensor cores' truncating
// accumulation (lzn_emu_tf32_accumulate, the same model as the emulated mma), in K order: slow, for the tests' sizes.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
// OpenBLAS's CBLAS interface (libopenblas.so.0); declared here so that no -dev package is needed.
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };
void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE transa, CBLAS_TRANSPOSE transb, int m, int n, int k, float alpha,
                 const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);

// The emulated driver (libcuda.so.1).
int lzn_emu_check_device_range(uint64_t address, size_t bytes, char* message, size_t capacity);
void lzn_emu_report_fault(int status, const char* message);
int lzn_emu_context_status(void);
int lzn_emu_tf32_truncates(void);
float lzn_emu_tf32_accumulate(const double* terms, int count, int truncate);
}

namespace {

enum Status {
    kSuccess = 0, kNotInitialized = 1, kAllocFailed = 3, kInvalidValue = 7, kArchMismatch = 8, kMappingError = 11,
    kExecutionFailed = 13, kInternalError = 14, kNotSupported = 15, kLicenseError = 16,
};
enum Operation { kOpN = 0, kOpT = 1, kOpC = 2 };
enum MathMode { kDefaultMath = 0, kTensorOpMath = 1, kPedanticMath = 2, kTf32TensorOpMath = 3 };
enum DataType { kR32F = 0 };
enum ComputeType { kCompute32F = 68, kCompute32FPedantic = 69, kCompute32FFastTf32 = 77 };
constexpr int kIllegalAddress = 700;

struct Handle {
    void* stream = nullptr;
    int math_mode = kDefaultMath;
    uint64_t workspace = 0;
    size_t workspace_bytes = 0;
};

struct Matrix {
    const char* name;
    uint64_t address;
    int rows, cols, ld;
    long long stride;
};

// Keeps 10 mantissa bits: half = 0x1000 rounds to nearest with ties away from zero (cvt.rna.tf32.f32), half = 0
// truncates (what tensor cores read of an fp32 operand). Inf and NaN stay.
float to_tf32(float value, uint32_t half) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + half) & 0xffffe000u;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

// C = alpha op(A) op(B) + beta C (column-major) as TF32 tensor cores with truncating accumulation compute it.
void truncating_tf32_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb, float beta,
                          float* c, int ldc) {
    for (int col = 0; col < n; col++)
        for (int row = 0; row < m; row++) {
            float acc = 0.0f;
            for (int k0 = 0; k0 < k; k0 += 8) {
                double terms[9] = {acc};
                int count = 1;
                for (int kk = k0; kk < std::min(k, k0 + 8); kk++) {
                    const float x = ta ? a[(size_t)row * lda + kk] : a[(size_t)kk * lda + row];
                    const float y = tb ? b[(size_t)kk * ldb + col] : b[(size_t)col * ldb + kk];
                    terms[count++] = (double)to_tf32(x, 0) * to_tf32(y, 0);
                }
                acc = lzn_emu_tf32_accumulate(terms, count, 1);
            }
            float& out = c[(size_t)col * ldc + row];
            out = beta == 0.0f ? alpha * acc : alpha * acc + beta * out;
        }
}

// Column-major [rows, cols] with leading dimension ld, batch stride `stride`: the elements a GEMM touches.
size_t extent(const Matrix& m, int batches) {
    if (m.rows == 0 || m.cols == 0 || batches == 0) return 0;
    return (size_t)(batches - 1) * (size_t)m.stride + (size_t)(m.cols - 1) * (size_t)m.ld + (size_t)m.rows;
}

// False (and a sticky fault) when a matrix reaches outside device memory.
bool operands_in_bounds(const char* call, const std::vector<Matrix>& matrices, int batches) {
    for (const auto& m : matrices) {
        size_t elements = extent(m, batches);
        if (elements == 0) continue;
        char message[512];
        if (lzn_emu_check_device_range(m.address, elements * sizeof(float), message, sizeof message) == 0) continue;
        std::string text = std::string(call) + ": matrix " + m.name + " (" + std::to_string(m.rows) + " x " + std::to_string(m.cols) +
                           ", ld " + std::to_string(m.ld) + ") at " + message;
        lzn_emu_report_fault(kIllegalAddress, text.c_str());
        return false;
    }
    return true;
}

int check_gemm(const Handle* handle, int transa, int transb, int m, int n, int k, int lda, int ldb, int ldc, int batches) {
    if (!handle) return kNotInitialized;
    if (transa < kOpN || transa > kOpC || transb < kOpN || transb > kOpC) return kInvalidValue;
    if (m < 0 || n < 0 || k < 0 || batches < 0) return kInvalidValue;
    if (lda < std::max(1, transa == kOpN ? m : k)) return kInvalidValue;
    if (ldb < std::max(1, transb == kOpN ? k : n)) return kInvalidValue;
    if (ldc < std::max(1, m)) return kInvalidValue;
    return kSuccess;
}

// One single-precision GEMM per batch, C = alpha op(A) op(B) + beta C (column-major, as cuBLAS).
int gemm(const char* call, Handle* handle, int transa, int transb, int m, int n, int k, float alpha, uint64_t a, int lda,
         long long stride_a, uint64_t b, int ldb, long long stride_b, float beta, uint64_t c, int ldc, long long stride_c, int batches,
         bool tf32) {
    if (int status = check_gemm(handle, transa, transb, m, n, k, lda, ldb, ldc, batches)) return status;
    if (m == 0 || n == 0 || batches == 0) return kSuccess;
    if (lzn_emu_context_status() != 0) return kExecutionFailed;
    const bool reads_ab = k > 0 && alpha != 0.0f;
    std::vector<Matrix> matrices = {{"C", c, m, n, ldc, stride_c}};
    if (reads_ab) {
        matrices.push_back({"A", a, transa == kOpN ? m : k, transa == kOpN ? k : m, lda, stride_a});
        matrices.push_back({"B", b, transb == kOpN ? k : n, transb == kOpN ? n : k, ldb, stride_b});
    }
    if (!operands_in_bounds(call, matrices, batches)) return kSuccess;  // reported at the next synchronisation
    const CBLAS_TRANSPOSE ta = transa == kOpN ? CblasNoTrans : CblasTrans, tb = transb == kOpN ? CblasNoTrans : CblasTrans;
    std::vector<float> rounded_a, rounded_b;
    const bool truncating = tf32 && lzn_emu_tf32_truncates();
    for (int batch = 0; batch < batches; batch++) {
        const float* pa = reinterpret_cast<const float*>(a) + batch * stride_a;
        const float* pb = reinterpret_cast<const float*>(b) + batch * stride_b;
        float* pc = reinterpret_cast<float*>(c) + batch * stride_c;
        if (!reads_ab) {
            // cuBLAS does not read C when beta is 0 (NaN there does not propagate).
            for (int col = 0; col < n; col++)
                for (int row = 0; row < m; row++) pc[(size_t)col * ldc + row] = beta == 0.0f ? 0.0f : beta * pc[(size_t)col * ldc + row];
            continue;
        }
        if (truncating) {
            truncating_tf32_gemm(transa != kOpN, transb != kOpN, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
            continue;
        }
        if (tf32) {
            const Matrix ma = matrices[1], mb = matrices[2];
            rounded_a.assign(pa, pa + extent({"A", 0, ma.rows, ma.cols, lda, 0}, 1));
            rounded_b.assign(pb, pb + extent({"B", 0, mb.rows, mb.cols, ldb, 0}, 1));
            for (float& v : rounded_a) v = to_tf32(v, 0x1000u);
            for (float& v : rounded_b) v = to_tf32(v, 0x1000u);
            pa = rounded_a.data();
            pb = rounded_b.data();
        }
        if (beta == 0.0f)
            for (int col = 0; col < n; col++) std::memset(pc + (size_t)col * ldc, 0, (size_t)m * sizeof(float));
        cblas_sgemm(CblasColMajor, ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
    }
    return kSuccess;
}

}  // namespace

extern "C" {

int cublasCreate_v2(Handle** handle) {
    if (!handle) return kInvalidValue;
    *handle = new Handle();
    return kSuccess;
}

int cublasDestroy_v2(Handle* handle) {
    if (!handle) return kNotInitialized;
    delete handle;
    return kSuccess;
}

int cublasGetVersion_v2(Handle* handle, int* version) {
    if (!handle) return kNotInitialized;
    if (!version) return kInvalidValue;
    *version = 130100;  // the API level emulated (cuBLAS 13.1)
    return kSuccess;
}

int cublasSetStream_v2(Handle* handle, void* stream) {
    if (!handle) return kNotInitialized;
    handle->stream = stream;
    return kSuccess;
}

int cublasSetMathMode(Handle* handle, int mode) {
    if (!handle) return kNotInitialized;
    if ((mode & ~16) < kDefaultMath || (mode & ~16) > kTf32TensorOpMath) return kInvalidValue;
    handle->math_mode = mode;
    return kSuccess;
}

int cublasGetMathMode(Handle* handle, int* mode) {
    if (!handle) return kNotInitialized;
    if (!mode) return kInvalidValue;
    *mode = handle->math_mode;
    return kSuccess;
}

int cublasSetWorkspace_v2(Handle* handle, uint64_t workspace, size_t bytes) {
    if (!handle) return kNotInitialized;
    char message[512];
    if (workspace && bytes && lzn_emu_check_device_range(workspace, bytes, message, sizeof message) != 0) return kInvalidValue;
    handle->workspace = workspace;
    handle->workspace_bytes = bytes;
    return kSuccess;
}

int cublasSgemm_v2(Handle* handle, int transa, int transb, int m, int n, int k, const float* alpha, uint64_t a, int lda,
                   uint64_t b, int ldb, const float* beta, uint64_t c, int ldc) {
    if (handle && (!alpha || !beta)) return kInvalidValue;
    const bool tf32 = handle && (handle->math_mode & ~16) == kTf32TensorOpMath;
    return gemm("cublasSgemm_v2", handle, transa, transb, m, n, k, alpha ? *alpha : 0, a, lda, 0, b, ldb, 0, beta ? *beta : 0, c,
                ldc, 0, 1, tf32);
}

int cublasSgemmStridedBatched(Handle* handle, int transa, int transb, int m, int n, int k, const float* alpha, uint64_t a, int lda,
                              long long stride_a, uint64_t b, int ldb, long long stride_b, const float* beta, uint64_t c, int ldc,
                              long long stride_c, int batches) {
    if (handle && (!alpha || !beta)) return kInvalidValue;
    const bool tf32 = handle && (handle->math_mode & ~16) == kTf32TensorOpMath;
    return gemm("cublasSgemmStridedBatched", handle, transa, transb, m, n, k, alpha ? *alpha : 0, a, lda, stride_a, b, ldb, stride_b,
                beta ? *beta : 0, c, ldc, stride_c, batches, tf32);
}

int cublasGemmEx(Handle* handle, int transa, int transb, int m, int n, int k, const void* alpha, uint64_t a, int a_type, int lda,
                 uint64_t b, int b_type, int ldb, const void* beta, uint64_t c, int c_type, int ldc, int compute_type, int algorithm) {
    (void)algorithm;  // every algorithm computes the same product here
    if (!handle) return kNotInitialized;
    if (!alpha || !beta) return kInvalidValue;
    if (a_type != kR32F || b_type != kR32F || c_type != kR32F) return kNotSupported;
    if (compute_type != kCompute32F && compute_type != kCompute32FPedantic && compute_type != kCompute32FFastTf32) return kNotSupported;
    const bool tf32 = compute_type == kCompute32FFastTf32;
    return gemm("cublasGemmEx", handle, transa, transb, m, n, k, *static_cast<const float*>(alpha), a, lda, 0, b, ldb, 0,
                *static_cast<const float*>(beta), c, ldc, 0, 1, tf32);
}

const char* cublasGetStatusName(int status) {
    switch (status) {
        case kSuccess: return "CUBLAS_STATUS_SUCCESS";
        case kNotInitialized: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case kAllocFailed: return "CUBLAS_STATUS_ALLOC_FAILED";
        case kInvalidValue: return "CUBLAS_STATUS_INVALID_VALUE";
        case kArchMismatch: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case kMappingError: return "CUBLAS_STATUS_MAPPING_ERROR";
        case kExecutionFailed: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case kInternalError: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case kNotSupported: return "CUBLAS_STATUS_NOT_SUPPORTED";
        case kLicenseError: return "CUBLAS_STATUS_LICENSE_ERROR";
        default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

const char* cublasGetStatusString(int status) {
    switch (status) {
        case kSuccess: return "success";
        case kNotInitialized: return "the library was not initialized";
        case kAllocFailed: return "the resource allocation failed";
        case kInvalidValue: return "an invalid numeric value was used as an argument";
        case kArchMismatch: return "an absent device architectural feature is required";
        case kMappingError: return "an access to GPU memory space failed";
        case kExecutionFailed: return "the GPU program failed to execute";
        case kInternalError: return "an internal operation failed";
        case kNotSupported: return "the functionality requested is not supported";
        case kLicenseError: return "there is an error with the license";
        default: return "unknown error";
    }
}

}  // extern "C"
