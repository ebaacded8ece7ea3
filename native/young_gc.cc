#include "young_gc.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "elf_symbols.h"
#include "thread_archive.h"

namespace stackful {

// Every GC visits the frames and handles of every archived V8 thread, that is
// of every suspended fiber: V8 keeps them in one list, ThreadManager's
// "in use" list, and walks it from Heap::IterateRoots. For a scavenge that is
// most of the pause once thousands of fibers are parked (a few microseconds a
// fiber, 20 frames deep).
//
// A parked fiber's frames and handles cannot change while it is parked. After
// it has been visited by kCleanAfter scavenges, every young object they
// referenced has been promoted (a scavenge copies a survivor once, within the
// young generation, and promotes it the next time: V8's age mark), and old
// objects never move in a scavenge. Such a fiber is "clean": a scavenge has
// nothing to find or to update in it. So, for the length of a scavenge only
// (between our prologue and epilogue callbacks), clean fibers are taken out of
// V8's list. Full GCs, and everything else that walks archived threads (the
// deoptimizer, the debugger, heap snapshots), always see all of them.
//
// A fiber's state is linked at the head of the list when it is archived (the
// direct switch does it as the fiber suspends; V8, on the locker switch, when
// the next fiber takes the lock after it suspended): the list runs from
// the most recently suspended to the longest parked. The clean fibers are thus
// one run at its tail. The prologue walks from the head past the fibers that
// suspended recently and unlinks the rest in O(1); the epilogue puts the run
// back. The cost of a scavenge no longer grows with the number of parked
// fibers, only with how many suspended since the last few scavenges.
//
// The list's layout is ArchivedThread's (v8_lines.h). With the direct
// switch, its entries are ours and it was proven at load. With the locker
// switch, it is proven against our own record of which fibers are suspended,
// in which order, before the first skip (ProbeThreadList). Where
// any proof fails, scavenges keep visiting every fiber ("visit-all"), and
// stats().youngGc says so and why. STACKFUL_YOUNG_GC=visit-all forces that
// path (to compare); STACKFUL_VERIFY_GC=1 checks every skipped fiber at every
// scavenge and aborts with a message if one was not clean.
//
// Only scavenges skip, and only scavenges count: V8's minor mark-sweep
// (--minor-ms) does not move young objects out, so after it they may still be
// young; with it, nothing is ever skipped.

namespace {

constexpr uint64_t kCleanAfter = 3;  // scavenges a parked fiber must have been visited by
constexpr size_t kProbeAfterSuspended = 64;  // the list is probed once this many fibers are parked

bool SkipDisabledByEnv() {
  const char* path = getenv("STACKFUL_YOUNG_GC");
  return path != nullptr && strcmp(path, "visit-all") == 0;
}

}  // namespace

void YoungGc::Start(v8::Isolate* isolate, ArchivedThread* anchor, FiberOfStateFn fiber_of, const void* owner) {
  isolate_ = isolate;
  in_use_anchor_ = anchor;
  list_proven_ = anchor != nullptr;
  fiber_of_ = fiber_of;
  owner_ = owner;
}

// Locker switch: finds V8's list of archived threads and proves that it holds
// exactly the suspended fibers, most recently suspended first.
bool YoungGc::ProbeThreadList() {
  in_use_anchor_ = FindInUseAnchor(isolate_);
  if (in_use_anchor_ == nullptr) {
    skip_reason_ = "V8's list of archived threads (ThreadManager) was not found in the isolate";
    return false;
  }
  size_t suspended = 0;
  fibers_->ForEachSuspended([&](Fiber*) { ++suspended; });
  size_t listed = 0;
  uint64_t newest = UINT64_MAX;
  ArchivedThread* previous = in_use_anchor_;
  constexpr size_t kStateSize = offsetof(ArchivedThread, magic);  // V8's part
  for (ArchivedThread* state = in_use_anchor_->next; state != in_use_anchor_; state = state->next) {
    ArchivedThread copy;
    if (state == nullptr || !SafeRead(state, &copy, kStateSize) || copy.previous != previous ||
        copy.manager != in_use_anchor_->manager) {
      skip_reason_ = "V8's list of archived threads does not have the expected layout";
      return false;
    }
    Fiber* fiber = FiberOf(state);
    if (fiber == nullptr || fiber->state != FiberState::kSuspended) {
      skip_reason_ = "V8's list of archived threads holds a thread that is not a suspended fiber";
      return false;
    }
    if (fiber->v8.parked_at > newest) {
      skip_reason_ = "V8's list of archived threads is not in the order the fibers suspended";
      return false;
    }
    newest = fiber->v8.parked_at;
    previous = state;
    if (++listed > suspended) break;
  }
  if (listed != suspended || in_use_anchor_->previous != previous) {
    skip_reason_ = "V8's list of archived threads does not hold exactly the suspended fibers";
    return false;
  }
  return true;
}

void YoungGc::BeforeScavenge() {
  const uint64_t scavenge = scavenges_++;
  if (skip_path_ == SkipPath::kOff) return;
  if (skip_path_ == SkipPath::kPending) {
    if (SkipDisabledByEnv()) {
      skip_path_ = SkipPath::kOff;
      skip_reason_ = "STACKFUL_YOUNG_GC=visit-all";
      return;
    }
    if (!list_proven_) {
      if (fibers_->suspended_count() < kProbeAfterSuspended) return;
      if (!ProbeThreadList()) {
        skip_path_ = SkipPath::kOff;
        return;
      }
    }
    skip_path_ = SkipPath::kOn;
    const char* verify = getenv("STACKFUL_VERIFY_GC");
    verify_skip_ = verify != nullptr && strcmp(verify, "1") == 0;
  }
  // Past the fibers that suspended since the last few scavenges...
  ArchivedThread* state = in_use_anchor_->next;
  for (; state != in_use_anchor_; state = state->next) {
    Fiber* fiber = FiberOf(state);
    if (fiber != nullptr && scavenge - fiber->v8.parked_at >= kCleanAfter) break;
  }
  if (state == in_use_anchor_) return;
  // ...every one is clean: take the run [state, tail] out of the list.
  skipped_first_ = state;
  skipped_last_ = in_use_anchor_->previous;
  ArchivedThread* before = state->previous;
  before->next = in_use_anchor_;
  in_use_anchor_->previous = before;
  skipping_scavenges_++;
  if (verify_skip_) VerifySkipped(scavenge);
}

void YoungGc::Restore() {
  if (skipped_first_ == nullptr) return;
  ArchivedThread* tail = in_use_anchor_->previous;
  tail->next = skipped_first_;
  skipped_first_->previous = tail;
  skipped_last_->next = in_use_anchor_;
  in_use_anchor_->previous = skipped_last_;
  skipped_first_ = skipped_last_ = nullptr;
}

void YoungGc::VerifySkipped(uint64_t scavenge) const {
  for (ArchivedThread* state = skipped_first_;; state = state->next) {
    Fiber* fiber = FiberOf(state);
    if (fiber == nullptr || fiber->state != FiberState::kSuspended || scavenge - fiber->v8.parked_at < kCleanAfter) {
      fprintf(stderr, "stackful: STACKFUL_VERIFY_GC: scavenge %llu skipped V8 thread %d, which is not a clean parked fiber\n",
              static_cast<unsigned long long>(scavenge), state->id);
      abort();
    }
    if (state == skipped_last_) break;
  }
}

YoungGcStats YoungGc::stats() const {
  YoungGcStats s;
  s.path = skip_path_ == SkipPath::kOn ? "skip-clean" : skip_path_ == SkipPath::kOff ? "visit-all" : "pending";
  s.reason = skip_reason_;
  s.scavenges = scavenges_;
  s.skipping = skipping_scavenges_;
  return s;
}

}  // namespace stackful
