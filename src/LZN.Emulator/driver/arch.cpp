// The architectures the emulator models, each with the per-block and per-SM limits of real devices of that
// compute capability (CUDA C Programming Guide, "Technical Specifications per Compute Capability").
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "internal.h"

namespace lzn::emu {
namespace {

// major, minor, family, SMs (emulated default), threads/SM, blocks/SM, registers/SM, registers/block,
// shared/SM, opt-in shared/block, reserved shared/block, L2
constexpr Architecture kArchitectures[] = {
    {7, 5, "Turing", 4, 1024, 16, 65536, 65536, 65536, 65536, 0, 4 << 20},
    {8, 0, "A100-class", 4, 2048, 32, 65536, 65536, 167936, 166912, 1024, 40 << 20},
    {8, 6, "consumer Ampere", 4, 1536, 16, 65536, 65536, 102400, 101376, 1024, 6 << 20},
    {8, 9, "Ada", 4, 1536, 24, 65536, 65536, 102400, 101376, 1024, 72 << 20},
    {9, 0, "H100/H200-class", 4, 2048, 32, 65536, 65536, 233472, 232448, 1024, 50 << 20},
};

long long environment_number(const char* name, long long fallback, long long low, long long high) {
    const char* text = std::getenv(name);
    if (!text || !*text) return fallback;
    char* end = nullptr;
    long long value = std::strtoll(text, &end, 10);
    return (end && *end == '\0' && value >= low && value <= high) ? value : fallback;
}

}  // namespace

const Architecture* emulated_architecture(std::string* error) {
    static std::once_flag once;
    static Architecture chosen;
    static const Architecture* result = nullptr;
    static std::string message;
    std::call_once(once, [] {
        const char* text = std::getenv("LZN_EMULATED_CC");
        std::string wanted = text && *text ? text : "9.0";
        for (const auto& arch : kArchitectures) {
            std::string name = std::to_string(arch.major) + "." + std::to_string(arch.minor);
            if (wanted == name || wanted == std::to_string(arch.code())) {
                chosen = arch;
                chosen.multiprocessors = (int)environment_number("LZN_EMULATED_SMS", arch.multiprocessors, 1, 1024);
                result = &chosen;
                return;
            }
        }
        message = "LZN_EMULATED_CC=" + wanted + " is not an emulated architecture (7.5, 8.0, 8.6, 8.9, 9.0)";
    });
    if (!result && error) *error = message;
    return result;
}

size_t emulated_memory_bytes() {
    return (size_t)environment_number("LZN_EMULATED_MEMORY_MB", 4096, 16, 1 << 20) << 20;
}

int registers_per_warp(int registers) {
    const int unit = 256;
    return (registers * 32 + unit - 1) / unit * unit;
}

int register_limited_threads(const Architecture& arch, int registers) {
    if (registers <= 0) return 1024;
    int warps = arch.max_registers_per_block / registers_per_warp(registers);
    int threads = warps * 32;
    return threads < 1024 ? threads : 1024;
}

}  // namespace lzn::emu
