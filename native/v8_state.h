// Everything V8 needs swapped or set per fiber, and the switch of V8's state
// itself (the hop list of a switch is at the top of v8_state.cc). A suspended
// fiber's V8 state (handler chain, entry frames, handle scopes, ...) is
// archived in V8's list of archived threads, which every GC treats as roots:
// that is what keeps objects referenced only from a suspended fiber's frames
// alive. Two ways, one chosen per thread at load (SwitchWay):
//  - "direct" (the default): stackful archives and restores the state itself
//    (thread_archive.h); all fibers of a thread are one V8 thread.
//  - "locker" (the fallback, or STACKFUL_SWITCH=locker): every fiber is a V8
//    thread of its own that takes V8's lock (v8::Locker) with its own thread
//    id, and V8 archives it.
//
// V8's internals are reached only from this file and the native/ files it
// includes (v8_lines, v8_probes, thread_archive, stack_scan, young_gc,
// async_context); each is found and proven at load, never assumed.
// hot_calls.cc and binding.cc include <v8.h> for V8's public API only.
#ifndef STACKFUL_V8_STATE_H_
#define STACKFUL_V8_STATE_H_

#include <cstdint>
#include <string>
#include <unordered_map>

#include "async_context.h"
#include "fiber.h"
#include "stack_scan.h"
#include "thread_archive.h"
#include "v8_lines.h"
#include "v8_probes.h"
#include "young_gc.h"

namespace stackful {

class V8State;

// How fibers switch on this thread (see the top of this file).
struct SwitchStats {
  const char* path = "";    // "direct" | "locker"
  const char* reason = "";  // why "locker", when it is not by choice
  bool stack_limit_by_hand = false;    // the limit words are written directly (no lock)
  bool handle_scopes_by_hand = false;  // handle scopes are archived by copying
  bool top_by_hand = false;            // the ThreadLocalTop is archived by copying
  bool blocks_on_stacks = false;       // a fiber's first handle block is on its stack
};

// What V8 offers this thread, as found by Init().
struct V8Runtime {
  bool supported = false;
  std::string reason;  // what was checked and what failed, when unsupported
};

// One way to switch V8's state between fibers: a table of the steps that
// differ, chosen once per thread at load (kDirectWay or kLockerWay in
// v8_state.cc), so no step asks again which way is in use.
struct SwitchWay {
  const char* name;  // "direct" | "locker"
  void (*suspend)(V8State& v8, Fiber* from, const Fiber* to);  // Handoff() to `to` included
  void (*resume)(V8State& v8, Fiber* self);
  void (*run)(V8State& v8, Fiber* self);
  void (*handoff)(V8State& v8, const Fiber* next);
  void (*free_abandoned)(V8State& v8);
  FiberOfStateFn fiber_of_state;
};

// The V8 side of one scheduler (one per thread / Node environment). It reads
// the thread's fibers (LiveFibers) and never calls back into the Scheduler.
class V8State {
 public:
  explicit V8State(LiveFibers* fibers);
  V8State(const V8State&) = delete;
  V8State& operator=(const V8State&) = delete;
  ~V8State();

  // Finds and validates, on the calling thread, every V8 internal the switch
  // needs, and chooses the way to switch. `entry` is the JS function each new
  // fiber runs.
  V8Runtime Init(v8::Local<v8::Function> entry);

  // Outgoing side of a switch, on the running fiber `from`: release V8 to
  // `to`. No V8 call may happen after this until Resume() or Run().
  void Suspend(Fiber* from, Fiber* to) {
    async_.Save(from);
    from->v8.parked_at = young_.scavenges();
    way_->suspend(*this, from, to);
  }
  // Incoming side of a switch, on `self` after it was switched back into.
  void Resume(Fiber* self) { way_->resume(*this, self); }
  // Body of a new fiber, on its own stack: take V8 as a new thread, call the
  // JS entry, give V8 up again. Returns with V8 released.
  void Run(Fiber* self) { way_->run(*this, self); }
  // Hand V8's per-thread identity to `next`, which is about to take V8
  // (after Suspend(), or on a finished fiber).
  void Handoff(const Fiber* next) { way_->handoff(*this, next); }
  // A fiber was created by the running one: it starts in the creator's async
  // context (it inherits it).
  void InheritContext(Fiber* fiber) { async_.Save(fiber); }
  // A fiber's V8 side is no longer needed (it finished, or the thread is going away).
  void Forget(Fiber* fiber) { async_.Forget(fiber); }

  // Where a new fiber's stack starts: below its first handle block when that
  // block sits on its stack (see "Handle blocks on fiber stacks",
  // thread_archive.h), else at the top.
  void* EntryTop(const Fiber* fiber) const { return tops_.EntryTop(fiber); }

  // Called when the environment is going away, while V8 is still usable:
  // drops the handles and the GC hooks.
  void Shutdown();

  YoungGcStats young_gc_stats() const { return young_.stats(); }
  SwitchStats switch_stats() const;

 private:
  friend struct DirectWay;
  friend struct LockerWay;
  static void GcPrologue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void* data);
  static void GcEpilogue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void* data);
  void ChooseWay();
  void AfterLock(Fiber* self);
  void RethrowPending();
  void SetStackLimit(const Fiber* fiber);
  void CallEntry(Fiber* self);
  int TakeInterrupts();
  void ReRequestInterrupts();

  LiveFibers* fibers_;
  const SwitchWay* way_;
  v8::Isolate* isolate_ = nullptr;
  v8::Global<v8::Context> context_;
  v8::Global<v8::Function> entry_;
  v8::Global<v8::Value> pending_exception_;  // rethrown on resume
  int* interrupt_pending_ = nullptr;  // a StackGuard word that is non-zero while an interrupt waits
  int32_t* thread_id_slot_ = nullptr; // V8's thread_local thread id, on this thread
  const void** stack_start_slot_ = nullptr;  // V8's cached stack start (12.x+), on this thread
  void* stack_guard_ = nullptr;       // v8::internal::StackGuard*
  bool reapply_stack_limit_ = false;  // SetStackLimit() on every resume (13.x+, locker switch)
  uintptr_t root_stack_limit_ = 0;
  int carried_interrupts_ = 0;
  bool callbacks_installed_ = false;
  bool fast_limit_ = false;  // SetStackLimit() by hand (direct switch only)
  StackLimitWords limit_words_;
  std::string switch_reason_;

  StackTops tops_;
  AsyncContexts async_;
  StackScan scan_;
  YoungGc young_;
  ThreadArchive archive_;                              // the direct switch
  std::unordered_map<int32_t, Fiber*> by_thread_id_;  // the locker switch: fibers that have run, by V8 thread id
};

}  // namespace stackful

#endif  // STACKFUL_V8_STATE_H_
