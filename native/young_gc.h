// Scavenges and parked fibers: for the length of a scavenge, the fibers whose
// frames can hold no young object are taken out of V8's list of archived
// threads (the whole story is at the top of young_gc.cc).
#ifndef STACKFUL_YOUNG_GC_H_
#define STACKFUL_YOUNG_GC_H_

#include <cstdint>

#include "fiber.h"
#include "v8_lines.h"

namespace stackful {

// Whether scavenges skip the fibers whose frames can hold no young object.
struct YoungGcStats {
  const char* path = "";     // "skip-clean" | "visit-all" | "pending"
  const char* reason = "";   // why "visit-all", when it is not by choice
  uint64_t scavenges = 0;    // scavenges seen since the thread loaded stackful
  uint64_t skipping = 0;     // of those, how many left parked fibers out
};

// The fiber whose V8 state `state` is, or nullptr when it is none of ours
// (the switch in use knows: v8_state.cc).
using FiberOfStateFn = Fiber* (*)(const void* owner, const ArchivedThread* state);

class YoungGc {
 public:
  explicit YoungGc(LiveFibers* fibers) : fibers_(fibers) {}
  YoungGc(const YoungGc&) = delete;
  YoungGc& operator=(const YoungGc&) = delete;

  // Called once the switch is chosen. With `anchor` (the direct switch: the
  // list was proven at load), skipping may start at once; without it, the list
  // is found and proven once enough fibers are parked.
  void Start(v8::Isolate* isolate, ArchivedThread* anchor, FiberOfStateFn fiber_of, const void* owner);
  // How many scavenges have begun: a fiber suspending now is stamped with it.
  uint64_t scavenges() const { return scavenges_; }
  // GC hooks. Whatever a GC is, it starts with every parked fiber in V8's
  // list, even if the epilogue of the last scavenge never came.
  void BeforeGc(bool scavenge) {
    if (skipped_first_ != nullptr) Restore();
    if (scavenge) BeforeScavenge();
  }
  void AfterGc(bool scavenge) {
    if (scavenge) Restore();
  }
  // Puts the fibers taken out back into V8's list (the thread is going away).
  void Restore();
  YoungGcStats stats() const;

 private:
  void BeforeScavenge();
  bool ProbeThreadList();
  void VerifySkipped(uint64_t scavenge) const;
  Fiber* FiberOf(const ArchivedThread* state) const { return fiber_of_(owner_, state); }

  enum class SkipPath : uint8_t { kPending, kOn, kOff };
  LiveFibers* fibers_;
  v8::Isolate* isolate_ = nullptr;
  FiberOfStateFn fiber_of_ = nullptr;
  const void* owner_ = nullptr;
  bool list_proven_ = false;
  SkipPath skip_path_ = SkipPath::kPending;
  const char* skip_reason_ = "";
  bool verify_skip_ = false;               // STACKFUL_VERIFY_GC=1: check every skipped fiber
  uint64_t scavenges_ = 0;
  uint64_t skipping_scavenges_ = 0;
  ArchivedThread* in_use_anchor_ = nullptr;  // V8's list of archived threads
  ArchivedThread* skipped_first_ = nullptr;  // the run of that list taken out during a scavenge
  ArchivedThread* skipped_last_ = nullptr;
};

}  // namespace stackful

#endif  // STACKFUL_YOUNG_GC_H_
