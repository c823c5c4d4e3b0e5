// Device memory: every allocation is its own mapping of host memory, so kernel code dereferences device
// pointers directly, and the registry below knows which addresses are device memory. Freed allocations stay
// reserved (inaccessible) for a while, so a use after free is reported as one rather than landing in a
// newer allocation.
#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "internal.h"

namespace lzn::emu {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kQuarantineBytes = size_t(256) << 20;
constexpr unsigned char kPoison = 0xff;  // uninitialised floats read as NaN

struct Allocation {
    uintptr_t base;
    size_t size;        // as requested
    size_t mapped;      // whole pages
    bool pinned;
    uint64_t serial;
};

std::shared_mutex registry_mutex;
std::map<uintptr_t, Allocation> live;
std::map<uintptr_t, Allocation> freed;
std::deque<uintptr_t> freed_order;
size_t freed_bytes = 0;
size_t live_device_bytes = 0;
uint64_t next_serial = 1;

size_t round_to_pages(size_t bytes) { return (bytes + kPage - 1) / kPage * kPage; }

// The entry of `map` whose [base, base + size) contains `address`, or the nearest one below it.
const Allocation* at_or_below(const std::map<uintptr_t, Allocation>& map, uintptr_t address) {
    auto it = map.upper_bound(address);
    if (it == map.begin()) return nullptr;
    return &std::prev(it)->second;
}

std::string hex(uintptr_t value) {
    char text[32];
    std::snprintf(text, sizeof text, "0x%" PRIxPTR, value);
    return text;
}

void release_oldest_freed() {
    uintptr_t base = freed_order.front();
    freed_order.pop_front();
    auto it = freed.find(base);
    if (it == freed.end()) return;
    munmap(reinterpret_cast<void*>(it->second.base), it->second.mapped);
    freed_bytes -= it->second.mapped;
    freed.erase(it);
}

}  // namespace

void lock_registry_shared() { registry_mutex.lock_shared(); }
void unlock_registry_shared() { registry_mutex.unlock_shared(); }

void* allocate_device(size_t bytes, bool pinned_host, int* status) {
    std::unique_lock<std::shared_mutex> lock(registry_mutex);
    if (!pinned_host && live_device_bytes + bytes > emulated_memory_bytes()) {
        *status = kOutOfMemory;
        return nullptr;
    }
    size_t mapped = round_to_pages(bytes == 0 ? 1 : bytes);
    void* memory = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) {
        *status = kOutOfMemory;
        return nullptr;
    }
    std::memset(memory, kPoison, bytes);
    auto base = reinterpret_cast<uintptr_t>(memory);
    live[base] = Allocation{base, bytes, mapped, pinned_host, next_serial++};
    if (!pinned_host) live_device_bytes += bytes;
    *status = kSuccess;
    return memory;
}

int free_device(uintptr_t address, bool pinned_host) {
    std::unique_lock<std::shared_mutex> lock(registry_mutex);
    auto it = live.find(address);
    if (it == live.end() || it->second.pinned != pinned_host) return kInvalidValue;
    Allocation allocation = it->second;
    live.erase(it);
    if (!pinned_host) live_device_bytes -= allocation.size;
    mprotect(reinterpret_cast<void*>(allocation.base), allocation.mapped, PROT_NONE);
    freed[allocation.base] = allocation;
    freed_order.push_back(allocation.base);
    freed_bytes += allocation.mapped;
    while (freed_bytes > kQuarantineBytes && !freed_order.empty()) release_oldest_freed();
    return kSuccess;
}

void free_all_device_memory() {
    std::unique_lock<std::shared_mutex> lock(registry_mutex);
    for (auto& [base, allocation] : live) munmap(reinterpret_cast<void*>(base), allocation.mapped);
    live.clear();
    live_device_bytes = 0;
    while (!freed_order.empty()) release_oldest_freed();
}

size_t allocated_bytes() {
    std::shared_lock<std::shared_mutex> lock(registry_mutex);
    return live_device_bytes;
}

// Callers hold the registry (a launch holds it shared; API calls take it below).
AccessReport classify(uintptr_t address, size_t bytes) {
    if (const Allocation* a = at_or_below(live, address); a && address < a->base + a->size) {
        if (address + bytes <= a->base + a->size)
            return {a->pinned ? AccessVerdict::kPinnedHost : AccessVerdict::kDevice, a->base, a->size, a->serial};
        return {AccessVerdict::kBeyondEnd, a->base, a->size, a->serial};
    }
    if (const Allocation* a = at_or_below(freed, address); a && address < a->base + a->mapped)
        return {AccessVerdict::kFreed, a->base, a->size, a->serial};
    if (const Allocation* a = at_or_below(live, address); a && address < a->base + a->mapped)
        return {AccessVerdict::kBeyondEnd, a->base, a->size, a->serial};
    return {AccessVerdict::kUnknown, 0, 0, 0};
}

std::string describe_range(uintptr_t address, size_t bytes) {
    AccessReport report = classify(address, bytes);
    std::string allocation = "the " + std::to_string(report.size) + "-byte allocation #" + std::to_string(report.serial) +
                             " at " + hex(report.base);
    switch (report.verdict) {
        case AccessVerdict::kDevice:
        case AccessVerdict::kPinnedHost:
            return "offset " + std::to_string(address - report.base) + " of " + allocation;
        case AccessVerdict::kFreed:
            return "offset " + std::to_string(address - report.base) + " of " + allocation + ", which was freed";
        case AccessVerdict::kBeyondEnd:
            return std::to_string(address + bytes - (report.base + report.size)) + " byte(s) past the end of " + allocation;
        case AccessVerdict::kUnknown:
            break;
    }
    if (const Allocation* below = at_or_below(live, address))
        return "not device memory (a host pointer, or never allocated; the nearest allocation below, #" +
               std::to_string(below->serial) + ", ends " + std::to_string(address - (below->base + below->size)) +
               " bytes before it)";
    return "not device memory (a host pointer, or never allocated)";
}

std::string check_range(uintptr_t address, size_t bytes) {
    std::shared_lock<std::shared_mutex> lock(registry_mutex);
    AccessReport report = classify(address, bytes);
    if (report.verdict == AccessVerdict::kDevice || report.verdict == AccessVerdict::kPinnedHost) return "";
    return hex(address) + " (" + std::to_string(bytes) + " bytes) is " + describe_range(address, bytes);
}

std::vector<std::pair<uintptr_t, size_t>> allocations_containing(const std::vector<uintptr_t>& addresses) {
    std::vector<std::pair<uintptr_t, size_t>> result;
    for (uintptr_t address : addresses) {
        const Allocation* a = at_or_below(live, address);
        if (!a || address >= a->base + a->size) continue;
        bool seen = false;
        for (const auto& range : result) seen = seen || range.first == a->base;
        if (!seen) result.emplace_back(a->base, a->size);
    }
    return result;
}

}  // namespace lzn::emu
