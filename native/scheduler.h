// The fiber state machine: new -> running <-> suspended -> dead. Owns the
// fibers, their stacks and the thread's V8State, and drives a switch (the hop
// list at the top of v8_state.cc). No V8 call and no Node-API here.
#ifndef STACKFUL_SCHEDULER_H_
#define STACKFUL_SCHEDULER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fiber.h"
#include "stack.h"
#include "status.h"
#include "v8_state.h"

namespace stackful {

struct SchedulerStats {
  uint64_t created = 0;   // fibers ever created on this thread
  uint64_t finished = 0;  // fibers that ran to completion (or were killed)
  size_t live = 0;        // started and not finished, the running one included
  size_t suspended = 0;   // live and not running
  size_t stack_bytes_reserved = 0;
  size_t stack_bytes_pooled = 0;
  const char* guard_pages = "";  // "region" or "mprotect" (see StackPool)
};

// One per thread (Node environment). The root fiber is the thread's own stack.
class Scheduler {
 public:
  Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  ~Scheduler();

  V8State& v8() { return v8_; }
  LiveFibers& fibers() { return fibers_; }
  Fiber* root() { return fibers_.root(); }
  Fiber* current() const { return fibers_.current(); }

  // A fiber that has not run yet; it takes a stack when first switched to.
  // With `inherit_context` it will run in the running fiber's async context,
  // else in an empty one.
  Handle NewFiber(size_t stack_size, bool inherit_context);
  // Frees a fiber that never ran (its JS object was collected, or it was killed).
  void Discard(Fiber* fiber);
  // The fiber a handle names, or nullptr when it has finished (or never existed).
  Fiber* Find(Handle handle) const {
    const uint32_t slot = static_cast<uint32_t>(handle & 0xffffffffu);
    if (slot >= slots_.size()) return nullptr;
    Fiber* fiber = slots_[slot];
    return fiber != nullptr && fiber->generation == (handle >> kSlotBits) ? fiber : nullptr;
  }
  static Handle HandleOf(const Fiber* fiber) {
    return (Handle{fiber->generation} << kSlotBits) | fiber->slot;
  }

  // Transfers control from the running fiber to `target`; returns once some
  // fiber switches back to the caller.
  Status Switch(Fiber* target);
  // Where the running fiber goes when its body returns (its parent).
  Status SetNext(Fiber* next);

  SchedulerStats stats() const;

  // The thread is going away (V8 still usable): fibers still suspended are abandoned.
  void Shutdown() { v8_.Shutdown(); }

 private:
  static void Entry(void* arg);
  [[noreturn]] void Finish(Fiber* self);
  Status Prepare(Fiber* target);
  void Transfer(Fiber* from, Fiber* to);
  void RecycleDead();
  // Fibers alive from which switches prefetch (see Prefetch()).
  static constexpr size_t kPrefetchFrom = 64;
  void Prefetch(const Fiber* from, Fiber* to);
  void TrimParked(Fiber* parked);
  void Release(Fiber* fiber);

  LiveFibers fibers_;      // the root, the running fiber, the live list
  Fiber* next_ = nullptr;  // set by SetNext() before a fiber's body returns
  Fiber* dead_ = nullptr;  // finished; its stack is recycled by whoever runs next
  Fiber* last_target_ = nullptr;    // the last fiber (not the root) switched to
  std::vector<Fiber*> slots_;       // slot 0 is the root
  std::vector<uint32_t> free_slots_;
  std::vector<Fiber*> spare_;       // finished Fiber objects, for reuse
  StackPool pool_;
  V8State v8_;
  SchedulerStats stats_;
};

}  // namespace stackful

#endif  // STACKFUL_SCHEDULER_H_
