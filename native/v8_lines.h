// Everything stackful knows about particular V8 lines, in one place: the
// profile of each supported line (kProfiles), every V8 internal it calls by
// name with the mangled names each line gives it (v8_lines.cc), the layouts
// of V8 structures it mirrors, and the public API that changed between lines
// (the async context). Supporting a new Node line starts here: a row in
// kProfiles (test/native-lines.test.ts checks that src/core/native.ts and
// scripts/lib/nodes.mjs list the same lines), new mangled names if any, and
// `npm run test:matrix` on it. Every address is still found and proven at
// load time (v8_probes.cc, stack_scan.cc, thread_archive.cc), never assumed.
#ifndef STACKFUL_V8_LINES_H_
#define STACKFUL_V8_LINES_H_

#include <cstddef>
#include <cstdint>

#include <v8.h>

namespace stackful {

struct Fiber;

// --- the profile of each V8 line -------------------------------------------

// How cppgc's conservative scan is made to see suspended stacks.
enum class SuspendedScan {
  kSegments,  // heap::base::Stack::AddStackSegment() before each full GC
  kCallback,  // the Stack's scan callback (simulator hook), replaced by ours
};

struct Profile {
  const char* line;              // V8 major.minor
  const char* node;              // the Node line that ships it
  int node_major;                // its major version (prebuilds, the test matrix)
  SuspendedScan suspended_scan;
  bool stack_start_cached;       // V8 caches the thread's stack start in a thread_local
  bool stack_size_per_isolate;   // SetStackLimit() also sets a per-isolate stack size that
                                 // V8 checks ("central stack") and that is not archived per thread
  int visit_pointer_slot;        // vtable index of StackVisitor::VisitPointer (kCallback only)
};

// Read by test/native-lines.test.ts (keep one row a line, in this shape).
constexpr Profile kProfiles[] = {
    {"11.3", "Node 20", 20, SuspendedScan::kSegments, false, false, -1},
    {"12.4", "Node 22", 22, SuspendedScan::kSegments, true, false, -1},
    // StackVisitor gained a virtual destructor: VisitPointer follows its two entries.
    {"13.6", "Node 24", 24, SuspendedScan::kCallback, true, true, 2},
    {"14.6", "Node 26", 26, SuspendedScan::kCallback, true, true, 2},
};

// The profile of this V8 line; an unknown line (let through by the documented
// override) gets the newest profile, and the probes still decide.
const Profile& ProfileFor(const char* version);

// --- V8 internals called by name -------------------------------------------

// Which part of stackful needs a symbol.
enum class Need : uint8_t {
  kCore,      // every line, every switch
  kSegments,  // SuspendedScan::kSegments
  kCallback,  // SuspendedScan::kCallback
  kArchive,   // the direct switch (thread_archive.cc), and freeing abandoned fibers
  kWasmTasks, // cancelling a wasm code GC's leftover task (wasm_code_gc.cc); never required
};

using ArchiveFn = char* (*)(void* self, char* storage);  // members: this, storage
using SizeFn = int (*)();                                 // static ArchiveSpacePerThread()
using MemberFn = void (*)(void* self);
using AddressFn = void* (*)(void* isolate);  // an ExternalReference: one Address, returned in a register

// The addresses of V8's internals in this binary (null where absent), found
// once per process by ResolveInternals().
struct V8Internals {
  int (*try_get_current)() = nullptr;
  int (*get_current_thread_id)() = nullptr;
  // V8 11.3 takes no level; 12.x adds an InterruptLevel. The System V and
  // AAPCS64 ABIs pass the first integer arguments in registers the callee may
  // clobber, so a callee ignores an extra one: one type serves both (see kAnyEffect).
  int (*fetch_and_clear_interrupts)(void* stack_guard, int level) = nullptr;
  void (*request_interrupt)(void* stack_guard, int flag) = nullptr;
  const void* (*get_stack_start)() = nullptr;
  void (*add_stack_segment)(void* stack, const void* start, const void* top) = nullptr;
  void (*clear_stack_segments)(void* stack) = nullptr;
  void (*iterate_pointers)(void* stack, void* visitor) = nullptr;  // only to prove the scan stack at load
  void* (*cpp_heap_stack)(void* cpp_heap) = nullptr;
  const void* cpp_heap_vtable = nullptr;        // to check what GetCppHeap() points into
  const void* default_scan_callback = nullptr;  // 13.x+: Isolate::IterateRegistersAndStackOfSimulator

  // The direct switch: the functions V8's ThreadManager archives a thread with.
  ArchiveFn hsi_archive = nullptr;
  ArchiveFn hsi_restore = nullptr;
  SizeFn hsi_size = nullptr;
  MemberFn hsi_free = nullptr;
  MemberFn delete_extensions = nullptr;  // static HandleScope::DeleteExtensions(Isolate*): the same shape
  ArchiveFn isolate_archive = nullptr;
  ArchiveFn isolate_restore = nullptr;
  MemberFn initialize_thread_local = nullptr;
  ArchiveFn relocatable_archive = nullptr;  // static (Isolate*, char*): the same shape
  ArchiveFn relocatable_restore = nullptr;
  SizeFn relocatable_size = nullptr;
  ArchiveFn stack_guard_archive = nullptr;
  ArchiveFn stack_guard_restore = nullptr;
  ArchiveFn debug_archive = nullptr;
  ArchiveFn debug_restore = nullptr;
  SizeFn debug_size = nullptr;
  MemberFn debug_thread_init = nullptr;
  AddressFn hsi_address = nullptr;
  AddressFn debug_is_active_address = nullptr;
  AddressFn debug_suspended_generator_address = nullptr;
  struct ArchivedThread* (*first_in_use)(void* thread_manager) = nullptr;
  AddressFn handle_scope_next_address = nullptr;
  AddressFn handle_scope_limit_address = nullptr;
  AddressFn handle_scope_level_address = nullptr;

  // wasm_code_gc.cc: the task a wasm code GC leaves queued, where the
  // isolate's task manager is, and how V8 cancels a task.
  const void* wasm_gc_task_vtable = nullptr;                            // a local symbol: in .symtab only
  void (*cancelable_task_ctor)(void* self, void* isolate) = nullptr;   // CancelableTask::CancelableTask(Isolate*)
  int (*try_abort)(void* task_manager, uint64_t task_id) = nullptr;  // CancelableTaskManager::TryAbort(Id)
};

extern V8Internals v8i;

// Resolves every internal this binary has (once per process).
void ResolveInternals();
// Why `need` cannot be met (the first internal it lacks), or nullptr.
const char* MissingInternal(Need need);

// The interrupt flag of TerminateExecution(); stable across V8 versions.
constexpr int kTerminateExecution = 1;
// StackGuard::InterruptLevel::kAnyEffect on 12.x and later (ignored by 11.3):
// fetch every interrupt. A wrong value fails the StackGuard proof.
constexpr int kAnyEffect = 2;

// Takes every interrupt pending on `stack_guard`, and returns their flags.
// TerminateExecution is handed out alone first: loop until none is left.
inline int TakeAllInterrupts(void* stack_guard) {
  int flags = 0;
  for (int f; (f = v8i.fetch_and_clear_interrupts(stack_guard, kAnyEffect)) != 0;) flags |= f;
  return flags;
}

// Requests again every interrupt of `flags` (taken by TakeAllInterrupts()).
inline void RequestInterrupts(void* stack_guard, int flags) {
  for (int bit = 1; bit != 0 && bit <= flags; bit <<= 1) {
    if (flags & bit) v8i.request_interrupt(stack_guard, bit);
  }
}

// --- V8 layouts stackful mirrors -------------------------------------------

// Laid out as v8::internal::ThreadState { ThreadId id_; char* data_;
// ThreadState* next_; ThreadState* previous_; ThreadManager* thread_manager_; }
// on every supported line (checked in the disassembly of ThreadState::Unlink
// and LinkInto of Node 20, 22, 24 and 26; proven at load by
// ThreadArchive::Init() and V8State's ProbeThreadList()), followed by
// stackful's own fields, which V8 never reads.
struct ArchivedThread {
  int32_t id = -1;
  char* data = nullptr;
  ArchivedThread* next = nullptr;
  ArchivedThread* previous = nullptr;
  void* manager = nullptr;
  // Ours: tells our entries in V8's list from V8's own, and whose they are.
  uint64_t magic = 0;
  Fiber* owner = nullptr;
};
static_assert(offsetof(ArchivedThread, next) == 0x10 && offsetof(ArchivedThread, manager) == 0x20,
              "ArchivedThread must start as v8::internal::ThreadState");

constexpr uint64_t kArchivedThreadMagic = 0x73746b66756c5453;  // "STlufkts"

// V8's handle blocks are 1,022 pointers (proven at load:
// ThreadArchive::ProveBlocksOnStacks()).
constexpr size_t kHandleBlockBytes = 1022 * sizeof(void*);
// HandleScopeData {Address* next, *limit; int level, sealed_level}.
constexpr size_t kHandleScopeDataSize = 24;

// v8::internal::Cancelable { vtable; CancelableTaskManager* parent_;
// std::atomic<Status> status_; Id id_; } and the start of
// CancelableTaskManager { Id task_id_counter_; std::unordered_map<Id,
// Cancelable*> cancelable_tasks_; ... } on every supported line (V8's
// src/tasks/cancelable-task.h), the table as libstdc++ lays it out (Node's
// Linux builds): buckets, bucket count, the first node, the element count,
// the rehash policy (max load factor 1.0 unless changed), the single bucket;
// a node { next; key; value } (a std::hash<uint64_t> key's hash is not
// cached). Only read, and only in wasm_code_gc.cc, where each object found
// is checked against what points at it before V8's own TryAbort() is called.
struct CancelableMirror {
  const void* vtable;
  void* manager;
  int32_t status;
  uint64_t id;
};
struct TaskMapNodeMirror {
  const TaskMapNodeMirror* next;
  uint64_t id;
  const CancelableMirror* task;
};
struct TaskManagerMirror {
  uint64_t id_counter;
  void* buckets;
  size_t bucket_count;
  const TaskMapNodeMirror* first;
  size_t count;
  float max_load_factor;
  size_t next_resize;
  void* single_bucket;
};
constexpr int32_t kCancelableWaiting = 0;  // Cancelable::kWaiting
constexpr int kTaskAborted = 2;            // TryAbortResult::kTaskAborted

// --- the async context ------------------------------------------------------

// Continuation-preserved embedder data: the async context that promise
// reactions carry, and where AsyncLocalStorage keeps its stores on Node 24+
// (22 with --experimental-async-context-frame). It belongs to the isolate, not
// to V8's per-thread state, so stackful keeps one per fiber (async_context.h).
// V8 11.3 has none.
#if V8_MAJOR_VERSION >= 14
#define STACKFUL_HAS_ASYNC_CONTEXT 1
using AsyncContext = v8::Data;
#define STACKFUL_ASYNC_CONTEXT_API(verb) verb##ContinuationPreservedEmbedderDataV2
#elif V8_MAJOR_VERSION >= 12
#define STACKFUL_HAS_ASYNC_CONTEXT 1
using AsyncContext = v8::Value;
#define STACKFUL_ASYNC_CONTEXT_API(verb) verb##ContinuationPreservedEmbedderData
#else
#define STACKFUL_HAS_ASYNC_CONTEXT 0
using AsyncContext = v8::Value;  // never set: 11.3 has no async context to keep
#endif

#if STACKFUL_HAS_ASYNC_CONTEXT
inline v8::Local<AsyncContext> GetAsyncContext(v8::Isolate* isolate) { return isolate->STACKFUL_ASYNC_CONTEXT_API(Get)(); }
inline void SetAsyncContext(v8::Isolate* isolate, v8::Local<AsyncContext> data) {
  isolate->STACKFUL_ASYNC_CONTEXT_API(Set)(data);
}
inline bool IsUnset(v8::Local<AsyncContext> data) {
  return data.IsEmpty() || (data->IsValue() && data.As<v8::Value>()->IsUndefined());
}
#endif

}  // namespace stackful

#endif  // STACKFUL_V8_LINES_H_
