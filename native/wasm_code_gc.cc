#include "wasm_code_gc.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "elf_symbols.h"
#include "v8_lines.h"

namespace stackful {
namespace {

// An object's vtable pointer points past the offset-to-top and the type info
// that open its vtable (Itanium C++ ABI).
const void* AddressPoint(const void* vtable) { return static_cast<const char*>(vtable) + 2 * sizeof(void*); }

// A bound on one table walk, far above what an isolate ever has registered.
constexpr size_t kMaxTasks = 1 << 16;

// A task of V8's own kind (CancelableTask, whose constructor registers it with
// the isolate's task manager) that stackful makes only to learn where the
// manager is, and takes out of its table again. Never run, never destroyed by
// V8. 64 bytes hold a CancelableTask on every line (40 on 64-bit).
struct alignas(16) Probe {
  CancelableMirror mirror;
  char rest[64 - sizeof(CancelableMirror)];
};

// Reads the task table of `manager` and collects the ids of the waiting wasm
// code GC tasks in it. Each entry must be a task that names `manager` as its
// manager under the entry's id, and the probe must be among them; false when
// not (another thread registered or finished a task during the read: tasks
// come and go on V8's worker threads too).
bool WaitingWasmTasks(uintptr_t manager, const Probe* probe, const void* wasm_task_vptr, std::vector<uint64_t>* ids) {
  TaskManagerMirror table;
  if (!SafeRead(reinterpret_cast<void*>(manager), &table, sizeof(table)) || table.max_load_factor != 1.0f ||
      table.count == 0 || table.count > kMaxTasks) {
    return false;
  }
  size_t seen = 0;
  bool probe_seen = false;
  for (const TaskMapNodeMirror* at = table.first; at != nullptr; ++seen) {
    TaskMapNodeMirror node;
    CancelableMirror task;
    if (seen == table.count || !PlausiblePointer(reinterpret_cast<uintptr_t>(at)) || !SafeRead(at, &node, sizeof(node)) ||
        !PlausiblePointer(reinterpret_cast<uintptr_t>(node.task)) || !SafeRead(node.task, &task, sizeof(task)) ||
        reinterpret_cast<uintptr_t>(task.manager) != manager || task.id != node.id) {
      return false;
    }
    probe_seen |= node.task == &probe->mirror;
    if (task.vtable == wasm_task_vptr && task.status == kCancelableWaiting) ids->push_back(node.id);
    at = node.next;
  }
  return seen == table.count && probe_seen;
}

}  // namespace

int CancelWasmCodeGcTasks(void* isolate) {
  ResolveInternals();
  if (MissingInternal(Need::kWasmTasks) != nullptr) return -1;
  // The probe is registered with the isolate's manager, which it then names.
  Probe* probe = new Probe();
  v8i.cancelable_task_ctor(probe, isolate);
  const uintptr_t manager = reinterpret_cast<uintptr_t>(probe->mirror.manager);
  const uint64_t probe_id = probe->mirror.id;
  if (!PlausiblePointer(manager)) return -1;  // the probe is kept: V8 may still point at it
  const void* wasm_task_vptr = AddressPoint(v8i.wasm_gc_task_vtable);
  std::vector<uint64_t> ids;
  bool read = false;
  for (int attempt = 0; attempt < 3 && !read; ++attempt) {
    ids.clear();
    read = WaitingWasmTasks(manager, probe, wasm_task_vptr, &ids);
  }
  int cancelled = 0;
  if (read) {
    for (uint64_t id : ids) cancelled += v8i.try_abort(reinterpret_cast<void*>(manager), id) == kTaskAborted;
  }
  // Out of the table again; should that fail, the manager still points at the
  // probe, which must then outlive it.
  if (v8i.try_abort(reinterpret_cast<void*>(manager), probe_id) == kTaskAborted) delete probe;
  return read ? cancelled : -1;
}

}  // namespace stackful
