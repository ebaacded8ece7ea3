// The fiber state machine: new -> running <-> suspended -> dead. Owns the
// stacks; the V8 side is delegated to V8State. No V8 and no Node-API here.
#ifndef STACKFUL_FIBER_H_
#define STACKFUL_FIBER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack.h"
#include "status.h"
#include "v8_state.h"

namespace stackful {

enum class FiberState : uint8_t { kNew, kRunning, kSuspended, kDead };

// A handle names a fiber from JS: its slot in the scheduler's table and the
// slot's generation, so a handle to a finished fiber can never reach the
// fiber that reuses its slot. It fits in a double exactly.
using Handle = uint64_t;
constexpr unsigned kSlotBits = 32;
constexpr Handle kMaxGeneration = (Handle{1} << 20) - 1;

struct Fiber {
  Scheduler* scheduler = nullptr;
  uint32_t slot = 0;
  uint32_t generation = 0;
  FiberState state = FiberState::kNew;
  bool is_root = false;
  size_t stack_size = 0;
  Stack stack;
  void* sp = nullptr;         // saved stack pointer while not running
  Fiber* resumer = nullptr;   // the fiber that last switched into this one
  bool resumed = false;       // switched into after it first suspended (see RecycleDead)
  bool gc_ran_here = false;   // a GC ran on this stack since it last suspended (see TrimParked)
  Fiber* prev_live = nullptr; // list of started fibers that have not finished
  Fiber* next_live = nullptr;
  // The fiber (not the root) switched to after this one, the last time: where
  // a round of the ready queue goes next (see Scheduler::Prefetch).
  Fiber* successor = nullptr;
  V8FiberState v8;
};

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
  Fiber* root() { return &root_; }
  Fiber* current() const { return current_; }

  // A fiber that has not run yet; it takes a stack when first switched to.
  // With `adopt_context` it will run in the running fiber's async context,
  // else in an empty one.
  Handle NewFiber(size_t stack_size, bool adopt_context);
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
  // Suspended fibers, the root included when it is not running: every started
  // fiber but the running one, plus the root when another one runs.
  size_t suspended_count() const { return stats_.live; }

  // Visits every suspended fiber (the root included, when not running).
  template <typename Visit>
  void ForEachSuspended(Visit visit) {
    if (current_ != &root_) visit(&root_);
    for (Fiber* f = live_head_; f != nullptr; f = f->next_live) {
      if (f != current_) visit(f);
    }
  }

  // The thread is going away (V8 still usable): fibers still suspended are abandoned.
  void Shutdown() {
    v8_.Shutdown();
  }

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
  void Link(Fiber* fiber);
  void Unlink(Fiber* fiber);

  Fiber root_;
  Fiber* current_;
  Fiber* next_ = nullptr;  // set by SetNext() before a fiber's body returns
  Fiber* dead_ = nullptr;  // finished; its stack is recycled by whoever runs next
  Fiber* live_head_ = nullptr;
  Fiber* last_target_ = nullptr;    // the last fiber (not the root) switched to
  std::vector<Fiber*> slots_;       // slot 0 is the root
  std::vector<uint32_t> free_slots_;
  std::vector<Fiber*> spare_;       // finished Fiber objects, for reuse
  StackPool pool_;
  V8State v8_;
  SchedulerStats stats_;
};

}  // namespace stackful

#endif  // STACKFUL_FIBER_H_
