// Fiber stacks: mmap'd, lazily committed, with a guard page below each, pooled.
#ifndef STACKFUL_STACK_H_
#define STACKFUL_STACK_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace stackful {

struct Stack {
  char* low = nullptr;   // lowest usable byte (just above the guard page)
  char* high = nullptr;  // one past the highest usable byte: the stack grows down from here
  bool unchecked = false;  // in the pool: released unasked how deep it went (see StackPool)

  size_t size() const { return static_cast<size_t>(high - low); }
  explicit operator bool() const { return low != nullptr; }
};

// Size policy: the usable size is rounded up to whole pages.
constexpr size_t kDefaultStackSize = 1024 * 1024;
constexpr size_t kMinStackSize = 256 * 1024;
constexpr size_t kMaxStackSize = size_t{1} << 30;
// V8's stack limit sits this far above the guard page: native code (V8's
// runtime, the GC, Node's bindings) keeps running below the JS limit.
constexpr size_t kStackReserve = 128 * 1024;

// Hands out stacks carved from large slabs (one mapping holds many stacks), so
// that a hundred thousand fibers do not need two hundred thousand mappings
// (vm.max_map_count is 65530 by default). Where the kernel has guard regions
// (MADV_GUARD_INSTALL, Linux 6.13+), a guard page does not split the mapping;
// elsewhere it falls back to mprotect(), one mapping per guard.
//
// Released stacks are reused, most recently used first. Up to kWarm keep
// their pages; up to kWarmShallow more do too if they never grew past their
// top kShallowBytes (one system call tells: move_pages(), else mincore());
// the rest give their pages back to the kernel (MADV_DONTNEED), so memory
// follows the number of live fibers, not the peak, while a burst of
// short-lived fibers does not pay a syscall and fresh page faults for each.
// A stack released with `check` (its fiber
// suspended mid-way, so it could have been parked deep or recursed deep and
// been killed) that grew past its top kShallowBytes keeps only those: the
// pages below go back even when it stays warm (test/crash/stack-trim.js).
// When the kernel refuses a new slab, slabs whose stacks are all released
// are unmapped and the mapping is tried once more.
//
// A stack whose fiber never suspended mid-way (the common short-lived one) is
// not asked about its depth when it is released: the kWarm most recently
// released stacks may be unasked, and a stack is asked (and trimmed if it
// grew) only when kWarm newer ones push it out of that window. So a fiber
// spawned and finished one at a time after a burst reuses the same stack
// without a system call (mincore() cost 0.85 us here, move_pages() 0.6: more
// than the rest of a spawn() + join()), and memory stays bounded as before.
class StackPool {
 public:
  static constexpr size_t kWarm = 32;             // released stacks kept with their pages
  static constexpr size_t kWarmShallow = 1024;    // ... and more, if they stayed shallow
  static constexpr size_t kShallowBytes = 64 << 10;
  static constexpr size_t kSlabBytes = 64 << 20;  // address space per slab

  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();  // unmaps every slab: only once nothing runs on or scans them

  // Returns an empty Stack when the kernel refuses the mapping.
  Stack Acquire(size_t size);
  void Release(Stack stack, bool check);

  size_t bytes_reserved() const { return bytes_reserved_; }  // address space of all slabs
  size_t bytes_pooled() const;                                // of released stacks

  // "region" when guard pages are guard regions (no extra mapping each),
  // "mprotect" when each costs a mapping of its own, "" before the first stack.
  static const char* guard_kind();

  // Gives back the pages of `stack` wholly below `sp`, the saved stack
  // pointer of its parked fiber: they hold only dead frames.
  static void TrimBelow(const Stack& stack, char* sp);

  static size_t RoundToPages(size_t size);
  static size_t PageSize();

 private:
  struct Slab {
    char* base;
    size_t bytes;
    size_t stack_size;  // usable size of each stack
    size_t next;        // next uncarved stack
    size_t count;       // stacks in the slab
  };
  Stack Carve(Slab& slab);
  // Unmaps every slab whose stacks are all released (the address space of
  // fibers that are gone), so a new size can be mapped; whether any was.
  bool UnmapIdleSlabs();
  static bool Shallow(const Stack& stack);
  // Asks `stack` how deep it went, if nobody has, and trims it if it grew.
  static void Check(Stack& stack);
  bool Guard(char* page);

  std::vector<Slab> slabs_;
  std::vector<Stack> warm_;  // released, pages still committed
  std::vector<Stack> cold_;  // released, pages given back
  size_t bytes_reserved_ = 0;
};

}  // namespace stackful

#endif  // STACKFUL_STACK_H_
