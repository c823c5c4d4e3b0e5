// The CUDA driver API entry points the project binds (src/LZN.Native/Interop/Cuda/CudaDriver.cs), with the
// argument checks and status codes of the real driver. One emulated device; its primary context is reset
// (memory freed, modules unloaded, a sticky error cleared) when its last reference is released, as on a GPU.
// Work is synchronous: a launch runs to completion inside cuLaunchKernel, but a fault it causes is reported
// as a real device reports it, by the next call that synchronises, and sticks to the context.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "internal.h"

namespace lzn::emu {
void set_source_folder(const std::string& folder);
}

using namespace lzn::emu;

namespace {

constexpr int kDefaultDynamicSharedLimit = 48 * 1024;

// CUdevice_attribute values (cuda.h).
enum Attribute {
    kMaxThreadsPerBlock = 1, kMaxBlockDimX = 2, kMaxBlockDimY = 3, kMaxBlockDimZ = 4, kMaxGridDimX = 5,
    kMaxGridDimY = 6, kMaxGridDimZ = 7, kMaxSharedPerBlock = 8, kTotalConstantMemory = 9, kWarpSize = 10,
    kMaxPitch = 11, kMaxRegistersPerBlock = 12, kClockRate = 13, kTextureAlignment = 14, kGpuOverlap = 15,
    kMultiprocessorCount = 16, kKernelExecTimeout = 17, kIntegrated = 18, kCanMapHostMemory = 19, kComputeMode = 20,
    kConcurrentKernels = 31, kEccEnabled = 32, kPciBusId = 33, kPciDeviceId = 34, kTccDriver = 35,
    kMemoryClockRate = 36, kGlobalMemoryBusWidth = 37, kL2CacheSize = 38, kMaxThreadsPerMultiprocessor = 39,
    kAsyncEngineCount = 40, kUnifiedAddressing = 41, kComputeCapabilityMajor = 75, kComputeCapabilityMinor = 76,
    kMaxSharedPerMultiprocessor = 81, kMaxRegistersPerMultiprocessor = 82, kManagedMemory = 83,
    kMultiGpuBoard = 84, kMaxSharedPerBlockOptin = 97, kMaxBlocksPerMultiprocessor = 106,
    kReservedSharedPerBlock = 111,
};

// CUfunction_attribute values.
enum FunctionAttribute {
    kFuncMaxThreads = 0, kFuncSharedBytes = 1, kFuncConstBytes = 2, kFuncLocalBytes = 3, kFuncRegisters = 4,
    kFuncPtxVersion = 5, kFuncBinaryVersion = 6, kFuncCacheModeCa = 7, kFuncMaxDynamicShared = 8, kFuncCarveout = 9,
};

// CUjit_option values the emulator answers.
enum JitOption { kJitInfoLog = 3, kJitInfoLogSize = 4, kJitErrorLog = 5, kJitErrorLogSize = 6 };

struct Module {
    Image image;
    const HostModule* host;
    std::unordered_map<std::string, std::unique_ptr<Function>> functions;
};

struct Event {
    bool recorded = false;
    std::chrono::steady_clock::time_point time;
};

struct Context {
    int references = 0;
    Fault sticky;
};

std::mutex state_mutex;
bool initialized = false;
Context primary;
std::set<Module*> modules;
std::set<void*> streams;
std::set<Event*> events;
thread_local Context* current = nullptr;

// LZN_EMULATOR_VERBOSE=1 prints every fault when it happens (a real device reports it later, at a sync).
void announce(const Fault& fault) {
    static const bool verbose = [] {
        const char* text = std::getenv("LZN_EMULATOR_VERBOSE");
        return text && *text && std::strcmp(text, "0") != 0;
    }();
    if (verbose) std::fprintf(stderr, "lzn emulator: %s: %s\n", status_name(fault.status), fault.message.c_str());
}

// A fault of the device (a kernel's, or the cuBLAS emulator's): sticky until the context is reset.
void raise_sticky(const Fault& fault) {
    announce(fault);
    set_detail(fault.status, fault.message);
    std::lock_guard<std::mutex> lock(state_mutex);
    if (current && !current->sticky) current->sticky = fault;
}

int fail(int status, const std::string& detail = "") {
    set_detail(status, detail);
    return status;
}

// The status a call that needs the current context returns before doing anything.
int context_status() {
    if (!initialized) return fail(kNotInitialized);
    if (!current || current->references == 0) return fail(kInvalidContext);
    return current->sticky.status;
}

// The status of a call about `device` that writes through `out` (null out: an invalid value).
int device_status(const void* out, int device) {
    if (!out) return fail(kInvalidValue);
    if (!initialized) return fail(kNotInitialized);
    return device == 0 ? kSuccess : fail(kInvalidDevice);
}

bool valid_stream(void* stream) {
    // 0 is the legacy default stream; 1 and 2 are CU_STREAM_LEGACY and CU_STREAM_PER_THREAD.
    if (reinterpret_cast<uintptr_t>(stream) <= 2) return true;
    std::lock_guard<std::mutex> lock(state_mutex);
    return streams.count(stream) != 0;
}

void reset_primary() {
    for (Module* module : modules) delete module;
    modules.clear();
    free_all_device_memory();
    primary.sticky = Fault{};
}

const Architecture& arch() { return *emulated_architecture(nullptr); }

int max_threads_of(const Function& f) {
    int limit = 1024;
    if (f.image.max_threads > 0) limit = std::min(limit, f.image.max_threads);
    return std::min(limit, register_limited_threads(arch(), f.image.registers));
}

int copy_checked(void* destination, const void* source, size_t bytes, const char* call, bool device_destination, bool device_source) {
    if (int status = context_status()) return status;
    if (bytes == 0) return kSuccess;
    if (device_destination) {
        std::string problem = check_range(reinterpret_cast<uintptr_t>(destination), bytes);
        if (!problem.empty()) return fail(kInvalidValue, std::string(call) + ": the destination " + problem);
    }
    if (device_source) {
        std::string problem = check_range(reinterpret_cast<uintptr_t>(source), bytes);
        if (!problem.empty()) return fail(kInvalidValue, std::string(call) + ": the source " + problem);
    }
    if (!destination || !source) return fail(kInvalidValue, std::string(call) + ": a host pointer is null");
    std::memmove(destination, source, bytes);
    return kSuccess;
}

template <typename T>
int fill_checked(uint64_t destination, T value, size_t count, const char* call) {
    if (int status = context_status()) return status;
    if (destination % sizeof(T) != 0) return fail(kInvalidValue, std::string(call) + ": the destination is not " + std::to_string(sizeof(T)) + "-byte aligned");
    if (count == 0) return kSuccess;
    std::string problem = check_range(destination, count * sizeof(T));
    if (!problem.empty()) return fail(kInvalidValue, std::string(call) + ": the destination " + problem);
    T* out = reinterpret_cast<T*>(destination);
    std::fill(out, out + count, value);
    return kSuccess;
}

int allocate(uint64_t* pointer, size_t bytes, bool pinned) {
    if (int status = context_status()) return status;
    if (!pointer || bytes == 0) return fail(kInvalidValue);
    int status = kSuccess;
    void* memory = allocate_device(bytes, pinned, &status);
    if (!memory) return fail(status, "cannot allocate " + std::to_string(bytes) + " bytes: " + std::to_string(allocated_bytes()) +
                                         " of the emulated " + std::to_string(emulated_memory_bytes()) + " bytes are in use (LZN_EMULATED_MEMORY_MB)");
    *pointer = reinterpret_cast<uint64_t>(memory);
    return kSuccess;
}

void write_log(void** values, int count, const int* options, int text_option, int size_option, const std::string& text) {
    char* buffer = nullptr;
    size_t capacity = 0;
    int size_index = -1;
    for (int i = 0; i < count; i++) {
        if (options[i] == text_option) buffer = static_cast<char*>(values[i]);
        if (options[i] == size_option) capacity = reinterpret_cast<uintptr_t>(values[i]), size_index = i;
    }
    if (!buffer || capacity == 0) return;
    size_t written = std::min(capacity - 1, text.size());
    std::memcpy(buffer, text.data(), written);
    buffer[written] = '\0';
    if (size_index >= 0) values[size_index] = reinterpret_cast<void*>(uintptr_t(written + 1));
}

}  // namespace

extern "C" {

int cuInit(unsigned flags) {
    if (flags != 0) return fail(kInvalidValue, "cuInit flags must be 0");
    std::string error;
    if (!emulated_architecture(&error)) return fail(kInvalidValue, error);
    std::lock_guard<std::mutex> lock(state_mutex);
    initialized = true;
    return kSuccess;
}

int cuDriverGetVersion(int* version) {
    if (!version) return fail(kInvalidValue);
    *version = 13000;  // the API level the emulator follows (cuda.h of CUDA 13.0)
    return kSuccess;
}

int cuDeviceGetCount(int* count) {
    if (!count) return fail(kInvalidValue);
    if (!initialized) return fail(kNotInitialized);
    *count = 1;
    return kSuccess;
}

int cuDeviceGet(int* device, int ordinal) {
    if (int status = device_status(device, ordinal)) return status;
    *device = 0;
    return kSuccess;
}

int cuDeviceGetName(char* name, int length, int device) {
    if (int status = device_status(name, device)) return status;
    if (length <= 0) return fail(kInvalidValue);
    const auto& a = arch();
    std::string text = "LZN CUDA emulator sm_" + std::to_string(a.code()) + " (CPU, " + a.family + " limits)";
    std::strncpy(name, text.c_str(), (size_t)length - 1);
    name[length - 1] = '\0';
    return kSuccess;
}

int cuDeviceGetAttribute(int* value, int attribute, int device) {
    if (int status = device_status(value, device)) return status;
    const auto& a = arch();
    switch (attribute) {
        case kMaxThreadsPerBlock: *value = 1024; break;
        case kMaxBlockDimX: case kMaxBlockDimY: *value = 1024; break;
        case kMaxBlockDimZ: *value = 64; break;
        case kMaxGridDimX: *value = 2147483647; break;
        case kMaxGridDimY: case kMaxGridDimZ: *value = 65535; break;
        case kMaxSharedPerBlock: *value = kDefaultDynamicSharedLimit; break;
        case kTotalConstantMemory: *value = 65536; break;
        case kWarpSize: *value = 32; break;
        case kMaxPitch: *value = 2147483647; break;
        case kMaxRegistersPerBlock: *value = a.max_registers_per_block; break;
        case kClockRate: *value = 1000000; break;
        case kTextureAlignment: *value = 512; break;
        case kGpuOverlap: *value = 1; break;
        case kMultiprocessorCount: *value = a.multiprocessors; break;
        case kKernelExecTimeout: case kIntegrated: case kComputeMode: case kEccEnabled: case kPciBusId:
        case kPciDeviceId: case kTccDriver: case kMultiGpuBoard: *value = 0; break;
        case kCanMapHostMemory: case kConcurrentKernels: case kUnifiedAddressing: case kManagedMemory: *value = 1; break;
        case kMemoryClockRate: *value = 1000000; break;
        case kGlobalMemoryBusWidth: *value = 64; break;
        case kL2CacheSize: *value = a.l2_bytes; break;
        case kMaxThreadsPerMultiprocessor: *value = a.max_threads_per_sm; break;
        case kAsyncEngineCount: *value = 1; break;
        case kComputeCapabilityMajor: *value = a.major; break;
        case kComputeCapabilityMinor: *value = a.minor; break;
        case kMaxSharedPerMultiprocessor: *value = a.shared_per_sm; break;
        case kMaxRegistersPerMultiprocessor: *value = a.registers_per_sm; break;
        case kMaxSharedPerBlockOptin: *value = a.shared_optin_per_block; break;
        case kMaxBlocksPerMultiprocessor: *value = a.max_blocks_per_sm; break;
        case kReservedSharedPerBlock: *value = a.shared_reserved_per_block; break;
        default: return fail(kInvalidValue, "device attribute " + std::to_string(attribute) + " is not modelled by the emulator");
    }
    return kSuccess;
}

int cuDeviceTotalMem_v2(size_t* bytes, int device) {
    if (int status = device_status(bytes, device)) return status;
    *bytes = emulated_memory_bytes();
    return kSuccess;
}

int cuDevicePrimaryCtxRetain(void** context, int device) {
    if (int status = device_status(context, device)) return status;
    std::lock_guard<std::mutex> lock(state_mutex);
    primary.references++;
    *context = &primary;
    return kSuccess;
}

int cuDevicePrimaryCtxRelease_v2(int device) {
    if (!initialized) return fail(kNotInitialized);
    if (device != 0) return fail(kInvalidDevice);
    std::lock_guard<std::mutex> lock(state_mutex);
    if (primary.references == 0) return fail(kInvalidContext);
    if (--primary.references == 0) reset_primary();
    return kSuccess;
}

int cuCtxSetCurrent(void* context) {
    if (!initialized) return fail(kNotInitialized);
    if (context && context != &primary) return fail(kInvalidContext);
    current = static_cast<Context*>(context);
    return kSuccess;
}

int cuCtxGetCurrent(void** context) {
    if (!context) return fail(kInvalidValue);
    if (!initialized) return fail(kNotInitialized);
    *context = current;
    return kSuccess;
}

int cuCtxSynchronize() { return context_status(); }

int cuMemAlloc_v2(uint64_t* pointer, size_t bytes) { return allocate(pointer, bytes, false); }

int cuMemAllocAsync(uint64_t* pointer, size_t bytes, void* stream) {
    if (!valid_stream(stream)) return fail(kInvalidHandle);
    return allocate(pointer, bytes, false);
}

int cuMemFree_v2(uint64_t pointer) {
    if (int status = context_status()) return status;
    if (free_device(pointer, false) != kSuccess)
        return fail(kInvalidValue, "cuMemFree: " + check_range(pointer, 1) + " is not the start of a live allocation");
    return kSuccess;
}

int cuMemFreeAsync(uint64_t pointer, void* stream) {
    if (!valid_stream(stream)) return fail(kInvalidHandle);
    return cuMemFree_v2(pointer);
}

int cuMemGetInfo_v2(size_t* free, size_t* total) {
    if (int status = context_status()) return status;
    if (!free || !total) return fail(kInvalidValue);
    *total = emulated_memory_bytes();
    *free = *total - std::min(*total, allocated_bytes());
    return kSuccess;
}

int cuMemAllocHost_v2(void** pointer, size_t bytes) {
    uint64_t address = 0;
    int status = allocate(&address, bytes, true);
    if (status == kSuccess) *pointer = reinterpret_cast<void*>(address);
    return status;
}

int cuMemFreeHost(void* pointer) {
    if (int status = context_status()) return status;
    return free_device(reinterpret_cast<uintptr_t>(pointer), true) == kSuccess ? kSuccess : fail(kInvalidValue);
}

int cuMemcpyHtoD_v2(uint64_t destination, const void* source, size_t bytes) {
    return copy_checked(reinterpret_cast<void*>(destination), source, bytes, "cuMemcpyHtoD", true, false);
}

int cuMemcpyDtoH_v2(void* destination, uint64_t source, size_t bytes) {
    return copy_checked(destination, reinterpret_cast<const void*>(source), bytes, "cuMemcpyDtoH", false, true);
}

int cuMemcpyDtoD_v2(uint64_t destination, uint64_t source, size_t bytes) {
    return copy_checked(reinterpret_cast<void*>(destination), reinterpret_cast<const void*>(source), bytes, "cuMemcpyDtoD", true, true);
}

int cuMemcpyHtoDAsync_v2(uint64_t destination, const void* source, size_t bytes, void* stream) {
    if (!valid_stream(stream)) return fail(kInvalidHandle);
    return cuMemcpyHtoD_v2(destination, source, bytes);
}

int cuMemcpyDtoHAsync_v2(void* destination, uint64_t source, size_t bytes, void* stream) {
    if (!valid_stream(stream)) return fail(kInvalidHandle);
    return cuMemcpyDtoH_v2(destination, source, bytes);
}

int cuMemcpyDtoDAsync_v2(uint64_t destination, uint64_t source, size_t bytes, void* stream) {
    if (!valid_stream(stream)) return fail(kInvalidHandle);
    return cuMemcpyDtoD_v2(destination, source, bytes);
}

int cuMemsetD8_v2(uint64_t destination, unsigned char value, size_t count) {
    return fill_checked<unsigned char>(destination, value, count, "cuMemsetD8");
}

int cuMemsetD32_v2(uint64_t destination, unsigned value, size_t count) {
    return fill_checked<unsigned>(destination, value, count, "cuMemsetD32");
}

int cuMemsetD32Async(uint64_t destination, unsigned value, size_t count, void* stream) {
    if (!valid_stream(stream)) return fail(kInvalidHandle);
    return fill_checked<unsigned>(destination, value, count, "cuMemsetD32Async");
}

int cuModuleLoadDataEx(void** module, const void* image, unsigned count, int* options, void** values) {
    if (int status = context_status()) return status;
    if (!module || !image || (count && (!options || !values))) return fail(kInvalidValue);
    auto loaded = std::make_unique<Module>();
    std::string error;
    int status = kSuccess;
    const auto& a = arch();
    if (!parse_image(image, loaded->image, error)) {
        status = kInvalidImage;
    } else if (loaded->image.cubin && (loaded->image.architecture / 10 != a.major || loaded->image.architecture % 10 > a.minor)) {
        status = kNoBinaryForGpu;
        error = "the CUBIN is for sm_" + std::to_string(loaded->image.architecture) + ", which the emulated sm_" +
                std::to_string(a.code()) + " device cannot run";
    } else if (!loaded->image.cubin && loaded->image.architecture > a.code()) {
        status = kInvalidPtx;
        error = "the PTX targets sm_" + std::to_string(loaded->image.architecture) + ", above the emulated sm_" + std::to_string(a.code());
    } else if (!(loaded->host = match_module(loaded->image, error))) {
        status = kInvalidImage;
    }
    if (status != kSuccess) {
        write_log(values, (int)count, options, kJitErrorLog, kJitErrorLogSize, "emulator: " + error);
        return fail(status, error);
    }
    write_log(values, (int)count, options, kJitInfoLog, kJitInfoLogSize, "emulator: runs the host build " + loaded->host->path);
    std::lock_guard<std::mutex> lock(state_mutex);
    *module = loaded.get();
    modules.insert(loaded.release());
    return kSuccess;
}

int cuModuleLoadData(void** module, const void* image) { return cuModuleLoadDataEx(module, image, 0, nullptr, nullptr); }

int cuModuleUnload(void* module) {
    if (int status = context_status()) return status;
    std::lock_guard<std::mutex> lock(state_mutex);
    auto* m = static_cast<Module*>(module);
    if (!modules.erase(m)) return fail(kInvalidHandle);
    delete m;
    return kSuccess;
}

int cuModuleGetFunction(void** function, void* module, const char* name) {
    if (int status = context_status()) return status;
    if (!function || !name) return fail(kInvalidValue);
    std::lock_guard<std::mutex> lock(state_mutex);
    auto* m = static_cast<Module*>(module);
    if (!modules.count(m)) return fail(kInvalidHandle);
    auto& slot = m->functions[name];
    if (!slot) {
        const ImageFunction* image = m->image.find(name);
        const lzn_emu_kernel_info* host = m->host->kernel(name);
        if (!image || !host) {
            m->functions.erase(name);
            return fail(kNotFound, std::string("the image has no kernel named ") + name);
        }
        slot = std::make_unique<Function>(Function{m->host, host, *image, std::max(0, kDefaultDynamicSharedLimit - image->static_shared)});
    }
    *function = slot.get();
    return kSuccess;
}

int cuFuncGetAttribute(int* value, int attribute, void* function) {
    if (int status = context_status()) return status;
    if (!value || !function) return fail(kInvalidValue);
    const auto& f = *static_cast<Function*>(function);
    switch (attribute) {
        case kFuncMaxThreads: *value = max_threads_of(f); break;
        case kFuncSharedBytes: *value = f.image.static_shared; break;
        case kFuncConstBytes: *value = 0; break;
        case kFuncLocalBytes: *value = f.image.local_bytes; break;
        case kFuncRegisters: *value = f.image.registers; break;
        case kFuncPtxVersion: case kFuncBinaryVersion: *value = arch().code(); break;
        case kFuncCacheModeCa: *value = 0; break;
        case kFuncMaxDynamicShared: *value = f.max_dynamic_shared; break;
        case kFuncCarveout: *value = f.carveout; break;
        default: return fail(kInvalidValue, "function attribute " + std::to_string(attribute) + " is not modelled by the emulator");
    }
    return kSuccess;
}

int cuFuncSetAttribute(void* function, int attribute, int value) {
    if (int status = context_status()) return status;
    if (!function) return fail(kInvalidValue);
    auto& f = *static_cast<Function*>(function);
    const auto& a = arch();
    if (attribute == kFuncMaxDynamicShared) {
        if (value < 0 || value + f.image.static_shared > a.shared_optin_per_block)
            return fail(kInvalidValue, "kernel " + f.image.name + ": " + std::to_string(value) + " bytes of dynamic shared memory (+ " +
                                           std::to_string(f.image.static_shared) + " static) exceed the sm_" + std::to_string(a.code()) +
                                           " opt-in maximum of " + std::to_string(a.shared_optin_per_block) + " bytes per block");
        f.max_dynamic_shared = value;
        return kSuccess;
    }
    if (attribute == kFuncCarveout) {
        if (value < -1 || value > 100) return fail(kInvalidValue, "the shared memory carveout is a percentage, or -1");
        f.carveout = value;
        return kSuccess;
    }
    return fail(kInvalidValue, "function attribute " + std::to_string(attribute) + " cannot be set");
}

int cuOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, void* function, int block_size, size_t dynamic_shared) {
    if (int status = context_status()) return status;
    if (!blocks || !function || block_size <= 0) return fail(kInvalidValue);
    const auto& f = *static_cast<Function*>(function);
    const auto& a = arch();
    if (block_size > max_threads_of(f)) {
        *blocks = 0;
        return kSuccess;
    }
    const int warps = (block_size + 31) / 32;
    int result = std::min(a.max_blocks_per_sm, a.max_threads_per_sm / (warps * 32));
    if (f.image.registers > 0) result = std::min(result, a.registers_per_sm / (registers_per_warp(f.image.registers) * warps));
    const size_t shared = f.image.static_shared + dynamic_shared + a.shared_reserved_per_block;
    if (f.image.static_shared + dynamic_shared > 0) result = std::min(result, (int)(a.shared_per_sm / shared));
    *blocks = std::max(0, result);
    return kSuccess;
}

int cuLaunchKernel(void* function, unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x, unsigned block_y,
                   unsigned block_z, unsigned shared_bytes, void* stream, void** parameters, void** extra) {
    if (int status = context_status()) return status;
    if (!function) return fail(kInvalidHandle);
    if (!valid_stream(stream)) return fail(kInvalidHandle);
    const auto& f = *static_cast<Function*>(function);
    const auto& a = arch();
    const std::string kernel = "kernel " + f.image.name + ": ";
    if (!grid_x || !grid_y || !grid_z || grid_x > 2147483647u || grid_y > 65535 || grid_z > 65535)
        return fail(kInvalidValue, kernel + "grid (" + std::to_string(grid_x) + "," + std::to_string(grid_y) + "," + std::to_string(grid_z) +
                                       ") is outside 1..2^31-1 x 1..65535 x 1..65535");
    const unsigned long long threads = (unsigned long long)block_x * block_y * block_z;
    if (!block_x || !block_y || !block_z || block_x > 1024 || block_y > 1024 || block_z > 64 || threads > 1024)
        return fail(kInvalidValue, kernel + "block (" + std::to_string(block_x) + "," + std::to_string(block_y) + "," + std::to_string(block_z) +
                                       ") exceeds 1024 x 1024 x 64 or 1024 threads");
    if (f.image.max_threads > 0 && threads > (unsigned long long)f.image.max_threads)
        return fail(kLaunchOutOfResources, kernel + std::to_string(threads) + " threads per block exceed its __launch_bounds__ of " +
                                               std::to_string(f.image.max_threads));
    if (f.image.registers > 0 && (long long)registers_per_warp(f.image.registers) * (long long)((threads + 31) / 32) > (long long)a.max_registers_per_block)
        return fail(kLaunchOutOfResources, kernel + std::to_string(threads) + " threads x " + std::to_string(f.image.registers) +
                                               " registers exceed the " + std::to_string(a.max_registers_per_block) + " registers of a block");
    if ((int)shared_bytes > f.max_dynamic_shared)
        return fail(kInvalidValue, kernel + std::to_string(shared_bytes) + " bytes of dynamic shared memory exceed its limit of " +
                                       std::to_string(f.max_dynamic_shared) +
                                       " (above 48 KiB a kernel opts in with cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES))");
    if ((long long)shared_bytes + f.image.static_shared > a.shared_optin_per_block)
        return fail(kInvalidValue, kernel + "static + dynamic shared memory exceed the sm_" + std::to_string(a.code()) + " maximum of " +
                                       std::to_string(a.shared_optin_per_block) + " bytes");

    LaunchRequest request;
    request.function = &f;
    request.grid = {grid_x, grid_y, grid_z};
    request.block = {block_x, block_y, block_z};
    request.dynamic_shared = shared_bytes;
    const size_t parameter_bytes = (size_t)std::max(f.image.parameter_bytes, 1);
    request.arguments.assign(parameter_bytes + 16, 0);
    if (parameters && extra) return fail(kInvalidValue, kernel + "both kernelParams and extra are given");
    if (parameters) {
        for (const auto& p : f.image.parameters) {
            if (!parameters[p.ordinal]) return fail(kInvalidValue, kernel + "kernelParams[" + std::to_string(p.ordinal) + "] is null");
            std::memcpy(request.arguments.data() + p.offset, parameters[p.ordinal], (size_t)p.size);
        }
    } else if (extra) {
        // CU_LAUNCH_PARAM_BUFFER_POINTER (1), CU_LAUNCH_PARAM_BUFFER_SIZE (2), CU_LAUNCH_PARAM_END (0)
        const void* buffer = nullptr;
        size_t size = 0;
        for (int i = 0; extra[i] != nullptr; i += 2) {
            if (extra[i] == reinterpret_cast<void*>(1)) buffer = extra[i + 1];
            else if (extra[i] == reinterpret_cast<void*>(2)) size = *static_cast<size_t*>(extra[i + 1]);
            else return fail(kInvalidValue, kernel + "unknown entry in extra");
        }
        if (!buffer || size != (size_t)f.image.parameter_bytes)
            return fail(kInvalidValue, kernel + "the parameter buffer holds " + std::to_string(size) + " bytes; the kernel takes " +
                                           std::to_string(f.image.parameter_bytes));
        std::memcpy(request.arguments.data(), buffer, size);
    } else if (!f.image.parameters.empty()) {
        return fail(kInvalidValue, kernel + "the kernel takes parameters but none were given");
    }
    for (const auto& p : f.image.parameters) request.argument_pointers.push_back(request.arguments.data() + p.offset);

    if (Fault fault = execute(request)) raise_sticky(fault);
    return kSuccess;
}

int cuStreamCreate(void** stream, unsigned flags) {
    if (int status = context_status()) return status;
    if (!stream || flags > 1) return fail(kInvalidValue);
    std::lock_guard<std::mutex> lock(state_mutex);
    *stream = new char(0);
    streams.insert(*stream);
    return kSuccess;
}

int cuStreamDestroy_v2(void* stream) {
    if (int status = context_status()) return status;
    std::lock_guard<std::mutex> lock(state_mutex);
    if (!streams.erase(stream)) return fail(kInvalidHandle);
    delete static_cast<char*>(stream);
    return kSuccess;
}

int cuStreamSynchronize(void* stream) {
    if (!valid_stream(stream)) return fail(kInvalidHandle);
    return context_status();
}

int cuEventCreate(void** event, unsigned flags) {
    if (int status = context_status()) return status;
    if (!event || flags > 0xf) return fail(kInvalidValue);
    std::lock_guard<std::mutex> lock(state_mutex);
    auto* created = new Event();
    events.insert(created);
    *event = created;
    return kSuccess;
}

int cuEventRecord(void* event, void* stream) {
    if (int status = context_status()) return status;
    if (!valid_stream(stream)) return fail(kInvalidHandle);
    std::lock_guard<std::mutex> lock(state_mutex);
    auto* e = static_cast<Event*>(event);
    if (!events.count(e)) return fail(kInvalidHandle);
    e->recorded = true;
    e->time = std::chrono::steady_clock::now();
    return kSuccess;
}

int cuEventSynchronize(void* event) {
    if (int status = context_status()) return status;
    std::lock_guard<std::mutex> lock(state_mutex);
    return events.count(static_cast<Event*>(event)) ? kSuccess : fail(kInvalidHandle);
}

int cuEventElapsedTime_v2(float* milliseconds, void* start, void* end) {
    if (int status = context_status()) return status;
    if (!milliseconds) return fail(kInvalidValue);
    std::lock_guard<std::mutex> lock(state_mutex);
    auto* from = static_cast<Event*>(start);
    auto* to = static_cast<Event*>(end);
    if (!events.count(from) || !events.count(to) || !from->recorded || !to->recorded) return fail(kInvalidHandle);
    *milliseconds = std::chrono::duration<float, std::milli>(to->time - from->time).count();
    return kSuccess;
}

int cuEventDestroy_v2(void* event) {
    if (int status = context_status()) return status;
    std::lock_guard<std::mutex> lock(state_mutex);
    auto* e = static_cast<Event*>(event);
    if (!events.erase(e)) return fail(kInvalidHandle);
    delete e;
    return kSuccess;
}

int cuGetErrorName(int error, const char** text) {
    if (!text) return kInvalidValue;
    *text = status_name(error);
    return *text ? kSuccess : kInvalidValue;
}

int cuGetErrorString(int error, const char** text) {
    if (!text) return kInvalidValue;
    *text = status_name(error) ? described(error) : nullptr;
    return *text ? kSuccess : kInvalidValue;
}

// ---- control of the emulator (tests, and the cuBLAS emulator) ------------------------------------------------

// Lets a caller tell the emulator from a real driver.
int lzn_emu_is_emulator(void) { return 1; }

// mode 0: off; 1: re-run each launch with fibers and blocks reversed; 2: shuffled with `seed`; -1: back to the
// LZN_EMULATOR_RACECHECK setting the process started with.
void lzn_emu_set_race_check(int mode, unsigned long long seed) {
    const Settings initial = environment_settings();
    settings().race_check = mode < 0 ? initial.race_check : mode != 0;
    settings().race_schedule = mode < 0 ? initial.race_schedule : mode == 2 ? Schedule::kShuffle : Schedule::kReverse;
    settings().shuffle_seed = mode < 0 ? initial.shuffle_seed : seed;
}

// How TF32 sums round: 0 to nearest, 1 truncating (LZN_EMULATOR_TF32=truncate), below 0 as the environment says.
void lzn_emu_set_tf32_rounding(int mode) {
    settings().tf32_truncate = mode < 0 ? environment_settings().tf32_truncate : mode != 0;
}

// Where the staleness check reads the kernel sources (empty: the folder the emulator was built from).
void lzn_emu_set_source_folder(const char* folder) { set_source_folder(folder ? folder : ""); }

// Empty when [address, address + bytes) is live device memory; else why not, copied into `message`.
int lzn_emu_check_device_range(uint64_t address, size_t bytes, char* message, size_t capacity) {
    std::string problem = check_range(address, bytes);
    if (message && capacity) {
        std::strncpy(message, problem.c_str(), capacity - 1);
        message[capacity - 1] = '\0';
    }
    return problem.empty() ? 0 : 1;
}

// A fault outside a kernel (the cuBLAS emulator reading past an allocation), sticky like a kernel's.
void lzn_emu_report_fault(int status, const char* message) { raise_sticky(Fault{status, message ? message : ""}); }

// The current context's status (the sticky error, or success), as cuBLAS checks it before work.
int lzn_emu_context_status(void) { return context_status(); }

}  // extern "C"
