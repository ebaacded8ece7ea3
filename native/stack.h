// Fiber stacks: mmap'd, lazily committed, with a guard page below, pooled.
#ifndef STACKFUL_STACK_H_
#define STACKFUL_STACK_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace stackful {

struct Stack {
  char* mapping = nullptr;  // start of the mapping (the guard page)
  size_t mapped = 0;        // bytes mapped, guard included
  char* low = nullptr;      // lowest usable byte (just above the guard)
  char* high = nullptr;     // one past the highest usable byte: the stack grows down from here

  size_t size() const { return static_cast<size_t>(high - low); }
  explicit operator bool() const { return mapping != nullptr; }
};

// Size policy: the usable size is rounded up to whole pages.
constexpr size_t kDefaultStackSize = 1024 * 1024;
constexpr size_t kMinStackSize = 256 * 1024;
constexpr size_t kMaxStackSize = size_t{1} << 30;
// V8's stack limit sits this far above the guard page: native code (V8's
// runtime, the GC, Node's bindings) keeps running below the JS limit.
constexpr size_t kStackReserve = 128 * 1024;

// Keeps released stacks of any size for reuse, up to a fixed count, so that a
// create/finish loop does not pay for mmap/munmap. Reused stacks keep the pages
// they touched: the pool is small on purpose.
class StackPool {
 public:
  static constexpr size_t kMaxPooled = 32;

  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();

  // Returns an empty Stack when the kernel refuses the mapping.
  Stack Acquire(size_t size);
  void Release(Stack stack);

  size_t bytes_reserved() const { return bytes_reserved_; }  // pooled and in use
  size_t bytes_pooled() const { return bytes_pooled_; }

  static size_t RoundToPages(size_t size);
  static void Unmap(Stack& stack);

 private:
  std::vector<Stack> free_;
  size_t bytes_reserved_ = 0;
  size_t bytes_pooled_ = 0;
};

}  // namespace stackful

#endif  // STACKFUL_STACK_H_
