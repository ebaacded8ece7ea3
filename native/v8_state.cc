#include "v8_state.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <node.h>
#include <v8.h>

#include "elf_symbols.h"
#include "fiber.h"
#include "thread_archive.h"

namespace stackful {

// ---------------------------------------------------------------------------
// What stackful needs from V8 beyond its public API, and how each piece is
// found and validated at load time. Nothing here is an offset written down in
// advance: every address is located on the running binary and proven by its
// behaviour before it is used.
//
//   piece                      found by                           proven by
//   -------------------------  ---------------------------------  -----------------------------------
//   V8's thread_local id       scanning this thread's TLS block   poking it changes
//                              of the module that defines         ThreadId::TryGetCurrent() and
//                              ThreadId::TryGetCurrent()          v8::Locker::IsLocked()
//   V8's cached stack start    the same TLS block                 poking it changes
//   (thread_local, 12.x+)                                         v8::base::Stack::GetStackStart()
//   the isolate's StackGuard   the first word of the isolate      fetching an interrupt requested
//                              that points back at the isolate    through the public API
//   the root's stack limit     the StackGuard word that follows   it reads back what SetStackLimit()
//                              Isolate::SetStackLimit()           wrote, and is restored
//   cppgc's stack              CppHeap::stack() of the isolate's  a scan through it sees a marker in
//                              CppHeap                            our frame, and not past its start
//   suspended stacks for       AddStackSegment() (11.3, 12.4);    a scan sees a marker we register
//   cppgc's scan               the Stack's scan callback (13.x+,  that way, and no longer once it is
//                              the word holding V8's default)     withdrawn
//
// Symbols come from the dynamic symbol table of the Node binary, or from its
// full symbol table (.symtab) where Node no longer exports them (24 and later).
//
// What differs between V8 lines is kept in kProfiles below, and nowhere else.
// ---------------------------------------------------------------------------

namespace {

namespace sym {
using TryGetCurrentFn = int (*)();
using GetCurrentThreadIdFn = int (*)();
// V8 11.3 takes no argument; 12.x adds an InterruptLevel. The System V and
// AAPCS64 ABIs pass the first integer arguments in registers the callee may
// clobber, so a callee ignores an extra one: one type serves both (see kAnyEffect).
using FetchAndClearInterruptsFn = int (*)(void* stack_guard, int level);
using RequestInterruptFn = void (*)(void* stack_guard, int flag);
using GetStackStartFn = const void* (*)();
using AddStackSegmentFn = void (*)(void* stack, const void* start, const void* top);
using ClearStackSegmentsFn = void (*)(void* stack);
using IteratePointersFn = void (*)(void* stack, void* visitor);
using CppHeapStackFn = void* (*)(void* cpp_heap);

struct Table {
  TryGetCurrentFn try_get_current = nullptr;
  GetCurrentThreadIdFn get_current_thread_id = nullptr;
  FetchAndClearInterruptsFn fetch_and_clear_interrupts = nullptr;
  RequestInterruptFn request_interrupt = nullptr;
  GetStackStartFn get_stack_start = nullptr;
  AddStackSegmentFn add_stack_segment = nullptr;
  ClearStackSegmentsFn clear_stack_segments = nullptr;
  IteratePointersFn iterate_pointers = nullptr;  // only to prove the scan stack at load
  CppHeapStackFn cpp_heap_stack = nullptr;
  const void* cpp_heap_vtable = nullptr;  // to check what GetCppHeap() points into
  const void* default_scan_callback = nullptr;  // 13.x+: Isolate::IterateRegistersAndStackOfSimulator
};

Table table;

// Resolves every symbol it can; which ones are required depends on the
// profile (see RequiredMissing()).
void Resolve() {
  SymbolEntry entries[] = {
      {"v8::internal::ThreadId::TryGetCurrent()",
       {"_ZN2v88internal8ThreadId13TryGetCurrentEv"},
       reinterpret_cast<void**>(&table.try_get_current)},
      {"v8::internal::ThreadId::GetCurrentThreadId()",
       {"_ZN2v88internal8ThreadId18GetCurrentThreadIdEv"},
       reinterpret_cast<void**>(&table.get_current_thread_id)},
      {"v8::internal::StackGuard::FetchAndClearInterrupts()",
       {"_ZN2v88internal10StackGuard23FetchAndClearInterruptsEv",  // 11.3
        "_ZN2v88internal10StackGuard23FetchAndClearInterruptsENS1_14InterruptLevelE"},  // 12.x
       reinterpret_cast<void**>(&table.fetch_and_clear_interrupts)},
      {"v8::internal::StackGuard::RequestInterrupt(InterruptFlag)",
       {"_ZN2v88internal10StackGuard16RequestInterruptENS1_13InterruptFlagE"},
       reinterpret_cast<void**>(&table.request_interrupt)},
      {"v8::base::Stack::GetStackStart()", {"_ZN2v84base5Stack13GetStackStartEv"},
       reinterpret_cast<void**>(&table.get_stack_start)},
      {"heap::base::Stack::AddStackSegment(void const*, void const*)",
       {"_ZN4heap4base5Stack15AddStackSegmentEPKvS3_"},
       reinterpret_cast<void**>(&table.add_stack_segment)},
      {"heap::base::Stack::ClearStackSegments()",
       {"_ZN4heap4base5Stack18ClearStackSegmentsEv"},
       reinterpret_cast<void**>(&table.clear_stack_segments)},
      {"heap::base::Stack::IteratePointers(StackVisitor*)",
       {"_ZNK4heap4base5Stack15IteratePointersEPNS0_12StackVisitorE",  // 11.3
        "_ZN4heap4base5Stack25IteratePointersForTestingEPNS0_12StackVisitorE"},  // 12.x
       reinterpret_cast<void**>(&table.iterate_pointers)},
      {"v8::internal::CppHeap::stack()", {"_ZN2v88internal7CppHeap5stackEv"},
       reinterpret_cast<void**>(&table.cpp_heap_stack)},
      {"v8::internal::Isolate::IterateRegistersAndStackOfSimulator(StackVisitor*)",
       {"_ZN2v88internal7Isolate35IterateRegistersAndStackOfSimulatorEPN4heap4base12StackVisitorE"},
       const_cast<void**>(&table.default_scan_callback)},
      {"vtable for v8::internal::CppHeap", {"_ZTVN2v88internal7CppHeapE"},
       const_cast<void**>(&table.cpp_heap_vtable)},
  };
  ResolveSymbols(entries, sizeof(entries) / sizeof(entries[0]));
}

}  // namespace sym

// --- what differs between V8 lines -----------------------------------------

// How cppgc's conservative scan is made to see suspended stacks.
enum class SuspendedScan {
  kSegments,  // heap::base::Stack::AddStackSegment() before each full GC
  kCallback,  // the Stack's scan callback (simulator hook), replaced by ours
};

struct Profile {
  const char* line;              // V8 major.minor
  const char* node;              // the Node line that ships it
  SuspendedScan suspended_scan;
  bool stack_start_cached;       // V8 caches the thread's stack start in a thread_local
  bool stack_size_per_isolate;   // SetStackLimit() also sets a per-isolate stack size that
                                 // V8 checks ("central stack") and that is not archived per thread
  int visit_pointer_slot;        // vtable index of StackVisitor::VisitPointer (kCallback only)
};

constexpr Profile kProfiles[] = {
    {"11.3", "Node 20", SuspendedScan::kSegments, false, false, -1},
    {"12.4", "Node 22", SuspendedScan::kSegments, true, false, -1},
    // StackVisitor gained a virtual destructor: VisitPointer follows its two entries.
    {"13.6", "Node 24", SuspendedScan::kCallback, true, true, 2},
    {"14.6", "Node 26", SuspendedScan::kCallback, true, true, 2},
};

// The profile of this V8 line; an unknown line (let through by the documented
// override) gets the newest profile, and the probes below still decide.
const Profile& ProfileFor(const char* version) {
  for (const Profile& p : kProfiles) {
    const size_t n = strlen(p.line);
    if (strncmp(version, p.line, n) == 0 && version[n] == '.') return p;
  }
  return kProfiles[sizeof(kProfiles) / sizeof(kProfiles[0]) - 1];
}

// The first internal this profile needs and this binary lacks, or nullptr.
const char* MissingSymbol(const Profile& profile) {
  const sym::Table& t = sym::table;
  struct Need {
    bool present;
    bool needed;
    const char* readable;
  } needs[] = {
      {t.try_get_current != nullptr, true, "v8::internal::ThreadId::TryGetCurrent()"},
      {t.get_current_thread_id != nullptr, true, "v8::internal::ThreadId::GetCurrentThreadId()"},
      {t.fetch_and_clear_interrupts != nullptr, true, "v8::internal::StackGuard::FetchAndClearInterrupts()"},
      {t.request_interrupt != nullptr, true, "v8::internal::StackGuard::RequestInterrupt()"},
      {t.get_stack_start != nullptr, true, "v8::base::Stack::GetStackStart()"},
      {t.iterate_pointers != nullptr, true, "heap::base::Stack::IteratePointers[ForTesting]()"},
      {t.cpp_heap_stack != nullptr, true, "v8::internal::CppHeap::stack()"},
      {t.cpp_heap_vtable != nullptr, true, "vtable for v8::internal::CppHeap"},
      {t.add_stack_segment != nullptr, profile.suspended_scan == SuspendedScan::kSegments,
       "heap::base::Stack::AddStackSegment()"},
      {t.clear_stack_segments != nullptr, profile.suspended_scan == SuspendedScan::kSegments,
       "heap::base::Stack::ClearStackSegments()"},
      {t.default_scan_callback != nullptr, profile.suspended_scan == SuspendedScan::kCallback,
       "v8::internal::Isolate::IterateRegistersAndStackOfSimulator()"},
  };
  for (const Need& n : needs) {
    if (n.needed && !n.present) return n.readable;
  }
  return nullptr;
}

// The interrupt flag of TerminateExecution(); stable across V8 versions.
constexpr int kTerminateExecution = 1;
// StackGuard::InterruptLevel::kAnyEffect on 12.x and later (ignored by 11.3):
// fetch every interrupt. A wrong value fails the StackGuard proof below.
constexpr int kAnyEffect = 2;

// napi_value is a v8::Local<v8::Value> in Node's implementation of Node-API
// (see V8LocalValueFromJsValue in src/js_native_api_v8.h). This is the one
// place that relies on it.
v8::Local<v8::Value> FromNapi(napi_value value) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(value), "napi_value is a v8::Local");
  memcpy(static_cast<void*>(&local), &value, sizeof(value));
  return local;
}

template <typename T>
v8::Global<T>* AsGlobal(void* p) {
  return static_cast<v8::Global<T>*>(p);
}

// Continuation-preserved embedder data: the async context that promise
// reactions carry, and where AsyncLocalStorage keeps its stores on Node 24+
// (22 with --experimental-async-context-frame). It belongs to the isolate, not
// to V8's per-thread state, so stackful keeps one per fiber. V8 11.3 has none.
#if V8_MAJOR_VERSION >= 14
using AsyncContext = v8::Data;
v8::Local<AsyncContext> GetAsyncContext(v8::Isolate* isolate) {
  return isolate->GetContinuationPreservedEmbedderDataV2();
}
void SetAsyncContext(v8::Isolate* isolate, v8::Local<AsyncContext> data) {
  isolate->SetContinuationPreservedEmbedderDataV2(data);
}
bool IsUnset(v8::Local<AsyncContext> data) {
  return data.IsEmpty() || (data->IsValue() && data.As<v8::Value>()->IsUndefined());
}
#elif V8_MAJOR_VERSION >= 12
using AsyncContext = v8::Value;
v8::Local<AsyncContext> GetAsyncContext(v8::Isolate* isolate) {
  return isolate->GetContinuationPreservedEmbedderData();
}
void SetAsyncContext(v8::Isolate* isolate, v8::Local<AsyncContext> data) {
  isolate->SetContinuationPreservedEmbedderData(data);
}
bool IsUnset(v8::Local<AsyncContext> data) { return data.IsEmpty() || data->IsUndefined(); }
#else
#define STACKFUL_NO_ASYNC_CONTEXT 1
#endif

#ifndef STACKFUL_NO_ASYNC_CONTEXT
v8::Global<AsyncContext>* AsyncContextOf(Fiber* fiber) {
  static_assert(sizeof(v8::Global<AsyncContext>) == sizeof(fiber->v8.async_context),
                "V8FiberState::async_context must hold exactly a v8::Global");
  // An all-zero v8::Global is an empty one.
  return reinterpret_cast<v8::Global<AsyncContext>*>(fiber->v8.async_context);
}

void SaveAsyncContext(v8::Isolate* isolate, Fiber* fiber) {
  v8::Local<AsyncContext> data = GetAsyncContext(isolate);
  v8::Global<AsyncContext>* saved = AsyncContextOf(fiber);
  // Most switches leave the context as it was: keep the handle, do not remake it.
  if (IsUnset(data)) {
    if (!saved->IsEmpty()) saved->Reset();
  } else if (*saved != data) {
    saved->Reset(isolate, data);
  }
}

void RestoreAsyncContext(v8::Isolate* isolate, Fiber* fiber) {
  v8::Global<AsyncContext>* saved = AsyncContextOf(fiber);
  if (saved->IsEmpty()) {
    if (!IsUnset(GetAsyncContext(isolate))) SetAsyncContext(isolate, v8::Undefined(isolate));
  } else {
    SetAsyncContext(isolate, saved->Get(isolate));
  }
}
#endif

v8::Unlocker* UnlockerOf(Fiber* fiber) {
  static_assert(sizeof(v8::Unlocker) <= sizeof(fiber->v8.unlocker),
                "V8FiberState::unlocker is too small for v8::Unlocker");
  return reinterpret_cast<v8::Unlocker*>(fiber->v8.unlocker);
}

// --- thread_locals of V8 ---------------------------------------------------

struct TlsSearch {
  uintptr_t code_address;  // an address inside the module we want
  void* tls_data = nullptr;
  size_t tls_size = 0;
};

int FindTlsBlock(dl_phdr_info* info, size_t, void* data) {
  TlsSearch* search = static_cast<TlsSearch*>(data);
  bool contains = false;
  size_t tls_size = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && search->code_address >= start &&
        search->code_address < start + ph.p_memsz) {
      contains = true;
    }
    if (ph.p_type == PT_TLS) tls_size = ph.p_memsz;
  }
  if (!contains) return 0;
  search->tls_data = info->dlpi_tls_data;
  search->tls_size = tls_size;
  return 1;
}

// This thread's TLS block of the module that holds V8.
bool V8TlsBlock(char** base, size_t* size) {
  TlsSearch search{reinterpret_cast<uintptr_t>(sym::table.try_get_current)};
  dl_iterate_phdr(&FindTlsBlock, &search);
  *base = static_cast<char*>(search.tls_data);
  *size = search.tls_size;
  return search.tls_data != nullptr;
}

// Returns the address of V8's thread_local thread id on this thread.
int32_t* FindThreadIdSlot(v8::Isolate* isolate, std::string* reason) {
  const int id = sym::table.get_current_thread_id();
  char* base;
  size_t size;
  if (!V8TlsBlock(&base, &size)) {
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
    const bool reads_it = sym::table.try_get_current() == probe;
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
  const void* start = sym::table.get_stack_start();
  char* base;
  size_t size;
  if (!V8TlsBlock(&base, &size)) return nullptr;
  for (size_t off = 0; off + sizeof(void*) <= size; off += sizeof(void*)) {
    const void** slot = reinterpret_cast<const void**>(base + off);
    if (*slot != start) continue;
    // Proof: GetStackStart() returns what we put here.
    const void* probe = static_cast<const char*>(start) - 0x1000;
    *slot = probe;
    const bool reads_it = sym::table.get_stack_start() == probe;
    *slot = start;
    if (reads_it) return slot;
  }
  return nullptr;
}

// --- the StackGuard --------------------------------------------------------

void NoopInterrupt(v8::Isolate*, void*) {}

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
    int flags = 0;
    for (int f; (f = sym::table.fetch_and_clear_interrupts(candidate, kAnyEffect)) != 0;) flags |= f;
    const bool read_idle = SafeRead(candidate, idle, sizeof(idle));
    isolate->RequestInterrupt(&NoopInterrupt, nullptr);
    const bool read_waiting = SafeRead(candidate, waiting, sizeof(waiting));
    int taken = 0;
    for (int f; (f = sym::table.fetch_and_clear_interrupts(candidate, kAnyEffect)) != 0;) taken |= f;
    const bool read_cleared = SafeRead(candidate, cleared, sizeof(cleared));
    flags |= taken;
    for (int bit = 1; bit != 0 && bit <= flags; bit <<= 1) {
      if (flags & bit) sym::table.request_interrupt(candidate, bit);
    }
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
  }
  *reason = "the thread's JS stack limit was not found in the StackGuard";
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
  constexpr size_t kIsolateBytes = 256 * 1024;
  const uintptr_t a = limit - 0x1000, b = limit - 0x2000;
  const uintptr_t start = reinterpret_cast<uintptr_t>(sym::table.get_stack_start());
  uintptr_t at_a[kWords], at_b[kWords], waiting[kWords];
  std::vector<uintptr_t> isolate_a(kIsolateBytes / sizeof(uintptr_t)), isolate_b(isolate_a.size());
  auto snapshot = [&](uintptr_t* guard, std::vector<uintptr_t>* whole) {
    bool ok = SafeRead(stack_guard, guard, kWords * sizeof(uintptr_t));
    for (size_t offset = 0; whole != nullptr && offset < kIsolateBytes; offset += 4096) {
      if (!SafeRead(static_cast<char*>(static_cast<void*>(isolate)) + offset, whole->data() + offset / sizeof(uintptr_t), 4096)) break;
    }
    return ok;
  };
  // Interrupts already pending are taken for the length of the probe, and
  // requested again after it.
  int flags = 0;
  for (int f; (f = sym::table.fetch_and_clear_interrupts(stack_guard, kAnyEffect)) != 0;) flags |= f;
  isolate->SetStackLimit(a);
  bool read = snapshot(at_a, &isolate_a);
  isolate->SetStackLimit(b);
  read = snapshot(at_b, &isolate_b) && read;
  isolate->RequestInterrupt(&NoopInterrupt, nullptr);
  read = snapshot(waiting, nullptr) && read;
  for (int f; (f = sym::table.fetch_and_clear_interrupts(stack_guard, kAnyEffect)) != 0;) flags |= f;
  for (int bit = 1; bit != 0 && bit <= flags; bit <<= 1) {
    if (flags & bit) sym::table.request_interrupt(stack_guard, bit);  // the no-op one included: harmless
  }
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

// --- cppgc's conservative stack scan ---------------------------------------

// Where stackful visits the words of suspended stacks itself (13.x+), those
// that cannot point into cppgc's heap, nor at V8's traced handles (which the
// same scan looks for), are left out: V8 looks every word up under a lock,
// and with thousands of fibers parked half of a full GC went there. They are
// null and small integers, addresses within that stack (saved frame and
// stack pointers) and return addresses into Node's code or ours: about half
// the words of a parked fiber's stack. The malloc heap cannot be left out:
// traced handles live there.
struct ScanFilter {
  uintptr_t stack_low = 0, stack_high = 0;
  bool Keep(uintptr_t word) const {
    return word >= 0x10000 && word - stack_low >= stack_high - stack_low && word - code[0].low >= code[0].size &&
           word - code[1].low >= code[1].size;
  }
  struct Range {
    uintptr_t low = 0, size = 0;
  };
  static Range code[2];  // the executable segments of Node and of this addon
};
ScanFilter::Range ScanFilter::code[2];

int FindCode(struct dl_phdr_info* info, size_t, void* data) {
  const uintptr_t self = reinterpret_cast<uintptr_t>(&FindCode);
  int* found = static_cast<int*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    const uintptr_t low = info->dlpi_addr + ph.p_vaddr;
    const bool main_program = *found == 0 && info->dlpi_name[0] == '\0';
    const bool addon = self - low < ph.p_memsz;
    if (main_program) ScanFilter::code[0] = {low, ph.p_memsz};
    if (addon) ScanFilter::code[1] = {low, ph.p_memsz};
  }
  ++*found;
  return 0;
}

// The filter for one suspended stack, [sp, top).
ScanFilter FilterFor(const void* sp, const void* top, const Stack& stack) {
  ScanFilter f;
  f.stack_low = stack ? reinterpret_cast<uintptr_t>(stack.low) : reinterpret_cast<uintptr_t>(sp);
  f.stack_high = reinterpret_cast<uintptr_t>(top);
  return f;
}

// What a full GC's conservative scan of suspended stacks keeps, beyond
// ScanFilter: not a word whose lowest bit is set (a tagged pointer into V8's
// own heap: V8 visits those precisely, frame by frame), not a word whose low
// 32 bits are zero (a Smi; no object of cppgc, nor a traced handle node,
// starts there). Of a fiber parked 20 JS frames deep, about 5% of its words
// are left, most of them the same few addresses (the isolate, builtins).
inline bool KeepForFullScan(const ScanFilter& filter, uintptr_t word) {
  return (word & 1) == 0 && static_cast<uint32_t>(word) != 0 && filter.Keep(word);
}

constexpr uintptr_t kFrameMarker = 0x5354414b46554c31u;    // "STAKFUL1"
constexpr uintptr_t kSegmentMarker = 0x5354414b46554c32u;  // "STAKFUL2"

// heap::base::StackVisitor has one pure virtual VisitPointer(); whether a
// virtual destructor comes first depends on the line. Every slot of this
// vtable records, so it can stand in for V8's visitor in a proof.
class ProbeVisitor {
 public:
  virtual void Visit0(const void* p) { Record(p); }
  virtual void Visit1(const void* p) { Record(p); }
  virtual void Visit2(const void* p) { Record(p); }
  virtual void Visit3(const void* p) { Record(p); }
  bool saw_frame = false;
  bool saw_segment = false;

 private:
  void Record(const void* p) {
    const uintptr_t v = reinterpret_cast<uintptr_t>(p);
    if (v == kFrameMarker) saw_frame = true;
    if (v == kSegmentMarker) saw_segment = true;
  }
};

struct ScanResult {
  bool frame = false;          // the marker in the scanning frame was seen
  bool segment = false;        // the segment marker was seen
  bool bounded = false;        // with the start lowered below the marker, it was not seen
};

__attribute__((noinline)) ScanResult Scan(void* stack) {
  volatile uintptr_t marker = kFrameMarker;  // lives in this frame
  ScanResult result;
  ProbeVisitor visitor;
  sym::table.iterate_pointers(stack, &visitor);
  result.frame = visitor.saw_frame;
  result.segment = visitor.saw_segment;
  // The first word of the Stack bounds the scan: lowered to the marker's own
  // address (exclusive), the marker must drop out.
  const void** start = static_cast<const void**>(stack);
  const void* saved = *start;
  *start = const_cast<uintptr_t*>(&marker);
  ProbeVisitor lowered;
  sym::table.iterate_pointers(stack, &lowered);
  *start = saved;
  result.bounded = !lowered.saw_frame;
  (void)marker;
  return result;
}

// Finds the heap::base::Stack that cppgc scans for this isolate.
void* FindScanStack(v8::Isolate* isolate, std::string* reason) {
  // GetCppHeap() returns the public v8::CppHeap base of internal::CppHeap. The
  // Itanium C++ ABI stores, just before the address a vtable pointer points
  // to, the offset from that base back to the whole object (what
  // dynamic_cast<void*> uses): follow it, then check the object's own vtable.
  void* base = isolate->GetCppHeap();
  const intptr_t* vptr = nullptr;
  intptr_t offset_to_top = 0;
  if (!SafeRead(base, &vptr, sizeof(vptr)) || !SafeRead(vptr - 2, &offset_to_top, sizeof(offset_to_top))) {
    *reason = "could not read the isolate's CppHeap";
    return nullptr;
  }
  void* cpp_heap = static_cast<char*>(base) + offset_to_top;
  const void* own_vptr = nullptr;
  const void* expected = static_cast<const char*>(sym::table.cpp_heap_vtable) + 2 * sizeof(void*);
  if (!SafeRead(cpp_heap, &own_vptr, sizeof(own_vptr)) || own_vptr != expected) {
    *reason = "the isolate's CppHeap is not a v8::internal::CppHeap";
    return nullptr;
  }
  void* stack = sym::table.cpp_heap_stack(cpp_heap);
  ScanResult r = Scan(stack);
  if (r.frame && r.bounded && !r.segment) return stack;
  *reason = "cppgc's stack (heap::base::Stack) did not scan as expected";
  return nullptr;
}

// 11.3, 12.4: a registered segment is scanned, and is gone once cleared.
bool ProveSegments(void* stack) {
  uintptr_t* segment = new uintptr_t[4]{kSegmentMarker, kSegmentMarker, 0, 0};
  sym::table.add_stack_segment(stack, segment + 2, segment);
  const bool added = Scan(stack).segment;
  sym::table.clear_stack_segments(stack);
  const bool cleared = !Scan(stack).segment;
  delete[] segment;
  return added && cleared;
}

// 13.x+: the word of the Stack that holds V8's default scan callback.
void** FindScanCallbackSlot(void* stack) {
  constexpr size_t kWords = 32;
  uintptr_t words[kWords];
  if (!SafeRead(stack, words, sizeof(words))) return nullptr;
  for (size_t i = 1; i < kWords; ++i) {
    if (words[i] == reinterpret_cast<uintptr_t>(sym::table.default_scan_callback)) {
      return reinterpret_cast<void**>(static_cast<char*>(stack) + i * sizeof(uintptr_t));
    }
  }
  return nullptr;
}

// The scan callback runs on the thread whose isolate is collecting.
thread_local V8State* scanning_state = nullptr;
thread_local const uintptr_t* probe_segment = nullptr;  // set only while proving the callback

using VisitPointerFn = void (*)(void* visitor, const void* address);

void VisitRange(void* visitor, int slot, const void* low, const void* high, const ScanFilter* filter = nullptr) {
  VisitPointerFn visit = reinterpret_cast<VisitPointerFn>((*static_cast<void***>(visitor))[slot]);
  for (const uintptr_t* p = static_cast<const uintptr_t*>(low); p < static_cast<const uintptr_t*>(high); ++p) {
    if (filter == nullptr || filter->Keep(*p)) visit(visitor, reinterpret_cast<const void*>(*p));
  }
}

void GcPrologue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void* data) {
  static_cast<V8State*>(data)->BeforeGc(type == v8::kGCTypeMarkSweepCompact, type == v8::kGCTypeScavenge);
}

void GcEpilogue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void* data) {
  static_cast<V8State*>(data)->AfterGc(type == v8::kGCTypeMarkSweepCompact, type == v8::kGCTypeScavenge);
}

}  // namespace

// Called by cppgc's conservative scan (13.x+), in place of V8's default.
void V8State::ScanSuspendedStacks(void* visitor) {
  V8State* self = scanning_state;
  if (self == nullptr) return;
  const int slot = self->visit_pointer_slot_;
  if (probe_segment != nullptr) {
    VisitRange(visitor, slot, probe_segment, probe_segment + 2);
    return;
  }
  if (self->scan_whole_ == 1) {
    self->scheduler_->ForEachSuspended([&](Fiber* fiber) {
      const void* top = self->StackTop(fiber);
      const ScanFilter filter = FilterFor(fiber->sp, top, fiber->stack);
      VisitRange(visitor, slot, fiber->sp, top, &filter);
    });
    return;
  }
  self->CollectScanWords();
  VisitRange(visitor, slot, self->scan_words_.data(), self->scan_words_.data() + self->scan_words_.size());
}

// ---------------------------------------------------------------------------

V8Runtime V8State::Init(Scheduler* scheduler, napi_env, napi_value entry) {
  V8Runtime runtime;
  scheduler_ = scheduler;
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
  static const bool resolved = (sym::Resolve(), true);
  (void)resolved;
  if (const char* missing = MissingSymbol(profile)) {
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
  if (isolate->GetCppHeap() != nullptr) {
    const char* scan = getenv("STACKFUL_SCAN");
    scan_whole_ = scan != nullptr && strcmp(scan, "whole") == 0 ? 1 : 0;
    scan_stack_ = FindScanStack(isolate, &runtime.reason);
    if (scan_stack_ == nullptr) return runtime;
    root_stack_start_ = *static_cast<const void* const*>(scan_stack_);
    static const bool code_found = [] {
      int objects = 0;
      dl_iterate_phdr(&FindCode, &objects);
      return true;
    }();
    (void)code_found;
    if (profile.suspended_scan == SuspendedScan::kSegments) {
      use_segments_ = true;
      if (!ProveSegments(scan_stack_)) {
        runtime.reason = "heap::base::Stack::AddStackSegment() did not add a scanned segment";
        return runtime;
      }
    } else {
      scan_callback_slot_ = FindScanCallbackSlot(scan_stack_);
      if (scan_callback_slot_ == nullptr) {
        runtime.reason = "cppgc's stack has no scan callback holding V8's default";
        return runtime;
      }
      visit_pointer_slot_ = profile.visit_pointer_slot;
      scanning_state = this;
      *scan_callback_slot_ = reinterpret_cast<void*>(&V8State::ScanSuspendedStacks);
      uintptr_t segment[2] = {kSegmentMarker, kSegmentMarker};
      probe_segment = segment;
      const bool seen = Scan(scan_stack_).segment;
      probe_segment = nullptr;
      if (!seen) {
        *scan_callback_slot_ = const_cast<void*>(sym::table.default_scan_callback);
        scan_callback_slot_ = nullptr;
        runtime.reason = "cppgc's scan did not call the replaced scan callback";
        return runtime;
      }
    }
  }

  scheduler->root()->v8.thread_id = *thread_id_slot_;
  by_thread_id_[scheduler->root()->v8.thread_id] = scheduler->root();
  ChooseSwitch();
  context_ = new v8::Global<v8::Context>(isolate, isolate->GetCurrentContext());
  entry_ = new v8::Global<v8::Function>(isolate, FromNapi(entry).As<v8::Function>());
  pending_exception_ = new v8::Global<v8::Value>();
#ifndef STACKFUL_NO_ASYNC_CONTEXT
  parked_context_ = new v8::Global<AsyncContext>();
#endif
  isolate->AddGCPrologueCallback(&GcPrologue, this);
  isolate->AddGCEpilogueCallback(&GcEpilogue, this);
  callbacks_installed_ = true;
  runtime.supported = true;
  return runtime;
}

namespace {

Scheduler* SchedulerOf(const v8::FunctionCallbackInfo<v8::Value>& info) {
  return static_cast<Scheduler*>(info.Data().As<v8::External>()->Value());
}

// The handles of the hot calls come through memory JS writes (`mailbox`, a
// Float64Array), not as arguments: no type check and unboxing through V8's
// API on every switch. Anything but a handle finds no fiber.
Fiber* FiberInMailbox(Scheduler* scheduler) {
  const double value = scheduler->v8().mailbox()[0];
  if (!(value >= 0 && value < 0x1p53)) return nullptr;
  return scheduler->Find(static_cast<Handle>(value));
}

void ThrowStatus(const v8::FunctionCallbackInfo<v8::Value>& info, Status status, void* make_error) {
  v8::Isolate* isolate = info.GetIsolate();
  StatusInfo d = Describe(status);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Value> args[] = {v8::String::NewFromUtf8(isolate, d.code).ToLocalChecked(),
                                 v8::String::NewFromUtf8(isolate, d.message).ToLocalChecked()};
  v8::Local<v8::Value> error;
  if (AsGlobal<v8::Function>(make_error)->Get(isolate)->Call(context, v8::Undefined(isolate), 2, args).ToLocal(&error)) {
    isolate->ThrowException(error);
  }
}

}  // namespace

// create(stackSize, adoptContext): handle
void V8State::HotCreate(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Scheduler* scheduler = SchedulerOf(info);
  const size_t size = static_cast<size_t>(info[0].As<v8::Number>()->Value());
  const bool adopt = info[1]->BooleanValue(info.GetIsolate());
  info.GetReturnValue().Set(static_cast<double>(scheduler->NewFiber(size, adopt)));
}

// switchTo(), with mailbox[0] = the target's handle: returns once something
// switches back
void V8State::HotSwitchTo(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Scheduler* scheduler = SchedulerOf(info);
  Fiber* target = FiberInMailbox(scheduler);
  Status status = target != nullptr ? scheduler->Switch(target) : Status::kFiberDead;
  if (status != Status::kOk) ThrowStatus(info, status, scheduler->v8().make_error_);
}

// setNext(), with mailbox[0] = the handle of where the running fiber goes
// when its body returns
void V8State::HotSetNext(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Scheduler* scheduler = SchedulerOf(info);
  Fiber* next = FiberInMailbox(scheduler);
  Status status = next != nullptr ? scheduler->SetNext(next) : Status::kFiberDead;
  if (status != Status::kOk) ThrowStatus(info, status, scheduler->v8().make_error_);
}

// getAsyncContext() / setAsyncContext(value): the running fiber's async
// context, for src/context.ts (AsyncResource scopes inside fibers).
void V8State::GetAsyncContextCall(const v8::FunctionCallbackInfo<v8::Value>& info) {
#ifndef STACKFUL_NO_ASYNC_CONTEXT
  v8::Local<AsyncContext> data = GetAsyncContext(info.GetIsolate());
  if (!IsUnset(data) && data->IsValue()) info.GetReturnValue().Set(data.As<v8::Value>());
#else
  (void)info;
#endif
}

void V8State::SetAsyncContextCall(const v8::FunctionCallbackInfo<v8::Value>& info) {
#ifndef STACKFUL_NO_ASYNC_CONTEXT
  SetAsyncContext(info.GetIsolate(), info[0]);
#else
  (void)info;
#endif
}

void V8State::DefineHotCalls(napi_value target, napi_value make_error) {
  v8::Isolate* isolate = static_cast<v8::Isolate*>(isolate_);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  make_error_ = new v8::Global<v8::Function>(isolate, FromNapi(make_error).As<v8::Function>());
  v8::Local<v8::Object> object = FromNapi(target).As<v8::Object>();
  v8::Local<v8::External> data = v8::External::New(isolate, scheduler_);
  v8::Local<v8::ArrayBuffer> mailbox = v8::ArrayBuffer::New(isolate, 2 * sizeof(double));
  auto* store = new std::shared_ptr<v8::BackingStore>(mailbox->GetBackingStore());
  mailbox_store_ = store;
  mailbox_ = static_cast<const double*>((*store)->Data());
  object->Set(context, v8::String::NewFromUtf8Literal(isolate, "mailbox"), mailbox).Check();
  struct {
    const char* name;
    v8::FunctionCallback callback;
  } calls[] = {{"create", &V8State::HotCreate},
               {"switchTo", &V8State::HotSwitchTo},
               {"setNext", &V8State::HotSetNext},
               {"getAsyncContext", &V8State::GetAsyncContextCall},
               {"setAsyncContext", &V8State::SetAsyncContextCall}};
  for (const auto& call : calls) {
    v8::Local<v8::String> name = v8::String::NewFromUtf8(isolate, call.name).ToLocalChecked();
    v8::Local<v8::Function> fn = v8::Function::New(context, call.callback, data, 0, v8::ConstructorBehavior::kThrow).ToLocalChecked();
    fn->SetName(name);
    object->Set(context, name, fn).Check();
  }
}

void V8State::Shutdown() {
  v8::Isolate* isolate = static_cast<v8::Isolate*>(isolate_);
  // V8 deletes what is left in its list of archived threads with the isolate;
  // the archives of abandoned fibers are ours, and so is what V8 allocated
  // for their handle scopes (a suspended fiber's scopes never close): freed
  // here, while V8 is usable (test/crash/worker-only.js counts RSS over 100
  // workers that each leave 5,000 fibers suspended). The root's, when it is
  // suspended, is the thread's own: V8 frees it.
  if (skipped_first_ != nullptr) AfterScavenge();
  if (direct_) {
    scheduler_->ForEachSuspended([this](Fiber* fiber) {
      ThreadArchive::Unlink(&fiber->v8.archived);
      if (!fiber->is_root) archive_.FreeAbandoned(&fiber->v8.archived, BlockOnStack(fiber));
    });
    if (scheduler_->current()->is_root) archive_.FreeSpare();
  } else if (scheduler_->current()->is_root && archive_.PrepareToFree(isolate_)) {
    // Locker switch: each suspended fiber is a V8 thread whose state V8
    // archived (eagerly, since the root took the lock after them); V8 frees
    // the archive buffers with the isolate, not what they point to.
    ArchivedThread* anchor = archive_.in_use_anchor();
    for (ArchivedThread* t = anchor->next; t != anchor; t = t->next) {
      Fiber* fiber = FiberOfState(t);
      if (fiber != nullptr && !fiber->is_root && fiber->state == FiberState::kSuspended) archive_.FreeAbandoned(t, nullptr);
    }
  }
  if (callbacks_installed_) {
    isolate->RemoveGCPrologueCallback(&GcPrologue, this);
    isolate->RemoveGCEpilogueCallback(&GcEpilogue, this);
    callbacks_installed_ = false;
  }
  if (scan_callback_slot_ != nullptr) {
    *scan_callback_slot_ = const_cast<void*>(sym::table.default_scan_callback);
    scan_callback_slot_ = nullptr;
    scanning_state = nullptr;
  }
  delete AsGlobal<v8::Context>(context_);
  delete AsGlobal<v8::Function>(entry_);
  delete AsGlobal<v8::Value>(pending_exception_);
  delete AsGlobal<v8::Function>(make_error_);
  delete static_cast<std::shared_ptr<v8::BackingStore>*>(mailbox_store_);  // JS's ArrayBuffer keeps mailbox_ alive
  mailbox_store_ = nullptr;
#ifndef STACKFUL_NO_ASYNC_CONTEXT
  delete AsGlobal<AsyncContext>(parked_context_);
  parked_context_ = nullptr;
#endif
  context_ = entry_ = pending_exception_ = make_error_ = nullptr;
}

// Runs after the isolate is gone (see binding.cc): nothing here may touch V8.
V8State::~V8State() = default;

int V8State::TakeInterrupts() {
  // Nothing pending (the usual case): skip the StackGuard's lock.
  if (interrupt_pending_ != nullptr && __atomic_load_n(interrupt_pending_, __ATOMIC_ACQUIRE) == 0) return 0;
  int flags = 0;
  // TerminateExecution is handed out alone first: loop until all are taken.
  for (int f; (f = sym::table.fetch_and_clear_interrupts(stack_guard_, kAnyEffect)) != 0;) flags |= f;
  return flags;
}

void V8State::ReRequestInterrupts() {
  const int flags = carried_interrupts_;
  carried_interrupts_ = 0;
  for (int bit = 1; bit != 0 && bit <= flags; bit <<= 1) {
    if (flags & bit) sym::table.request_interrupt(stack_guard_, bit);
  }
}

const void* V8State::StackTop(const Fiber* fiber) const {
  return fiber->is_root ? root_stack_start_ : fiber->stack.high;
}

void* V8State::BlockOnStack(const Fiber* fiber) const {
  return direct_ && archive_.blocks_on_stacks() ? fiber->stack.high - kBlockOnStack : nullptr;
}

void* V8State::EntryTop(const Fiber* fiber) const {
  void* block = BlockOnStack(fiber);
  return block != nullptr ? block : fiber->stack.high;
}

// Where a conservative scan of a suspended stack ends: below a fiber's handle
// block, which holds only tagged values (V8 visits them precisely) and whose
// pages a fiber that held few handles never touched (reading them would
// fault them in, 10,000 fibers at a time).
const void* V8State::ScanTop(const Fiber* fiber) const {
  return fiber->is_root ? root_stack_start_ : EntryTop(fiber);
}

// Fills scan_words_ with what a full GC's conservative scan needs of every
// suspended stack, read once per GC: the words KeepForFullScan() keeps, each
// address once (most are the same few in every stack; a small direct-mapped
// table drops the repeats). V8 looks each word it scans up under a lock (11.3)
// or in a page table: 16 million words for 10,000 fibers parked 20 frames deep
// came down to a few thousand. STACKFUL_SCAN=whole scans the stacks whole
// instead, as before (to compare; the bench's gc-pause case has no column).
void V8State::CollectScanWords() {
  scan_words_.clear();
  uintptr_t seen[512] = {};
  scheduler_->ForEachSuspended([&](Fiber* fiber) {
    const void* top = ScanTop(fiber);
    const ScanFilter filter = FilterFor(fiber->sp, StackTop(fiber), fiber->stack);
    for (const uintptr_t* p = static_cast<const uintptr_t*>(fiber->sp); p < static_cast<const uintptr_t*>(top); ++p) {
      const uintptr_t word = *p;
      if (!KeepForFullScan(filter, word)) continue;
      uintptr_t& slot = seen[(word >> 3) * 0x9E3779B97F4A7C15u >> 55];
      if (slot == word) continue;
      slot = word;
      scan_words_.push_back(word);
    }
  });
}


void V8State::AfterLock(Fiber* self) {
#ifndef STACKFUL_NO_ASYNC_CONTEXT
  RestoreAsyncContext(static_cast<v8::Isolate*>(isolate_), self);
#endif
  if (scan_stack_ != nullptr) *static_cast<const void**>(scan_stack_) = StackTop(self);
  if (reapply_stack_limit_ && !direct_) SetStackLimit(self);
  if (carried_interrupts_ != 0) ReRequestInterrupts();
}

// Leave room under V8's limit for native frames, so deep recursion throws
// RangeError instead of reaching the guard page (test/crash/overflow.js).
void V8State::SetStackLimit(const Fiber* fiber) {
  const uintptr_t limit = fiber->is_root ? root_stack_limit_ : reinterpret_cast<uintptr_t>(fiber->stack.low) + kStackReserve;
  if (!fast_limit_) {
    static_cast<v8::Isolate*>(isolate_)->SetStackLimit(limit);
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
  if (w.stack_size != nullptr) *w.stack_size = reinterpret_cast<uintptr_t>(StackTop(fiber)) - limit;
}

void V8State::Suspend(Fiber* from, Fiber* to) {
#ifndef STACKFUL_NO_ASYNC_CONTEXT
  SaveAsyncContext(static_cast<v8::Isolate*>(isolate_), from);
#endif
  from->v8.parked_at = scavenges_;
  if (direct_) {
    from->v8.archived.owner = from;
    archive_.Save(&from->v8.archived);
  } else {
    // Interrupts pending on this thread (a worker's terminate(), a GC request)
    // belong to the thread, not to the fiber: they travel to the next one.
    carried_interrupts_ |= TakeInterrupts();
    new (UnlockerOf(from)) v8::Unlocker(static_cast<v8::Isolate*>(isolate_));
  }
  Handoff(to);
}

void V8State::Resume(Fiber* self) {
  if (direct_) {
    archive_.Load(&self->v8.archived);
    SetStackLimit(self);
  } else {
    UnlockerOf(self)->~Unlocker();  // takes the lock, restores our V8 state
  }
  AfterLock(self);
  v8::Global<v8::Value>* pending = AsGlobal<v8::Value>(pending_exception_);
  if (!pending->IsEmpty()) {
    v8::Isolate* isolate = static_cast<v8::Isolate*>(isolate_);
    isolate->ThrowException(pending->Get(isolate));
    pending->Reset();
  }
}

// V8 reads these thread_locals when `next` takes the lock: they must be its own.
void V8State::Handoff(const Fiber* next) {
  if (!direct_) *thread_id_slot_ = next->v8.thread_id;
  if (stack_start_slot_ != nullptr) *stack_start_slot_ = StackTop(next);
}

void V8State::Adopt(Fiber* fiber) {
#ifndef STACKFUL_NO_ASYNC_CONTEXT
  SaveAsyncContext(static_cast<v8::Isolate*>(isolate_), fiber);
#else
  (void)fiber;
#endif
}

void V8State::Forget(Fiber* fiber) {
#ifndef STACKFUL_NO_ASYNC_CONTEXT
  AsyncContextOf(fiber)->Reset();
#else
  (void)fiber;
#endif
}

void V8State::Run(Fiber* self) {
  v8::Isolate* isolate = static_cast<v8::Isolate*>(isolate_);
  if (direct_) {
    void* block = BlockOnStack(self);
    archive_.Begin(block);  // fresh, as V8 starts a new thread
    SetStackLimit(self);
    CallEntry(self);
    archive_.Drop(block);
    return;
  }
  {
    v8::Locker locker(isolate);  // a new V8 thread: fresh state, a new thread id
    self->v8.thread_id = *thread_id_slot_;
    by_thread_id_[self->v8.thread_id] = self;
    SetStackLimit(self);
    CallEntry(self);
    carried_interrupts_ |= TakeInterrupts();
    by_thread_id_.erase(self->v8.thread_id);
  }  // ~Locker: frees this thread's V8 state and releases the lock
  isolate->DiscardThreadSpecificMetadata();
}

// Calls the JS entry of a new fiber, on its stack.
void V8State::CallEntry(Fiber* self) {
  v8::Isolate* isolate = static_cast<v8::Isolate*>(isolate_);
  v8::HandleScope handle_scope(isolate);
  AfterLock(self);
  v8::Local<v8::Context> context = AsGlobal<v8::Context>(context_)->Get(isolate);
  v8::Context::Scope context_scope(context);
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Function> entry = AsGlobal<v8::Function>(entry_)->Get(isolate);
  if (entry->Call(context, v8::Undefined(isolate), 0, nullptr).IsEmpty()) {
    if (try_catch.HasTerminated()) {
      carried_interrupts_ |= kTerminateExecution;  // the thread is terminating
    } else if (try_catch.HasCaught()) {
      // The JS entry catches everything; this is a bug, not a user error.
      AsGlobal<v8::Value>(pending_exception_)->Reset(isolate, try_catch.Exception());
    }
  }
}

// Uses the direct switch unless STACKFUL_SWITCH=locker asks otherwise or
// something it needs is missing or fails its proof.
void V8State::ChooseSwitch() {
  const char* choice = getenv("STACKFUL_SWITCH");
  if (choice != nullptr && strcmp(choice, "locker") == 0) {
    switch_reason_ = "STACKFUL_SWITCH=locker";
    return;
  }
  std::string reason;
  v8::Isolate* isolate = static_cast<v8::Isolate*>(isolate_);
  if (root_stack_limit_ == 0) root_stack_limit_ = FindRootStackLimit(isolate, stack_guard_, &reason);
  if (root_stack_limit_ == 0) {
    switch_reason_ = reason;
    return;
  }
  v8::HandleScope scope(isolate);
  v8::Local<v8::Value> held = v8::Object::New(isolate);  // a handle for the round-trip proof
  (void)held;
  if (!archive_.Init(isolate_, stack_guard_, *thread_id_slot_, &reason)) {
    switch_reason_ = reason;
    return;
  }
  direct_ = true;
  in_use_anchor_ = archive_.in_use_anchor();
  fast_limit_ = FindStackLimitWords(isolate, stack_guard_, root_stack_limit_, &limit_words_);
}

SwitchStats V8State::switch_stats() const {
  SwitchStats s;
  s.path = direct_ ? "direct" : "locker";
  s.reason = switch_reason_.c_str();
  s.stack_limit_by_hand = fast_limit_;
  s.handle_scopes_by_hand = direct_ && archive_.copies_handle_scopes();
  s.top_by_hand = direct_ && archive_.copies_top();
  s.blocks_on_stacks = direct_ && archive_.blocks_on_stacks();
  return s;
}

// --- Scavenges and parked fibers ---------------------------------------------
//
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
// The list's layout is ArchivedThread's (thread_archive.h). With the direct
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

// The fiber whose V8 state `state` is, or nullptr when it is none of ours.
Fiber* V8State::FiberOfState(ArchivedThread* state) const {
  if (direct_) return state->magic == kArchivedThreadMagic ? state->owner : nullptr;
  auto it = by_thread_id_.find(state->id);
  return it == by_thread_id_.end() ? nullptr : it->second;
}

// Locker switch: finds V8's list of archived threads and proves that it holds
// exactly the suspended fibers, most recently suspended first.
bool V8State::ProbeThreadList() {
  in_use_anchor_ = FindInUseAnchor(isolate_);
  if (in_use_anchor_ == nullptr) {
    skip_reason_ = "V8's list of archived threads (ThreadManager) was not found in the isolate";
    return false;
  }
  size_t suspended = 0;
  scheduler_->ForEachSuspended([&](Fiber*) { ++suspended; });
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
    Fiber* fiber = FiberOfState(state);
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

void V8State::BeforeScavenge() {
  const uint64_t scavenge = scavenges_++;
  if (skip_path_ == SkipPath::kOff) return;
  if (skip_path_ == SkipPath::kPending) {
    if (SkipDisabledByEnv()) {
      skip_path_ = SkipPath::kOff;
      skip_reason_ = "STACKFUL_YOUNG_GC=visit-all";
      return;
    }
    if (!direct_) {
      if (scheduler_->suspended_count() < kProbeAfterSuspended) return;
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
    Fiber* fiber = FiberOfState(state);
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

void V8State::AfterScavenge() {
  if (skipped_first_ == nullptr) return;
  ArchivedThread* tail = in_use_anchor_->previous;
  tail->next = skipped_first_;
  skipped_first_->previous = tail;
  skipped_last_->next = in_use_anchor_;
  in_use_anchor_->previous = skipped_last_;
  skipped_first_ = skipped_last_ = nullptr;
}

void V8State::VerifySkipped(uint64_t scavenge) const {
  for (ArchivedThread* state = skipped_first_;; state = state->next) {
    Fiber* fiber = FiberOfState(state);
    if (fiber == nullptr || fiber->state != FiberState::kSuspended || scavenge - fiber->v8.parked_at < kCleanAfter) {
      fprintf(stderr, "stackful: STACKFUL_VERIFY_GC: scavenge %llu skipped V8 thread %d, which is not a clean parked fiber\n",
              static_cast<unsigned long long>(scavenge), state->id);
      abort();
    }
    if (state == skipped_last_) break;
  }
}

YoungGcStats V8State::young_gc_stats() const {
  YoungGcStats s;
  s.path = skip_path_ == SkipPath::kOn ? "skip-clean" : skip_path_ == SkipPath::kOff ? "visit-all" : "pending";
  s.reason = skip_reason_;
  s.scavenges = scavenges_;
  s.skipping = skipping_scavenges_;
  return s;
}

// V8 12.4 to 14.x visit the isolate's continuation-preserved embedder data
// (where AsyncLocalStorage keeps its stores) once more for every archived
// thread (Isolate::Iterate(RootVisitor*, ThreadLocalTop*)), that is for every
// suspended fiber, the root included. A scavenge copies a young object anew
// each time a root reaches it: with a young AsyncLocalStorage frame there,
// stale copies are left behind and the heap is corrupt (a crash in
// Scavenger::Process, test/crash/async-context-gc.js). So for the length of
// every scavenge the isolate's slot holds undefined, and its value waits in a
// strong handle of ours, which is visited once. Only scavenges move objects
// this way, and only they are bracketed (incremental marking lets JS run
// between its prologue and its epilogue).
void V8State::ParkAsyncContext() {
#ifndef STACKFUL_NO_ASYNC_CONTEXT
  if (gc_depth_++ != 0 || parked_context_ == nullptr) return;
  v8::Isolate* isolate = static_cast<v8::Isolate*>(isolate_);
  v8::HandleScope scope(isolate);
  v8::Local<AsyncContext> data = GetAsyncContext(isolate);
  if (IsUnset(data)) return;
  AsGlobal<AsyncContext>(parked_context_)->Reset(isolate, data);
  SetAsyncContext(isolate, v8::Undefined(isolate));
#endif
}

void V8State::UnparkAsyncContext() {
#ifndef STACKFUL_NO_ASYNC_CONTEXT
  if (gc_depth_ == 0 || --gc_depth_ != 0 || parked_context_ == nullptr) return;
  v8::Global<AsyncContext>* parked = AsGlobal<AsyncContext>(parked_context_);
  if (parked->IsEmpty()) return;
  v8::Isolate* isolate = static_cast<v8::Isolate*>(isolate_);
  v8::HandleScope scope(isolate);
  SetAsyncContext(isolate, parked->Get(isolate));
  parked->Reset();
#endif
}

void V8State::BeforeGc(bool full, bool scavenge) {
  if (scavenge) ParkAsyncContext();
  // Whatever this GC is, it starts with every parked fiber in V8's list, even
  // if the epilogue of the last scavenge never came.
  if (skipped_first_ != nullptr) AfterScavenge();
  if (scavenge) BeforeScavenge();
  if (scan_stack_ == nullptr) return;
  *static_cast<const void**>(scan_stack_) = StackTop(scheduler_->current());
  if (!full || !use_segments_) return;
  // V8 scans these whole: a compacted copy of what ScanFilter keeps (the
  // 13.x+ path) saved only 5-10% of a full GC here, for a buffer as large.
  sym::table.clear_stack_segments(scan_stack_);
  if (scan_whole_ == 1) {
    scheduler_->ForEachSuspended([&](Fiber* fiber) {
      sym::table.add_stack_segment(scan_stack_, StackTop(fiber), fiber->sp);
    });
    return;
  }
  // One segment, a copy: V8 scans from its low end to its high end.
  CollectScanWords();
  if (!scan_words_.empty()) sym::table.add_stack_segment(scan_stack_, scan_words_.data() + scan_words_.size(), scan_words_.data());
}

void V8State::AfterGc(bool full, bool scavenge) {
  // The collection ran on the running fiber's stack, far below its JS frames:
  // those pages would stay with the fiber while it is parked (one page more
  // per fiber, measured: test/crash/stack-trim.js `gc`). Given back once it
  // has suspended (Scheduler::TrimParked).
  Fiber* running = scheduler_->current();
  if (!running->is_root) running->gc_ran_here = true;
  if (scavenge) UnparkAsyncContext();
  if (scavenge) AfterScavenge();
  if (full && use_segments_) sym::table.clear_stack_segments(scan_stack_);
  if (full && scan_words_.capacity() > (size_t{1} << 16)) std::vector<uintptr_t>().swap(scan_words_);
}

}  // namespace stackful
