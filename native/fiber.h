// One fiber's state, and the list of a thread's live fibers. Plain data: the
// state machine that changes them is the Scheduler (scheduler.h); the V8 side
// of a fiber (V8FiberState) is kept here for V8State (v8_state.h) to fill.
#ifndef STACKFUL_FIBER_H_
#define STACKFUL_FIBER_H_

#include <cstddef>
#include <cstdint>

#include "stack.h"
#include "thread_archive.h"
#include "v8_lines.h"

namespace stackful {

class Scheduler;

enum class FiberState : uint8_t { kNew, kRunning, kSuspended, kDead };

// A handle names a fiber from JS: its slot in the scheduler's table and the
// slot's generation, so a handle to a finished fiber can never reach the
// fiber that reuses its slot. It fits in a double exactly.
using Handle = uint64_t;
constexpr unsigned kSlotBits = 32;
constexpr Handle kMaxGeneration = (Handle{1} << 20) - 1;

// The V8 side of one fiber.
struct V8FiberState {
  V8FiberState() = default;
  V8FiberState(const V8FiberState&) = delete;
  V8FiberState& operator=(const V8FiberState&) = delete;
  ~V8FiberState() { ThreadArchive::Release(&archived); }

  // Direct switch: the fiber's V8 state while it is suspended.
  ArchivedThread archived;
  // Locker switch: V8's id for this fiber (0 until it first runs), and a
  // v8::Unlocker that lives here while the fiber is suspended.
  int32_t thread_id = 0;
  alignas(v8::Unlocker) unsigned char unlocker[sizeof(v8::Unlocker)];
  // The fiber's async context (async_context.h): a v8::Global<AsyncContext>,
  // empty (all zero) when unset. Raw, so that freeing a fiber after its
  // isolate is gone never calls into V8.
  alignas(void*) unsigned char async_context[sizeof(void*)] = {};
  // How many scavenges had begun when the fiber last suspended (young_gc.h).
  uint64_t parked_at = 0;
};

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

// A thread's fibers as the V8 side sees them: the root (the thread's own
// stack), the running one, and every one started and not finished. The
// Scheduler changes it; V8State and its parts only read it.
class LiveFibers {
 public:
  Fiber* root() { return &root_; }
  Fiber* current() const { return current_; }
  // Started and not finished, the running one included (the root is not counted).
  size_t count() const { return count_; }
  // Suspended fibers, the root included when it is not running: every started
  // fiber but the running one, plus the root when another one runs.
  size_t suspended_count() const { return count_; }

  // Visits every suspended fiber (the root included, when not running).
  template <typename Visit>
  void ForEachSuspended(Visit visit) {
    if (current_ != &root_) visit(&root_);
    for (Fiber* f = head_; f != nullptr; f = f->next_live) {
      if (f != current_) visit(f);
    }
  }

 private:
  friend class Scheduler;
  LiveFibers() : current_(&root_) {}
  void Link(Fiber* fiber);
  void Unlink(Fiber* fiber);

  Fiber root_;
  Fiber* current_;
  Fiber* head_ = nullptr;
  size_t count_ = 0;
};

inline void LiveFibers::Link(Fiber* fiber) {
  fiber->prev_live = nullptr;
  fiber->next_live = head_;
  if (head_ != nullptr) head_->prev_live = fiber;
  head_ = fiber;
  count_++;
}

inline void LiveFibers::Unlink(Fiber* fiber) {
  if (fiber->prev_live != nullptr) fiber->prev_live->next_live = fiber->next_live;
  else head_ = fiber->next_live;
  if (fiber->next_live != nullptr) fiber->next_live->prev_live = fiber->prev_live;
  fiber->prev_live = fiber->next_live = nullptr;
  count_--;
}

}  // namespace stackful

#endif  // STACKFUL_FIBER_H_
