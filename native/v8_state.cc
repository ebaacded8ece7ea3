// The switch, hop by hop: `fiber.switch(value)` from JavaScript.
//
//  1. JS (src/core/fiber.ts): Fiber#switch checks its arguments, leaves the value
//     in the module's transfer slot (values never cross into C++), writes the
//     target's handle into the shared `mailbox` and calls core.switchTo().
//  2. binding (hot_calls.cc): HotCalls::SwitchTo, a plain V8 function
//     callback, reads the handle and calls Scheduler::Switch.
//  3. scheduler (scheduler.cc): Switch gives a new target its stack
//     (Prepare), then Transfer calls V8State::Suspend (v8_state.h): the
//     running fiber keeps its async context (async_context.h), and the way
//     chosen at load (SwitchWay, below) gives V8 up:
//  4. archive: DirectWay::Suspend archives V8's per-thread state into the
//     fiber (ThreadArchive::Save, thread_archive.cc) and links it into V8's
//     list of archived threads, where every GC finds it; LockerWay::Suspend
//     builds a v8::Unlocker and V8 archives it. Either way Handoff() gives
//     V8's thread_locals (stack start, and the locker way's thread id) to
//     the target.
//  5. asm (arch/switch_<arch>_<abi>.S): stackful_switch saves the
//     callee-saved registers, swaps the stack pointer, pops the target's.
//  6. resume: in the target, Scheduler::Transfer continues (TrimParked,
//     RecycleDead) and calls V8State::Resume: the way's Resume restores V8's
//     state (ThreadArchive::Load and the fiber's stack limit, or
//     ~v8::Unlocker), then AfterLock() restores the async context, points
//     cppgc's scan at this stack, and re-requests interrupts carried over.
//     Back in JS, the target's pending #transfer takes the value.
//
// A new fiber's first run: Scheduler::Entry -> V8State::Run -> the way's Run
// (a fresh V8 thread state) -> CallEntry -> the JS entry `Fiber.#main`, whose
// last act is core.setNext(); Scheduler::Finish then hands off and switches
// there for good.
#include "v8_state.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace stackful {

namespace {

v8::Unlocker* UnlockerOf(Fiber* fiber) { return reinterpret_cast<v8::Unlocker*>(fiber->v8.unlocker); }

}  // namespace

// --- the direct way: stackful archives V8's per-thread state ----------------

struct DirectWay {
  // Hop 4.
  static void Suspend(V8State& v8, Fiber* from, const Fiber* to) {
    from->v8.archived.owner = from;
    v8.archive_.Save(&from->v8.archived);
    Handoff(v8, to);
  }
  // V8 reads its cached stack start as `next` runs: it must be next's own.
  static void Handoff(V8State& v8, const Fiber* next) {
    if (v8.stack_start_slot_ != nullptr) *v8.stack_start_slot_ = v8.tops_.Top(next);
  }
  // Hop 6.
  static void Resume(V8State& v8, Fiber* self) {
    v8.archive_.Load(&self->v8.archived);
    v8.SetStackLimit(self);
    v8.AfterLock(self);
    v8.RethrowPending();
  }
  static void Run(V8State& v8, Fiber* self) {
    void* block = v8.tops_.Block(self);
    v8.archive_.Begin(block);  // fresh, as V8 starts a new thread
    v8.SetStackLimit(self);
    v8.CallEntry(self);
    v8.archive_.Drop(block);
  }
  static Fiber* FiberOfState(const void*, const ArchivedThread* state) {
    return state->magic == kArchivedThreadMagic ? state->owner : nullptr;
  }
  // The archives of abandoned fibers are ours, and so is what V8 allocated
  // for their handle scopes.
  static void FreeAbandoned(V8State& v8) {
    v8.fibers_->ForEachSuspended([&v8](Fiber* fiber) {
      ThreadArchive::Unlink(&fiber->v8.archived);
      if (!fiber->is_root) v8.archive_.FreeAbandoned(&fiber->v8.archived, v8.tops_.Block(fiber));
    });
    if (v8.fibers_->current()->is_root) v8.archive_.FreeSpares();
  }
};

// --- the locker way: every fiber is a V8 thread of its own -------------------

struct LockerWay {
  // Hop 4.
  static void Suspend(V8State& v8, Fiber* from, const Fiber* to) {
    // Interrupts pending on this thread (a worker's terminate(), a GC request)
    // belong to the thread, not to the fiber: they travel to the next one.
    v8.carried_interrupts_ |= v8.TakeInterrupts();
    new (UnlockerOf(from)) v8::Unlocker(v8.isolate_);
    Handoff(v8, to);
  }
  // V8 reads these thread_locals when `next` takes the lock: they must be its own.
  static void Handoff(V8State& v8, const Fiber* next) {
    *v8.thread_id_slot_ = next->v8.thread_id;
    if (v8.stack_start_slot_ != nullptr) *v8.stack_start_slot_ = v8.tops_.Top(next);
  }
  // Hop 6.
  static void Resume(V8State& v8, Fiber* self) {
    UnlockerOf(self)->~Unlocker();  // takes the lock, restores our V8 state
    if (v8.reapply_stack_limit_) v8.SetStackLimit(self);
    v8.AfterLock(self);
    v8.RethrowPending();
  }
  static void Run(V8State& v8, Fiber* self) {
    {
      v8::Locker locker(v8.isolate_);  // a new V8 thread: fresh state, a new thread id
      self->v8.thread_id = *v8.thread_id_slot_;
      v8.by_thread_id_[self->v8.thread_id] = self;
      v8.SetStackLimit(self);
      v8.CallEntry(self);
      v8.carried_interrupts_ |= v8.TakeInterrupts();
      v8.by_thread_id_.erase(self->v8.thread_id);
    }  // ~Locker: frees this thread's V8 state and releases the lock
    v8.isolate_->DiscardThreadSpecificMetadata();
  }
  static Fiber* FiberOfState(const void* owner, const ArchivedThread* state) {
    const auto& by_id = static_cast<const V8State*>(owner)->by_thread_id_;
    auto it = by_id.find(state->id);
    return it == by_id.end() ? nullptr : it->second;
  }
  // Each suspended fiber is a V8 thread whose state V8 archived (eagerly,
  // since the root took the lock after them); V8 frees the archive buffers
  // with the isolate, not what they point to.
  static void FreeAbandoned(V8State& v8) {
    if (!v8.fibers_->current()->is_root || !v8.archive_.PrepareToFree(v8.isolate_)) return;
    ArchivedThread* anchor = v8.archive_.in_use_anchor();
    for (ArchivedThread* t = anchor->next; t != anchor; t = t->next) {
      Fiber* fiber = FiberOfState(&v8, t);
      if (fiber != nullptr && !fiber->is_root && fiber->state == FiberState::kSuspended) v8.archive_.FreeAbandoned(t, nullptr);
    }
  }
};

namespace {

template <typename Way>
constexpr SwitchWay MakeWay(const char* name) {
  return {name, &Way::Suspend, &Way::Resume, &Way::Run, &Way::Handoff, &Way::FreeAbandoned, &Way::FiberOfState};
}

constexpr SwitchWay kDirectWay = MakeWay<DirectWay>("direct");
constexpr SwitchWay kLockerWay = MakeWay<LockerWay>("locker");

}  // namespace

// --- what both ways share ------------------------------------------------------

// V8 is ours again on `self` (after the way's resume, or in a new fiber).
void V8State::AfterLock(Fiber* self) {
  async_.Restore(self);
  scan_.Enter(self);
  if (carried_interrupts_ != 0) ReRequestInterrupts();
}

void V8State::RethrowPending() {
  if (pending_exception_.IsEmpty()) return;
  isolate_->ThrowException(pending_exception_.Get(isolate_));
  pending_exception_.Reset();
}

// Calls the JS entry of a new fiber, on its stack.
void V8State::CallEntry(Fiber* self) {
  v8::HandleScope handle_scope(isolate_);
  AfterLock(self);
  v8::Local<v8::Context> context = context_.Get(isolate_);
  v8::Context::Scope context_scope(context);
  v8::TryCatch try_catch(isolate_);
  v8::Local<v8::Function> entry = entry_.Get(isolate_);
  if (entry->Call(context, v8::Undefined(isolate_), 0, nullptr).IsEmpty()) {
    if (try_catch.HasTerminated()) {
      carried_interrupts_ |= kTerminateExecution;  // the thread is terminating
    } else if (try_catch.HasCaught()) {
      // The JS entry catches everything; this is a bug, not a user error.
      pending_exception_.Reset(isolate_, try_catch.Exception());
    }
  }
}

int V8State::TakeInterrupts() {
  // Nothing pending (the usual case): skip the StackGuard's lock.
  if (interrupt_pending_ != nullptr && __atomic_load_n(interrupt_pending_, __ATOMIC_ACQUIRE) == 0) return 0;
  return TakeAllInterrupts(stack_guard_);
}

void V8State::ReRequestInterrupts() {
  const int flags = carried_interrupts_;
  carried_interrupts_ = 0;
  RequestInterrupts(stack_guard_, flags);
}

// Leave room under V8's limit for native frames, so deep recursion throws
// RangeError instead of reaching the guard page (test/crash/overflow.js).
void V8State::SetStackLimit(const Fiber* fiber) {
  const uintptr_t limit = fiber->is_root ? root_stack_limit_ : reinterpret_cast<uintptr_t>(fiber->stack.low) + kStackReserve;
  if (!fast_limit_) {
    isolate_->SetStackLimit(limit);
    return;
  }
  // What SetStackLimit() does, without its lock: a limit JS checks moves only
  // if it is not V8's interrupt marker, the real limits always. Another thread
  // may request an interrupt at any time; it writes the marker into the JS
  // limit first, then into the C++ one. So the C++ limit is stored plainly,
  // the JS limit moves by compare-and-swap (one locked instruction per
  // switch, not one per word), and if that finds the marker, the marker goes
  // back into the C++ limit: no interrupt is lost on either side.
  const StackLimitWords& w = limit_words_;
  const uintptr_t real = __atomic_load_n(w.real[0], __ATOMIC_RELAXED);
  for (int i = 1; i < w.checked; ++i) __atomic_store_n(w.checked_by_js[i], limit, __ATOMIC_RELAXED);
  uintptr_t seen = real;
  if (!__atomic_compare_exchange_n(w.checked_by_js[0], &seen, limit, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    for (int i = 1; i < w.checked; ++i) __atomic_store_n(w.checked_by_js[i], seen, __ATOMIC_RELAXED);
  }
  for (int i = 0; i < w.reals; ++i) __atomic_store_n(w.real[i], limit, __ATOMIC_RELAXED);
  if (w.stack_size != nullptr) *w.stack_size = reinterpret_cast<uintptr_t>(tops_.Top(fiber)) - limit;
}

// --- load and unload -----------------------------------------------------------

V8State::V8State(LiveFibers* fibers)
    : fibers_(fibers), way_(&kLockerWay), scan_(fibers, &tops_), young_(fibers) {}

V8Runtime V8State::Init(v8::Local<v8::Function> entry) {
  V8Runtime runtime;
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  isolate_ = isolate;
  if (isolate == nullptr) {
    runtime.reason = "no V8 isolate is entered on this thread";
    return runtime;
  }
  if (!v8::Locker::IsLocked(isolate)) {
    runtime.reason = "Node does not hold a v8::Locker on this thread";
    return runtime;
  }
  const Profile& profile = ProfileFor(v8::V8::GetVersion());
  ResolveInternals();
  const char* missing = MissingInternal(Need::kCore);
  if (missing == nullptr) {
    missing = MissingInternal(profile.suspended_scan == SuspendedScan::kSegments ? Need::kSegments : Need::kCallback);
  }
  if (missing != nullptr) {
    runtime.reason = std::string("V8 internal not found in this Node binary (neither exported nor in its symbol table): ") + missing;
    return runtime;
  }
  thread_id_slot_ = FindThreadIdSlot(isolate, &runtime.reason);
  if (thread_id_slot_ == nullptr) return runtime;
  stack_start_slot_ = FindStackStartSlot();
  if (stack_start_slot_ == nullptr && profile.stack_start_cached) {
    runtime.reason = "V8's thread_local stack start was not found in the TLS block";
    return runtime;
  }
  stack_guard_ = FindStackGuard(isolate, &interrupt_pending_, &runtime.reason);
  if (stack_guard_ == nullptr) return runtime;
  if (profile.stack_size_per_isolate) {
    reapply_stack_limit_ = true;
    root_stack_limit_ = FindRootStackLimit(isolate, stack_guard_, &runtime.reason);
    if (root_stack_limit_ == 0) return runtime;
  }
  if (!scan_.Init(isolate, profile, &runtime.reason)) return runtime;
  tops_.root_start = scan_.root_start();

  Fiber* root = fibers_->root();
  root->v8.thread_id = *thread_id_slot_;
  by_thread_id_[root->v8.thread_id] = root;
  ChooseWay();
  context_.Reset(isolate, isolate->GetCurrentContext());
  entry_.Reset(isolate, entry);
  async_.Init(isolate);
  isolate->AddGCPrologueCallback(&V8State::GcPrologue, this);
  isolate->AddGCEpilogueCallback(&V8State::GcEpilogue, this);
  callbacks_installed_ = true;
  runtime.supported = true;
  return runtime;
}

// The direct way unless STACKFUL_SWITCH=locker asks otherwise or something it
// needs is missing or fails its proof.
void V8State::ChooseWay() {
  way_ = &kLockerWay;
  const char* choice = getenv("STACKFUL_SWITCH");
  std::string reason;
  if (choice != nullptr && strcmp(choice, "locker") == 0) {
    switch_reason_ = "STACKFUL_SWITCH=locker";
  } else if (root_stack_limit_ == 0 && (root_stack_limit_ = FindRootStackLimit(isolate_, stack_guard_, &reason)) == 0) {
    switch_reason_ = reason;
  } else {
    v8::HandleScope scope(isolate_);
    v8::Local<v8::Value> held = v8::Object::New(isolate_);  // a handle for the round-trip proof
    (void)held;
    if (!archive_.Init(isolate_, stack_guard_, *thread_id_slot_, &reason)) {
      switch_reason_ = reason;
    } else {
      way_ = &kDirectWay;
      tops_.block_room = archive_.blocks_on_stacks() ? kBlockOnStack : 0;
      fast_limit_ = FindStackLimitWords(isolate_, stack_guard_, root_stack_limit_, &limit_words_);
    }
  }
  // The direct way's list of archived threads was proven with the archive;
  // the locker way's is proven later, once fibers are parked in it.
  young_.Start(isolate_, way_ == &kDirectWay ? archive_.in_use_anchor() : nullptr, way_->fiber_of_state, this);
}

SwitchStats V8State::switch_stats() const {
  const bool direct = way_ == &kDirectWay;
  SwitchStats s;
  s.path = way_->name;
  s.reason = switch_reason_.c_str();
  s.stack_limit_by_hand = fast_limit_;
  s.handle_scopes_by_hand = direct && archive_.copies_handle_scopes();
  s.top_by_hand = direct && archive_.copies_top();
  s.blocks_on_stacks = direct && archive_.blocks_on_stacks();
  return s;
}

void V8State::Shutdown() {
  // V8 deletes what is left in its list of archived threads with the isolate;
  // the archives of abandoned fibers are ours, and so is what V8 allocated
  // for their handle scopes (a suspended fiber's scopes never close): freed
  // here, while V8 is usable (test/crash/worker-only.js counts RSS over 100
  // workers that each leave 5,000 fibers suspended). The root's, when it is
  // suspended, is the thread's own: V8 frees it.
  young_.Restore();
  way_->free_abandoned(*this);
  if (callbacks_installed_) {
    isolate_->RemoveGCPrologueCallback(&V8State::GcPrologue, this);
    isolate_->RemoveGCEpilogueCallback(&V8State::GcEpilogue, this);
    callbacks_installed_ = false;
  }
  scan_.Shutdown();
  context_.Reset();
  entry_.Reset();
  pending_exception_.Reset();
  async_.Shutdown();
}

// Runs after the isolate is gone (see binding.cc): nothing here may touch V8
// (every v8::Global member is empty since Shutdown()).
V8State::~V8State() = default;

// --- GC hooks --------------------------------------------------------------------

void V8State::GcPrologue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void* data) {
  V8State* self = static_cast<V8State*>(data);
  const bool scavenge = type == v8::kGCTypeScavenge;
  if (scavenge) self->async_.ParkForScavenge();
  self->young_.BeforeGc(scavenge);
  self->scan_.BeforeGc(type == v8::kGCTypeMarkSweepCompact);
}

void V8State::GcEpilogue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void* data) {
  V8State* self = static_cast<V8State*>(data);
  const bool scavenge = type == v8::kGCTypeScavenge;
  // The collection ran on the running fiber's stack, far below its JS frames:
  // those pages would stay with the fiber while it is parked (one page more
  // per fiber, measured: test/crash/stack-trim.js `gc`). Given back once it
  // has suspended (Scheduler::TrimParked).
  Fiber* running = self->fibers_->current();
  if (!running->is_root) running->gc_ran_here = true;
  if (scavenge) self->async_.UnparkAfterScavenge();
  self->young_.AfterGc(scavenge);
  self->scan_.AfterGc(type == v8::kGCTypeMarkSweepCompact);
}

}  // namespace stackful
