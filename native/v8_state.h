// Everything V8 needs swapped or set per fiber. A suspended fiber's V8 state
// (handler chain, entry frames, handle scopes, ...) is archived in V8's list
// of archived threads, which every GC treats as roots: that is what keeps
// objects referenced only from a suspended fiber's frames alive. Two ways:
//  - "direct" (the default): stackful archives and restores the state itself
//    (thread_archive.h); all fibers of a thread are one V8 thread.
//  - "locker" (the fallback, or STACKFUL_SWITCH=locker): every fiber is a V8
//    thread of its own that takes V8's lock (v8::Locker) with its own thread
//    id, and V8 archives it.
//
// v8_state.cc and thread_archive.cc use V8's internals (binding.cc includes
// <node.h>, and with it <v8.h>, for the public Isolate API only); those internals are found and
// validated at load time (see the table in v8_state.cc), never assumed.
#ifndef STACKFUL_V8_STATE_H_
#define STACKFUL_V8_STATE_H_

#include <cstdint>
#include <vector>
#include <string>
#include <unordered_map>

#include "thread_archive.h"

namespace v8 {
class Value;
template <typename T>
class FunctionCallbackInfo;
}  // namespace v8

typedef struct napi_env__* napi_env;
typedef struct napi_value__* napi_value;

namespace stackful {

struct Fiber;
class Scheduler;

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
  alignas(void*) unsigned char unlocker[sizeof(void*)];
  // The fiber's async context (V8's continuation-preserved embedder data,
  // where AsyncLocalStorage lives on Node 24+): a v8::Global, empty when unset.
  alignas(void*) unsigned char async_context[sizeof(void*)] = {};
  // How many scavenges had begun when the fiber last suspended (see BeforeGc).
  uint64_t parked_at = 0;
};

// Whether scavenges skip the fibers whose frames can hold no young object.
struct YoungGcStats {
  const char* path = "";     // "skip-clean" | "visit-all" | "pending"
  const char* reason = "";   // why "visit-all", when it is not by choice
  uint64_t scavenges = 0;    // scavenges seen since the thread loaded stackful
  uint64_t skipping = 0;     // of those, how many left parked fibers out
};

// The words of the StackGuard (and, on 13.x+, of the isolate) that
// v8::Isolate::SetStackLimit() writes (see FindStackLimitWords()).
struct StackLimitWords {
  uintptr_t* real[2] = {};           // always set
  uintptr_t* checked_by_js[2] = {};  // set unless an interrupt is pending
  int reals = 0;
  int checked = 0;
  uintptr_t* stack_size = nullptr;   // the isolate's stack size, or nullptr
};

// How fibers switch on this thread (see the top of this file).
struct SwitchStats {
  const char* path = "";    // "direct" | "locker"
  const char* reason = "";  // why "locker", when it is not by choice
  bool stack_limit_by_hand = false;    // the limit words are written directly (no lock)
  bool handle_scopes_by_hand = false;  // handle scopes are archived by copying
  bool top_by_hand = false;            // the ThreadLocalTop is archived by copying
  bool blocks_on_stacks = false;       // a fiber's first handle block is on its stack
};

// What V8 offers this thread, as found by Probe().
struct V8Runtime {
  bool supported = false;
  std::string reason;  // what was checked and what failed, when unsupported
};

// The V8 side of one scheduler (one per thread / Node environment).
class V8State {
 public:
  V8State() = default;
  V8State(const V8State&) = delete;
  V8State& operator=(const V8State&) = delete;
  ~V8State();

  // Finds and validates, on the calling thread, every V8 internal the switch
  // needs. `entry` is the JS function each new fiber runs.
  V8Runtime Init(Scheduler* scheduler, napi_env env, napi_value entry);

  // Outgoing side of a switch, on the running fiber `from`: release V8 to
  // `to`. No V8 call may happen after this until Resume() or Run().
  void Suspend(Fiber* from, Fiber* to);
  // Incoming side of a switch, on `self` after it was switched back into.
  void Resume(Fiber* self);
  // Body of a new fiber, on its own stack: take V8 as a new thread, call the
  // JS entry, give V8 up again. Returns with the lock released.
  void Run(Fiber* self);
  // Hand V8's thread identity to `next`, which is about to take the lock
  // (after Suspend(), or on a finished fiber).
  void Handoff(const Fiber* next);
  // A fiber was created by the running one: it starts in the creator's async context.
  void Adopt(Fiber* fiber);
  // A fiber's V8 side is no longer needed (it finished, or the thread is going away).
  void Forget(Fiber* fiber);

  // Defines the calls made on every switch (create, switchTo, setNext) on the
  // object `target` as plain V8 functions: Node-API's per-call bookkeeping
  // was a large share of a switch. Failures throw makeError(code, message).
  void DefineHotCalls(napi_value target, napi_value make_error);
  // What JS wrote for the next hot call (see DefineHotCalls()).
  const double* mailbox() const { return mailbox_; }

  // A new fiber's first handle block, at the top of its stack, or nullptr
  // when V8 allocates it (see "Handle blocks on fiber stacks", thread_archive.h).
  void* BlockOnStack(const Fiber* fiber) const;
  // Where a new fiber's stack starts: below that block, else at the top.
  void* EntryTop(const Fiber* fiber) const;

  // Called when the environment is going away, while V8 is still usable:
  // drops the handles and the GC hooks.
  void Shutdown();

  // GC hooks: make cppgc's conservative stack scan see the running stack and
  // every suspended one, and nothing else.
  void BeforeGc(bool full, bool scavenge);
  void AfterGc(bool full, bool scavenge);
  // cppgc's scan callback (V8 13.x+): visits every suspended stack.
  static void ScanSuspendedStacks(void* visitor);

  YoungGcStats young_gc_stats() const;
  SwitchStats switch_stats() const;

 private:
  static void HotCreate(const v8::FunctionCallbackInfo<v8::Value>& info);
  static void HotSwitchTo(const v8::FunctionCallbackInfo<v8::Value>& info);
  static void HotSetNext(const v8::FunctionCallbackInfo<v8::Value>& info);
  static void GetAsyncContextCall(const v8::FunctionCallbackInfo<v8::Value>& info);
  static void SetAsyncContextCall(const v8::FunctionCallbackInfo<v8::Value>& info);
  void AfterLock(Fiber* self);
  void SetStackLimit(const Fiber* fiber);
  void CallEntry(Fiber* self);
  void ChooseSwitch();
  Fiber* FiberOfState(ArchivedThread* state) const;
  const void* StackTop(const Fiber* fiber) const;
  const void* ScanTop(const Fiber* fiber) const;
  void CollectScanWords();
  int TakeInterrupts();
  void ReRequestInterrupts();
  void BeforeScavenge();
  void ParkAsyncContext();
  void UnparkAsyncContext();
  void AfterScavenge();
  bool ProbeThreadList();
  void VerifySkipped(uint64_t scavenge) const;

  Scheduler* scheduler_ = nullptr;
  void* isolate_ = nullptr;           // v8::Isolate*
  void* context_ = nullptr;           // v8::Global<v8::Context>*
  void* entry_ = nullptr;             // v8::Global<v8::Function>*
  void* pending_exception_ = nullptr; // v8::Global<v8::Value>*, rethrown on resume
  void* make_error_ = nullptr;        // v8::Global<v8::Function>*, from src/errors.ts
  void* mailbox_store_ = nullptr;     // std::shared_ptr<v8::BackingStore>*: JS's `mailbox`
  const double* mailbox_ = nullptr;   // its memory: [0] = the handle switchTo()/setNext() act on
  int* interrupt_pending_ = nullptr;  // a StackGuard word that is non-zero while an interrupt waits
  int32_t* thread_id_slot_ = nullptr; // V8's thread_local thread id, on this thread
  const void** stack_start_slot_ = nullptr;  // V8's cached stack start (12.x+), on this thread
  void* stack_guard_ = nullptr;       // v8::internal::StackGuard*
  void* scan_stack_ = nullptr;        // heap::base::Stack* of cppgc's conservative scan
  void** scan_callback_slot_ = nullptr;  // its scan callback, replaced by ours (13.x+)
  int visit_pointer_slot_ = -1;
  bool use_segments_ = false;         // suspended stacks as AddStackSegment() segments
  int scan_whole_ = -1;               // STACKFUL_SCAN=whole: suspended stacks scanned whole, unfiltered (-1: unread)
  std::vector<uintptr_t> scan_words_; // else what a full GC scans of them: see CollectScanWords()
  bool reapply_stack_limit_ = false;  // SetStackLimit() on every resume (13.x+)
  uintptr_t root_stack_limit_ = 0;
  const void* root_stack_start_ = nullptr;
  int carried_interrupts_ = 0;
  void* parked_context_ = nullptr;    // v8::Global: the isolate's async context during a GC
  int gc_depth_ = 0;                  // scavenge prologues without their epilogue yet
  bool callbacks_installed_ = false;

  // The direct switch (thread_archive.h), when it proved usable.
  bool direct_ = false;
  bool fast_limit_ = false;  // SetStackLimit() by hand (direct switch only)
  StackLimitWords limit_words_;
  std::string switch_reason_;
  ThreadArchive archive_;

  // Scavenges and parked fibers (see "Scavenges and parked fibers" in v8_state.cc).
  enum class SkipPath : uint8_t { kPending, kOn, kOff };
  SkipPath skip_path_ = SkipPath::kPending;
  const char* skip_reason_ = "";
  bool verify_skip_ = false;               // STACKFUL_VERIFY_GC=1: check every skipped fiber
  uint64_t scavenges_ = 0;
  uint64_t skipping_scavenges_ = 0;
  ArchivedThread* in_use_anchor_ = nullptr;  // V8's list of archived threads
  ArchivedThread* skipped_first_ = nullptr;  // the run of that list taken out during a scavenge
  ArchivedThread* skipped_last_ = nullptr;
  std::unordered_map<int32_t, Fiber*> by_thread_id_;  // locker switch: fibers that have run, by V8 thread id
};

}  // namespace stackful

#endif  // STACKFUL_V8_STATE_H_
