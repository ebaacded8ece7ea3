#include "stack.h"

#include <sys/mman.h>
#include <unistd.h>

namespace stackful {

namespace {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace

size_t StackPool::RoundToPages(size_t size) {
  const size_t page = PageSize();
  return (size + page - 1) / page * page;
}

void StackPool::Unmap(Stack& stack) {
  if (stack.mapping != nullptr) munmap(stack.mapping, stack.mapped);
  stack = Stack();
}

StackPool::~StackPool() {
  for (Stack& stack : free_) Unmap(stack);
}

Stack StackPool::Acquire(size_t size) {
  size = RoundToPages(size);
  for (size_t i = free_.size(); i-- > 0;) {
    if (free_[i].size() != size) continue;
    Stack stack = free_[i];
    free_[i] = free_.back();
    free_.pop_back();
    bytes_pooled_ -= stack.mapped;
    return stack;
  }

  // Reserve address space only: pages are committed by the kernel on first touch.
  const size_t guard = PageSize();
  const size_t mapped = size + guard;
  void* mapping = mmap(nullptr, mapped, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) return Stack();
  char* base = static_cast<char*>(mapping);
  if (mprotect(base + guard, size, PROT_READ | PROT_WRITE) != 0) {
    munmap(mapping, mapped);
    return Stack();
  }
  Stack stack;
  stack.mapping = base;
  stack.mapped = mapped;
  stack.low = base + guard;
  stack.high = base + mapped;
  bytes_reserved_ += mapped;
  return stack;
}

void StackPool::Release(Stack stack) {
  if (!stack) return;
  if (free_.size() < kMaxPooled) {
    bytes_pooled_ += stack.mapped;
    free_.push_back(stack);
    return;
  }
  bytes_reserved_ -= stack.mapped;
  Unmap(stack);
}

}  // namespace stackful
