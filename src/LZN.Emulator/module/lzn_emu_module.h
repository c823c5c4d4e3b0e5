// The frame of a module's generated translation unit, around a kernels/*.cu file compiled for the host:
// the table of its extern "C" kernels with their parameter sizes and call trampolines, its dynamic shared
// array, and the exact bytes of the sources it was built from, exported through lzn_emu_module().
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace lzn_emu_entries {

template <auto Kernel>
struct Entry;

// The parameter types come from the kernel's own signature, so sizes and the call match the host build.
template <typename... Args, void (*Kernel)(Args...)>
struct Entry<Kernel> {
    static constexpr unsigned short sizes[sizeof...(Args) + 1] = {(unsigned short)sizeof(Args)..., 0};

    template <size_t... I>
    static void call(void* const* args, std::index_sequence<I...>) {
        Kernel(*static_cast<std::remove_reference_t<Args>*>(args[I])...);
    }

    static void invoke(void* const* args) { call(args, std::index_sequence_for<Args...>{}); }

    static lzn_emu_kernel_info info(const char* name) { return {name, (int)sizeof...(Args), sizes, &invoke}; }
};

}  // namespace lzn_emu_entries

#define LZN_EMU_KERNEL(name) ::lzn_emu_entries::Entry<&name>::info(#name),

// The module's extern __shared__ array: as large as any architecture allows, one per worker thread.
#define LZN_EMU_DYNAMIC_SHARED(type, name)                                                  \
    alignas(16) thread_local type name[LZN_EMU_MAX_DYNAMIC_SHARED / sizeof(type)];          \
    static void* lzn_emu_dynamic_shared() { return name; }

#define LZN_EMU_NO_DYNAMIC_SHARED static void* (*const lzn_emu_dynamic_shared)() = nullptr;

// Embeds a source file's bytes (the assembler reads the file at build time).
#define LZN_EMU_SOURCE(symbol, path)                                                                        \
    asm(".section .rodata\n.balign 16\n.hidden " #symbol "\n.globl " #symbol "\n" #symbol ":\n.incbin \"" path \
        "\"\n.hidden " #symbol "_end\n.globl " #symbol "_end\n" #symbol "_end:\n.previous");                 \
    extern "C" const unsigned char symbol[], symbol##_end[];
