// Internal declarations of the emulated driver (libcuda.so.1): the status codes it returns, the emulated
// architecture, faults, and the pieces each source file implements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lzn_emu_abi.h"

namespace lzn::emu {

// CUresult values (cuda.h) the emulator returns.
enum Status : int {
    kSuccess = 0,
    kInvalidValue = 1,
    kOutOfMemory = 2,
    kNotInitialized = 3,
    kDeinitialized = 4,
    kNoDevice = 100,
    kInvalidDevice = 101,
    kInvalidImage = 200,
    kInvalidContext = 201,
    kNoBinaryForGpu = 209,
    kInvalidPtx = 218,
    kInvalidHandle = 400,
    kNotFound = 500,
    kNotReady = 600,
    kIllegalAddress = 700,
    kLaunchOutOfResources = 701,
    kIllegalInstruction = 715,
    kMisalignedAddress = 716,
    kLaunchFailed = 719,
    kNotSupported = 801,
    kUnknown = 999,
};

// The CUresult name and the driver's own description of a status.
const char* status_name(int status);
const char* status_description(int status);

// Records a detailed message for a status; cuGetErrorString then appends it (the managed side puts the
// description into its exception, so a refused launch or a kernel fault names its cause).
void set_detail(int status, const std::string& message);
const char* described(int status);

// ---- architecture --------------------------------------------------------------------------------------
struct Architecture {
    int major, minor;
    const char* family;            // a GPU of the kind, for the device name
    int multiprocessors;           // emulated SMs (LZN_EMULATED_SMS overrides)
    int max_threads_per_sm;
    int max_blocks_per_sm;
    int registers_per_sm;
    int max_registers_per_block;
    int shared_per_sm;             // bytes
    int shared_optin_per_block;    // bytes a block may opt in to (static + dynamic)
    int shared_reserved_per_block; // the system's per-block reservation
    int l2_bytes;
    int code() const { return major * 10 + minor; }
};

// The emulated architecture (LZN_EMULATED_CC, default 9.0); null with *error set when the value is not one
// the emulator models.
const Architecture* emulated_architecture(std::string* error);
size_t emulated_memory_bytes();

// Registers per warp as the hardware allocates them (256-register units), and the most threads a block of
// a kernel with `registers` per thread can have.
int registers_per_warp(int registers);
int register_limited_threads(const Architecture& arch, int registers);

// ---- faults --------------------------------------------------------------------------------------------
struct Fault {
    int status = kSuccess;
    std::string message;
    explicit operator bool() const { return status != kSuccess; }
};

// ---- device memory (memory.cpp) -------------------------------------------------------------------------
enum class AccessVerdict { kDevice, kPinnedHost, kFreed, kBeyondEnd, kUnknown };

struct AccessReport {
    AccessVerdict verdict;
    uintptr_t base;     // the allocation concerned (kDevice, kPinnedHost, kFreed, kBeyondEnd)
    size_t size;
    uint64_t serial;
};

void* allocate_device(size_t bytes, bool pinned_host, int* status);
int free_device(uintptr_t address, bool pinned_host);
AccessReport classify(uintptr_t address, size_t bytes);
// A readable description of where [address, address + bytes) lies, for fault messages.
std::string describe_range(uintptr_t address, size_t bytes);
// Empty when [address, address + bytes) is inside one live allocation, else why not.
std::string check_range(uintptr_t address, size_t bytes);
size_t allocated_bytes();
void free_all_device_memory();
// Allocations overlapping the given addresses: their [base, base + size), for the race check's snapshots.
std::vector<std::pair<uintptr_t, size_t>> allocations_containing(const std::vector<uintptr_t>& addresses);

// Held shared while kernels read the registry without locks, exclusive by allocation and free.
void lock_registry_shared();
void unlock_registry_shared();

// ---- images (image.cpp) ---------------------------------------------------------------------------------
struct ImageParameter {
    int ordinal, offset, size;
};

struct ImageFunction {
    std::string name;
    std::vector<ImageParameter> parameters;  // by ordinal
    int parameter_bytes = 0;
    int registers = 0;                       // 0 when unknown (PTX)
    int max_threads = 0;                     // __launch_bounds__ / .maxntid product, 0 when none
    int static_shared = 0;
    int local_bytes = 0;
};

struct Image {
    bool cubin = false;
    int architecture = 0;  // sm_XY of a CUBIN, compute_XY of PTX
    std::vector<ImageFunction> functions;
    const ImageFunction* find(const std::string& name) const;
};

bool parse_image(const void* data, Image& image, std::string& error);

// ---- host kernel modules (modules.cpp) --------------------------------------------------------------------
struct HostModule {
    std::string path;
    void* handle = nullptr;
    const lzn_emu_module_info* info = nullptr;
    std::vector<std::pair<uintptr_t, uintptr_t>> segments;  // loaded [begin, end), rodata and data included
    size_t tls_size = 0;
    const lzn_emu_kernel_info* kernel(const std::string& name) const;
};

// The modules built for the kernel files; `error` says why none could be read.
const std::vector<HostModule*>& host_modules(std::string& error);
// The host module that runs an image, or null with `error` explaining the mismatch.
const HostModule* match_module(const Image& image, std::string& error);

// ---- launches (executor.cpp) ---------------------------------------------------------------------------
struct Function {
    const HostModule* host_module;
    const lzn_emu_kernel_info* host;
    ImageFunction image;
    int max_dynamic_shared;  // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    int carveout = -1;
};

enum class Schedule { kForward, kReverse, kShuffle };

struct LaunchRequest {
    const Function* function;
    lzn_emu_dim3 grid, block;
    unsigned dynamic_shared;
    std::vector<unsigned char> arguments;  // the parameter buffer, laid out as the image says
    std::vector<void*> argument_pointers;  // one per parameter, into `arguments`
};

// Runs every block; a fault (memory, barrier, shuffle, trap, race) is returned, never thrown.
Fault execute(const LaunchRequest& request);

// Settings of the emulator's checks (control.cpp; LZN_EMULATOR_* environment variables set the defaults).
struct Settings {
    bool race_check = false;
    Schedule race_schedule = Schedule::kReverse;
    uint64_t shuffle_seed = 1;
    int workers = 0;  // 0: one per core
    bool tf32_truncate = false;  // LZN_EMULATOR_TF32=truncate: the tensor cores' truncating sums (lzn_emu_abi.h)
};
Settings& settings();
Settings environment_settings();

}  // namespace lzn::emu
