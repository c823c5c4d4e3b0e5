// Fibers: a stack and a saved stack pointer per emulated GPU thread, switched in user space. On x86-64 the
// switch saves the callee-saved registers (about fifteen instructions); elsewhere it falls back to ucontext.
#pragma once

#include <cstddef>

namespace lzn::emu {

class FiberStack {
public:
    explicit FiberStack(size_t bytes);
    ~FiberStack();
    FiberStack(const FiberStack&) = delete;
    FiberStack& operator=(const FiberStack&) = delete;

    char* low() const { return low_; }
    char* high() const { return high_; }

private:
    char* mapping_;
    size_t mapped_;
    char* low_;
    char* high_;
};

// A suspended execution context.
struct FiberContext {
    void* state = nullptr;
};

// Prepares `context` to start `entry(argument)` on `stack` at its next resume; entry must never return.
void fiber_prepare(FiberContext& context, const FiberStack& stack, void (*entry)(void*), void* argument);

// Saves the running context into `from` and resumes `to`.
void fiber_switch(FiberContext& from, FiberContext& to);

}  // namespace lzn::emu
