// cppgc's conservative stack scan, kept right for fiber stacks. cppgc (Node's
// CppHeap) scans the running stack from the stack pointer to the thread's
// stack start: on a fiber that start must be the fiber's own, and the
// suspended stacks must be scanned too, since objects may be referenced only
// from there. On 11.3 and 12.4 suspended stacks are handed over as
// AddStackSegment() segments; on 13.x+ our callback replaces the Stack's scan
// callback and visits them (v8_lines.h: SuspendedScan).
#ifndef STACKFUL_STACK_SCAN_H_
#define STACKFUL_STACK_SCAN_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fiber.h"
#include "v8_lines.h"

namespace stackful {

// Where each fiber's stack starts, as V8 and cppgc see it.
struct StackTops {
  const void* root_start = nullptr;  // the thread's own stack start, as cppgc knew it at load
  size_t block_room = 0;             // kBlockOnStack when a fiber's first handle block tops its stack

  // Where V8 considers the stack to start.
  const void* Top(const Fiber* f) const { return f->is_root ? root_start : f->stack.high; }
  // A new fiber's first handle block, or nullptr when V8 allocates it.
  void* Block(const Fiber* f) const { return block_room != 0 ? f->stack.high - block_room : nullptr; }
  // Where a new fiber's stack starts: below that block, else at the top.
  void* EntryTop(const Fiber* f) const { return f->stack.high - block_room; }
  // Where a conservative scan of a suspended stack ends: below a fiber's
  // handle block, which holds only tagged values (V8 visits them precisely)
  // and whose pages a fiber that held few handles never touched (reading them
  // would fault them in, 10,000 fibers at a time).
  const void* ScanTop(const Fiber* f) const { return f->is_root ? root_start : EntryTop(f); }
};

class StackScan {
 public:
  StackScan(LiveFibers* fibers, const StackTops* tops) : fibers_(fibers), tops_(tops) {}
  StackScan(const StackScan&) = delete;
  StackScan& operator=(const StackScan&) = delete;

  // Finds the Stack cppgc scans for this isolate and proves, as `profile`
  // says, how suspended stacks join its scan. True when the isolate has no
  // CppHeap (nothing to do); false, with `reason`, when a proof fails.
  bool Init(v8::Isolate* isolate, const Profile& profile, std::string* reason);
  // The thread's stack start cppgc knew at load (nullptr without a CppHeap).
  const void* root_start() const { return root_start_; }

  // `running` is now the running fiber: the scan starts at its top.
  void Enter(const Fiber* running) {
    if (stack_ != nullptr) *static_cast<const void**>(stack_) = tops_->Top(running);
  }
  // GC hooks: the running stack and every suspended one are scanned, nothing else.
  void BeforeGc(bool full);
  void AfterGc(bool full);
  // The isolate is going away: V8's scan callback is put back.
  void Shutdown();

 private:
  static void ScanSuspendedStacks(void* visitor);
  void CollectScanWords();

  LiveFibers* fibers_;
  const StackTops* tops_;
  void* stack_ = nullptr;                // heap::base::Stack* of cppgc's conservative scan
  const void* root_start_ = nullptr;
  void** callback_slot_ = nullptr;       // its scan callback, replaced by ours (13.x+)
  int visit_pointer_slot_ = -1;
  bool use_segments_ = false;            // suspended stacks as AddStackSegment() segments
  int scan_whole_ = -1;                  // STACKFUL_SCAN=whole: suspended stacks scanned whole, unfiltered (-1: unread)
  std::vector<uintptr_t> scan_words_;    // else what a full GC scans of them: see CollectScanWords()
};

}  // namespace stackful

#endif  // STACKFUL_STACK_SCAN_H_
