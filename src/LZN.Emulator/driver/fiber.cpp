#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <new>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace lzn::emu {

// The lowest page stays inaccessible, so a stack overflow faults instead of overwriting a neighbour.
FiberStack::FiberStack(size_t bytes) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    mapped_ = (bytes + page - 1) / page * page + page;
    void* memory = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    mapping_ = static_cast<char*>(memory);
    mprotect(mapping_, page, PROT_NONE);
    low_ = mapping_ + page;
    high_ = mapping_ + mapped_;
}

FiberStack::~FiberStack() { munmap(mapping_, mapped_); }

#if defined(__x86_64__)

extern "C" void lzn_emu_fiber_switch(void** save, void* load);
extern "C" void lzn_emu_fiber_start();

// Frame layout from the saved stack pointer up: r15, r14, r13, r12, rbx, rbp, return address. A new fiber
// "returns" into lzn_emu_fiber_start with r12 = argument and r13 = entry; that call leaves the stack 16-byte
// aligned as the ABI requires. The SSE and x87 control words are not switched: kernel code never changes the
// floating-point environment, so every fiber of a worker shares it (reloading them costs more than the rest).
asm(R"(
    .text
    .p2align 4
    .globl lzn_emu_fiber_switch
    .hidden lzn_emu_fiber_switch
    .type lzn_emu_fiber_switch, @function
lzn_emu_fiber_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size lzn_emu_fiber_switch, .-lzn_emu_fiber_switch

    .p2align 4
    .globl lzn_emu_fiber_start
    .hidden lzn_emu_fiber_start
    .type lzn_emu_fiber_start, @function
lzn_emu_fiber_start:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size lzn_emu_fiber_start, .-lzn_emu_fiber_start
)");

void fiber_prepare(FiberContext& context, const FiberStack& stack, void (*entry)(void*), void* argument) {
    auto top = reinterpret_cast<uintptr_t>(stack.high()) & ~uintptr_t(15);
    auto* slot = reinterpret_cast<uint64_t*>(top - 24);  // the return address; after `ret` the stack is aligned
    slot[0] = reinterpret_cast<uint64_t>(&lzn_emu_fiber_start);
    slot[-1] = 0;                                         // rbp
    slot[-2] = 0;                                         // rbx
    slot[-3] = reinterpret_cast<uint64_t>(argument);      // r12
    slot[-4] = reinterpret_cast<uint64_t>(entry);         // r13
    slot[-5] = 0;                                         // r14
    slot[-6] = 0;                                         // r15
    context.state = slot - 6;
}

void fiber_switch(FiberContext& from, FiberContext& to) { lzn_emu_fiber_switch(&from.state, to.state); }

#else

namespace {
struct Start {
    void (*entry)(void*);
    void* argument;
};
void start_trampoline(unsigned high, unsigned low) {
    auto* start = reinterpret_cast<Start*>((uintptr_t(high) << 32) | low);
    start->entry(start->argument);
    std::abort();
}
}  // namespace

void fiber_prepare(FiberContext& context, const FiberStack& stack, void (*entry)(void*), void* argument) {
    if (!context.state) context.state = new ucontext_t();
    auto* uc = static_cast<ucontext_t*>(context.state);
    getcontext(uc);
    // The start record lives at the base of the fiber's own stack.
    auto* start = reinterpret_cast<Start*>(stack.low());
    *start = Start{entry, argument};
    uc->uc_stack.ss_sp = stack.low() + 64;
    uc->uc_stack.ss_size = (size_t)(stack.high() - stack.low()) - 64;
    uc->uc_link = nullptr;
    auto bits = reinterpret_cast<uintptr_t>(start);
    makecontext(uc, reinterpret_cast<void (*)()>(start_trampoline), 2, unsigned(bits >> 32), unsigned(bits));
}

void fiber_switch(FiberContext& from, FiberContext& to) {
    if (!from.state) from.state = new ucontext_t();
    swapcontext(static_cast<ucontext_t*>(from.state), static_cast<ucontext_t*>(to.state));
}

#endif

}  // namespace lzn::emu
