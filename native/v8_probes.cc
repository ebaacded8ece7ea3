#include "v8_probes.h"

#include <vector>

#include "elf_symbols.h"

namespace stackful {
namespace {

void NoopInterrupt(v8::Isolate*, void*) {}

}  // namespace

// Returns the address of V8's thread_local thread id on this thread.
int32_t* FindThreadIdSlot(v8::Isolate* isolate, std::string* reason) {
  const int id = v8i.get_current_thread_id();
  char* base;
  size_t size;
  if (!TlsBlockOf(reinterpret_cast<const void*>(v8i.try_get_current), &base, &size)) {
    *reason = "the module that defines v8::internal::ThreadId has no TLS block on this thread";
    return nullptr;
  }
  int32_t* found = nullptr;
  for (size_t off = 0; off + sizeof(int32_t) <= size; off += sizeof(int32_t)) {
    int32_t* slot = reinterpret_cast<int32_t*>(base + off);
    if (*slot != id) continue;
    // Proof: V8 reads its id from here, and its lock follows the id.
    const int32_t probe = id + 0x51ac;
    *slot = probe;
    const bool reads_it = v8i.try_get_current() == probe;
    const bool lock_follows = !v8::Locker::IsLocked(isolate);
    *slot = id;
    if (reads_it && lock_follows && v8::Locker::IsLocked(isolate)) {
      if (found != nullptr) {
        *reason = "more than one TLS word behaves like V8's thread id";
        return nullptr;
      }
      found = slot;
    }
  }
  if (found == nullptr) *reason = "V8's thread_local thread id was not found in the TLS block";
  return found;
}

// Returns the address of V8's cached stack start on this thread, or nullptr
// where V8 does not cache it.
const void** FindStackStartSlot() {
  const void* start = v8i.get_stack_start();
  char* base;
  size_t size;
  if (!TlsBlockOf(reinterpret_cast<const void*>(v8i.try_get_current), &base, &size)) return nullptr;
  for (size_t off = 0; off + sizeof(void*) <= size; off += sizeof(void*)) {
    const void** slot = reinterpret_cast<const void**>(base + off);
    if (*slot != start) continue;
    // Proof: GetStackStart() returns what we put here.
    const void* probe = static_cast<const char*>(start) - 0x1000;
    *slot = probe;
    const bool reads_it = v8i.get_stack_start() == probe;
    *slot = start;
    if (reads_it) return slot;
  }
  return nullptr;
}


// Also finds a word of the StackGuard that is zero exactly while no interrupt
// waits (the interrupt flags): it lets a switch skip the StackGuard's lock.
void* FindStackGuard(v8::Isolate* isolate, int** pending, std::string* reason) {
  // StackGuard starts with a back pointer to its isolate and lives near the
  // start of the isolate (in IsolateData, so generated code can reach it).
  constexpr size_t kWindow = 4096;
  std::vector<uintptr_t> words(kWindow / sizeof(uintptr_t));
  if (!SafeRead(isolate, words.data(), kWindow)) {
    *reason = "could not read the isolate";
    return nullptr;
  }
  const uintptr_t self = reinterpret_cast<uintptr_t>(isolate);
  bool unproven = false;
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i] != self) continue;
    void* candidate = reinterpret_cast<char*>(isolate) + i * sizeof(uintptr_t);
    // Proof: an interrupt requested through the public API shows up in it.
    constexpr size_t kGuardWords = 16;
    uint32_t idle[kGuardWords * 2], waiting[kGuardWords * 2], cleared[kGuardWords * 2];
    int flags = TakeAllInterrupts(candidate);
    const bool read_idle = SafeRead(candidate, idle, sizeof(idle));
    isolate->RequestInterrupt(&NoopInterrupt, nullptr);
    const bool read_waiting = SafeRead(candidate, waiting, sizeof(waiting));
    const int taken = TakeAllInterrupts(candidate);
    const bool read_cleared = SafeRead(candidate, cleared, sizeof(cleared));
    RequestInterrupts(candidate, flags | taken);
    if (taken == 0) {
      unproven = true;  // a look-alike, or V8 changed: try the next candidate
      continue;
    }
    // The pending word: zero with nothing pending, exactly the taken flags
    // with one interrupt pending, zero again once taken.
    *pending = nullptr;
    if (read_idle && read_waiting && read_cleared) {
      for (size_t w = 2; w < kGuardWords * 2; ++w) {
        if (idle[w] == 0 && waiting[w] == static_cast<uint32_t>(taken) && cleared[w] == 0) {
          *pending = reinterpret_cast<int*>(static_cast<char*>(candidate) + w * sizeof(uint32_t));
          break;
        }
      }
    }
    return candidate;
  }
  *reason = unproven ? "no candidate for the isolate's StackGuard showed a requested interrupt"
                     : "the isolate's StackGuard was not found (no word of the isolate's first page points back to it)";
  return nullptr;
}

// The running thread's JS stack limit, read from the StackGuard: the word
// that SetStackLimit() writes. The limit is set back to what it was.
uintptr_t FindRootStackLimit(v8::Isolate* isolate, void* stack_guard, std::string* reason) {
  constexpr size_t kWords = 8;
  uintptr_t before[kWords], after[kWords];
  if (!SafeRead(stack_guard, before, sizeof(before))) {
    *reason = "could not read the StackGuard";
    return 0;
  }
  const uintptr_t here = reinterpret_cast<uintptr_t>(&before);
  const char* failed = nullptr;  // why the last candidate failed its proof
  for (size_t i = 1; i < kWords; ++i) {
    const uintptr_t limit = before[i];
    // A stack limit lies below us, within the usual size of a thread's stack.
    if (limit >= here || here - limit > (size_t{64} << 20)) continue;
    const uintptr_t probe = limit - 0x1000;
    isolate->SetStackLimit(probe);
    const bool moved = SafeRead(stack_guard, after, sizeof(after)) && after[i] == probe;
    isolate->SetStackLimit(limit);
    const bool restored = SafeRead(stack_guard, after, sizeof(after)) && after[i] == limit;
    if (moved && restored) return limit;
    failed = !moved ? "did not take the limit Isolate::SetStackLimit() set" : "did not take back the limit it had";
  }
  *reason = failed == nullptr ? "the thread's JS stack limit was not found in the StackGuard (no word of it lies within 64 MiB below the running frame)"
                              : std::string("the StackGuard word that looked like the thread's JS stack limit ") + failed;
  return 0;
}

// The words Isolate::SetStackLimit() writes, so that a switch can set them
// without the StackGuard's lock (a third of a switch on Node 24): the real
// limits it always sets, the limits JS code checks, which it leaves alone
// while an interrupt is pending (they then hold V8's interrupt marker), and on
// 13.x and later the isolate's stack size (stack start - limit). Found by
// setting two limits and requesting an interrupt, and watching which words
// follow; the root's limit is set back after.
bool FindStackLimitWords(v8::Isolate* isolate, void* stack_guard, uintptr_t limit, StackLimitWords* out) {
  constexpr size_t kWords = 8;
  const uintptr_t a = limit - 0x1000, b = limit - 0x2000;
  const uintptr_t start = reinterpret_cast<uintptr_t>(v8i.get_stack_start());
  uintptr_t at_a[kWords], at_b[kWords], waiting[kWords];
  std::vector<uintptr_t> isolate_a, isolate_b;
  auto snapshot = [&](uintptr_t* guard, std::vector<uintptr_t>* whole) {
    bool ok = SafeRead(stack_guard, guard, kWords * sizeof(uintptr_t));
    if (whole != nullptr) *whole = CopyIsolate(isolate);
    return ok;
  };
  // Interrupts already pending are taken for the length of the probe, and
  // requested again after it.
  int flags = TakeAllInterrupts(stack_guard);
  isolate->SetStackLimit(a);
  bool read = snapshot(at_a, &isolate_a);
  isolate->SetStackLimit(b);
  read = snapshot(at_b, &isolate_b) && read;
  isolate->RequestInterrupt(&NoopInterrupt, nullptr);
  read = snapshot(waiting, nullptr) && read;
  flags |= TakeAllInterrupts(stack_guard);
  RequestInterrupts(stack_guard, flags);  // the no-op one included: harmless
  isolate->SetStackLimit(limit);
  if (!read) return false;
  StackLimitWords found;
  for (size_t i = 1; i < kWords; ++i) {
    if (at_a[i] != a || at_b[i] != b) continue;
    uintptr_t* word = static_cast<uintptr_t*>(stack_guard) + i;
    if (waiting[i] == b) {
      if (found.reals == 2) return false;
      found.real[found.reals++] = word;
    } else {
      if (found.checked == 2) return false;
      found.checked_by_js[found.checked++] = word;
    }
  }
  if (found.reals == 0 || found.checked == 0) return false;
  for (size_t i = 0; i < isolate_a.size(); ++i) {
    if (isolate_a[i] != start - a || isolate_b[i] != start - b) continue;
    if (found.stack_size != nullptr) return false;
    found.stack_size = reinterpret_cast<uintptr_t*>(isolate) + i;
  }
  *out = found;
  return true;
}

}  // namespace stackful
