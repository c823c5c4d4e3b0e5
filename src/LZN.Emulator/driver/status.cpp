// Status names and descriptions as the real driver words them, plus the emulator's detail for the status
// it returned last (a fault's kernel, block and address; a refused launch's rule).
#include <list>
#include <mutex>
#include <unordered_map>

#include "internal.h"

namespace lzn::emu {
namespace {

struct StatusText {
    int status;
    const char* name;
    const char* description;
};

constexpr StatusText kStatuses[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {6, "CUDA_ERROR_PROFILER_NOT_INITIALIZED", "profiler not initialized: call cudaProfilerInitialize()"},
    {34, "CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {209, "CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {221, "CUDA_ERROR_JIT_COMPILER_NOT_FOUND", "PTX JIT compiler library not found"},
    {222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "the provided PTX was compiled with an unsupported toolchain."},
    {300, "CUDA_ERROR_INVALID_SOURCE", "device kernel image is invalid"},
    {301, "CUDA_ERROR_FILE_NOT_FOUND", "file not found"},
    {302, "CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND", "shared object symbol not found"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {702, "CUDA_ERROR_LAUNCH_TIMEOUT", "the launch timed out and was terminated"},
    {715, "CUDA_ERROR_ILLEGAL_INSTRUCTION", "an illegal instruction was encountered"},
    {716, "CUDA_ERROR_MISALIGNED_ADDRESS", "misaligned address"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {802, "CUDA_ERROR_SYSTEM_NOT_READY", "system not yet initialized"},
    {803, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", "system has unsupported display driver / cuda driver combination"},
    {804, "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE", "forward compatibility was attempted on non supported HW"},
    {807, "CUDA_ERROR_MPS_SERVER_NOT_READY", "MPS server is not ready to accept new MPS client requests"},
    {811, "CUDA_ERROR_CDP_NOT_SUPPORTED", "attempted CUDA Dynamic Parallelism functionality on a device that does not support it"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

const StatusText* find(int status) {
    for (const auto& entry : kStatuses)
        if (entry.status == status) return &entry;
    return nullptr;
}

std::mutex detail_mutex;
// Every detail text ever returned stays alive: a caller may still be reading an older one.
std::list<std::string> detail_texts;
std::unordered_map<int, const char*> details;  // status -> "<description> (emulator: <detail>)"

}  // namespace

const char* status_name(int status) {
    const auto* entry = find(status);
    return entry ? entry->name : nullptr;
}

const char* status_description(int status) {
    const auto* entry = find(status);
    return entry ? entry->description : nullptr;
}

void set_detail(int status, const std::string& message) {
    const char* description = status_description(status);
    std::lock_guard<std::mutex> lock(detail_mutex);
    if (message.empty()) {
        details.erase(status);
        return;
    }
    detail_texts.push_back(std::string(description ? description : "error") + " (emulator: " + message + ")");
    details[status] = detail_texts.back().c_str();
}

const char* described(int status) {
    std::lock_guard<std::mutex> lock(detail_mutex);
    auto it = details.find(status);
    return it != details.end() ? it->second : status_description(status);
}

}  // namespace lzn::emu
