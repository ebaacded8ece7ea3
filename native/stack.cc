#include "stack.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "elf_symbols.h"

namespace stackful {

namespace {

// Linux 6.13+: a guard region that faults like PROT_NONE without splitting the
// mapping (include/uapi/asm-generic/mman-common.h).
constexpr int kMadvGuardInstall = 102;

enum class GuardKind { kUnknown, kRegion, kProtect };
std::atomic<GuardKind> process_guard_kind{GuardKind::kUnknown};  // the same for every thread

// Whether move_pages() answers here; once it has refused, mincore() asks.
std::atomic<bool> move_pages_refused{false};

// Whether the page at `page` may be resident, asked without faulting it in.
// move_pages() with no target nodes only reports where each page is: its
// node, -ENOENT when nothing is mapped there. It costs about 600 ns here
// against mincore()'s 900 (which takes a kernel page for its answer on every
// call). Anything but -ENOENT (the shared zero page answers -EFAULT) counts
// as resident, so a doubt trims rather than keeps. A kernel without NUMA
// (ENOSYS) or a seccomp filter that refuses it (EPERM: Docker's default
// profile without CAP_SYS_NICE) leaves mincore(), asked from then on.
bool MayBeResident(char* page, size_t page_size) {
#ifdef SYS_move_pages
  if (!move_pages_refused.load(std::memory_order_relaxed)) {
    void* pages[1] = {page};
    int status = 0;
    if (syscall(SYS_move_pages, 0, 1, pages, nullptr, &status, 0) == 0) return status != -ENOENT;
    move_pages_refused.store(true, std::memory_order_relaxed);
  }
#endif
  unsigned char resident = 0;
  return mincore(page, page_size, &resident) != 0 || (resident & 1) != 0;
}

// Takes the stack of that size used most recently (LIFO: its pages are warm),
// keeping the order of the others (the window of unchecked warm stacks is
// the top of the list).
bool TakeSized(std::vector<Stack>& list, size_t size, Stack* out) {
  for (size_t i = list.size(); i-- > 0;) {
    if (list[i].size() != size) continue;
    *out = list[i];
    out->unchecked = false;
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
    return true;
  }
  return false;
}

}  // namespace

size_t StackPool::PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t StackPool::RoundToPages(size_t size) {
  const size_t page = PageSize();
  return (size + page - 1) / page * page;
}

const char* StackPool::guard_kind() {
  switch (process_guard_kind.load(std::memory_order_relaxed)) {
    case GuardKind::kRegion: return "region";
    case GuardKind::kProtect: return "mprotect";
    case GuardKind::kUnknown: break;
  }
  return "";
}

StackPool::~StackPool() {
  for (Slab& slab : slabs_) munmap(slab.base, slab.bytes);
}

size_t StackPool::bytes_pooled() const {
  size_t bytes = 0;
  for (const Stack& s : warm_) bytes += s.size() + PageSize();
  for (const Stack& s : cold_) bytes += s.size() + PageSize();
  return bytes;
}

bool StackPool::Guard(char* page) {
  if (process_guard_kind.load(std::memory_order_relaxed) != GuardKind::kProtect) {
    if (madvise(page, PageSize(), kMadvGuardInstall) == 0) {
      // Proven once, on the first guard: the page must now be unreadable.
      // qemu-user accepts advice it does not know and ignores it.
      char byte;
      if (process_guard_kind.load(std::memory_order_relaxed) == GuardKind::kUnknown && SafeRead(page, &byte, 1)) {
        process_guard_kind.store(GuardKind::kProtect, std::memory_order_relaxed);
        return mprotect(page, PageSize(), PROT_NONE) == 0;
      }
      process_guard_kind.store(GuardKind::kRegion, std::memory_order_relaxed);
      return true;
    }
    if (process_guard_kind.load(std::memory_order_relaxed) == GuardKind::kRegion) return false;  // supported, yet it failed
    process_guard_kind.store(GuardKind::kProtect, std::memory_order_relaxed);  // an older kernel
  }
  return mprotect(page, PageSize(), PROT_NONE) == 0;
}

Stack StackPool::Carve(Slab& slab) {
  const size_t stride = slab.stack_size + PageSize();
  char* region = slab.base + slab.next * stride;
  slab.next++;
  if (!Guard(region)) return Stack();
  Stack stack;
  stack.low = region + PageSize();
  stack.high = region + stride;
  return stack;
}

Stack StackPool::Acquire(size_t size) {
  size = RoundToPages(size);
  Stack stack;
  // Taking a stack (or unmapping idle slabs) never moves one out of the
  // window: only a release, pushing a newer one on top, does.
  if (TakeSized(warm_, size, &stack) || TakeSized(cold_, size, &stack)) return stack;
  // Newest first: a slab that ran out never gets room again (released stacks
  // go to the lists above), so the one with room is at the end, and parking a
  // million fibers does not scan sixteen thousand full slabs for each.
  for (size_t i = slabs_.size(); i-- > 0;) {
    Slab& slab = slabs_[i];
    if (slab.stack_size == size && slab.next < slab.count) return Carve(slab);
  }
  // A new slab: address space only, committed page by page on first touch.
  const size_t stride = size + PageSize();
  const size_t count = stride >= kSlabBytes ? 1 : kSlabBytes / stride;
  const size_t bytes = count * stride;
  auto map = [bytes] {
    return mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  };
  void* base = map();
  if (base == MAP_FAILED && UnmapIdleSlabs()) base = map();
  if (base == MAP_FAILED) return Stack();
  // Asked once now, so that a sandbox that kills on an unlisted system call
  // (a seccomp filter with SIGSYS) does so as the first fiber starts, not
  // when some fiber finishes much later.
  static const bool asked = MayBeResident(static_cast<char*>(base), PageSize());
  (void)asked;
  slabs_.push_back(Slab{static_cast<char*>(base), bytes, size, 0, count});
  bytes_reserved_ += bytes;
  return Carve(slabs_.back());
}

void StackPool::TrimBelow(const Stack& stack, char* sp) {
  if (sp <= stack.low || sp > stack.high) return;  // not on this stack
  const uintptr_t page = PageSize();
  char* end = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(sp) & ~(page - 1));
  if (end > stack.low) madvise(stack.low, end - stack.low, MADV_DONTNEED);
}

bool StackPool::UnmapIdleSlabs() {
  // Released stacks per slab, found by address (slabs sorted by base).
  std::vector<size_t> order(slabs_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return slabs_[a].base < slabs_[b].base; });
  std::vector<size_t> released(slabs_.size(), 0);
  auto slab_of = [&](const Stack& s) {
    auto it = std::upper_bound(order.begin(), order.end(), s.low, [&](char* p, size_t i) { return p < slabs_[i].base; });
    return *(it - 1);  // every released stack lies in some slab
  };
  for (const Stack& s : warm_) released[slab_of(s)]++;
  for (const Stack& s : cold_) released[slab_of(s)]++;
  std::vector<bool> idle(slabs_.size(), false);
  bool any = false;
  for (size_t i = 0; i < slabs_.size(); ++i) {
    idle[i] = slabs_[i].next > 0 && released[i] == slabs_[i].next;
    any = any || idle[i];
  }
  if (!any) return false;
  auto in_idle = [&](const Stack& s) { return idle[slab_of(s)]; };
  warm_.erase(std::remove_if(warm_.begin(), warm_.end(), in_idle), warm_.end());
  cold_.erase(std::remove_if(cold_.begin(), cold_.end(), in_idle), cold_.end());
  std::vector<Slab> kept;
  for (size_t i = 0; i < slabs_.size(); ++i) {
    if (!idle[i]) {
      kept.push_back(slabs_[i]);
      continue;
    }
    munmap(slabs_[i].base, slabs_[i].bytes);
    bytes_reserved_ -= slabs_[i].bytes;
  }
  slabs_.swap(kept);
  return true;
}

// Whether the stack never reached below its top kShallowBytes: the page just
// below them was never touched (asking does not fault it in).
bool StackPool::Shallow(const Stack& stack) {
  if (stack.size() <= kShallowBytes) return true;
  return !MayBeResident(stack.high - kShallowBytes - PageSize(), PageSize());
}

void StackPool::Check(Stack& stack) {
  if (!stack.unchecked) return;
  stack.unchecked = false;
  if (!Shallow(stack)) madvise(stack.low, stack.size() - kShallowBytes, MADV_DONTNEED);
}

void StackPool::Release(Stack stack, bool check) {
  if (!stack) return;
  if (warm_.size() < kWarm + kWarmShallow) {
    // Suspended mid-way: asked now (it could have been parked deep, or
    // recursed deep and been killed); else when it leaves the window.
    stack.unchecked = true;
    if (check) Check(stack);
    warm_.push_back(stack);
    if (warm_.size() > kWarm) Check(warm_[warm_.size() - 1 - kWarm]);
    return;
  }
  // Give the pages back; the address space stays ours for the next fiber.
  madvise(stack.low, stack.size(), MADV_DONTNEED);
  stack.unchecked = false;
  cold_.push_back(stack);
}

}  // namespace stackful
