#include "v8_lines.h"

#include <cstring>

#include "elf_symbols.h"

namespace stackful {

const Profile& ProfileFor(const char* version) {
  for (const Profile& p : kProfiles) {
    const size_t n = strlen(p.line);
    if (strncmp(version, p.line, n) == 0 && version[n] == '.') return p;
  }
  return kProfiles[sizeof(kProfiles) / sizeof(kProfiles[0]) - 1];
}

V8Internals v8i;

namespace {

// Every V8 internal stackful calls by name, with the mangled names the
// supported lines give it (first match wins), and which part needs it.
struct Internal {
  Need need;
  SymbolEntry entry;
};

template <typename F>
void** Slot(F* field) {
  return reinterpret_cast<void**>(const_cast<void*>(reinterpret_cast<const void*>(field)));
}

#define STACKFUL_V8I "v8::internal::"
Internal kInternals[] = {
    {Need::kCore, {STACKFUL_V8I "ThreadId::TryGetCurrent()", {"_ZN2v88internal8ThreadId13TryGetCurrentEv"}, Slot(&v8i.try_get_current)}},
    {Need::kCore, {STACKFUL_V8I "ThreadId::GetCurrentThreadId()", {"_ZN2v88internal8ThreadId18GetCurrentThreadIdEv"}, Slot(&v8i.get_current_thread_id)}},
    {Need::kCore,
     {STACKFUL_V8I "StackGuard::FetchAndClearInterrupts()",
      {"_ZN2v88internal10StackGuard23FetchAndClearInterruptsEv",                                   // 11.3
       "_ZN2v88internal10StackGuard23FetchAndClearInterruptsENS1_14InterruptLevelE"},              // 12.x
      Slot(&v8i.fetch_and_clear_interrupts)}},
    {Need::kCore,
     {STACKFUL_V8I "StackGuard::RequestInterrupt()", {"_ZN2v88internal10StackGuard16RequestInterruptENS1_13InterruptFlagE"},
      Slot(&v8i.request_interrupt)}},
    {Need::kCore, {"v8::base::Stack::GetStackStart()", {"_ZN2v84base5Stack13GetStackStartEv"}, Slot(&v8i.get_stack_start)}},
    {Need::kCore,
     {"heap::base::Stack::IteratePointers[ForTesting]()",
      {"_ZNK4heap4base5Stack15IteratePointersEPNS0_12StackVisitorE",           // 11.3
       "_ZN4heap4base5Stack25IteratePointersForTestingEPNS0_12StackVisitorE"},  // 12.x
      Slot(&v8i.iterate_pointers)}},
    {Need::kCore, {STACKFUL_V8I "CppHeap::stack()", {"_ZN2v88internal7CppHeap5stackEv"}, Slot(&v8i.cpp_heap_stack)}},
    {Need::kCore, {"vtable for v8::internal::CppHeap", {"_ZTVN2v88internal7CppHeapE"}, Slot(&v8i.cpp_heap_vtable)}},
    {Need::kSegments,
     {"heap::base::Stack::AddStackSegment()", {"_ZN4heap4base5Stack15AddStackSegmentEPKvS3_"}, Slot(&v8i.add_stack_segment)}},
    {Need::kSegments,
     {"heap::base::Stack::ClearStackSegments()", {"_ZN4heap4base5Stack18ClearStackSegmentsEv"}, Slot(&v8i.clear_stack_segments)}},
    {Need::kCallback,
     {STACKFUL_V8I "Isolate::IterateRegistersAndStackOfSimulator()",
      {"_ZN2v88internal7Isolate35IterateRegistersAndStackOfSimulatorEPN4heap4base12StackVisitorE"}, Slot(&v8i.default_scan_callback)}},

    {Need::kArchive,
     {STACKFUL_V8I "HandleScopeImplementer::ArchiveThread(char*)", {"_ZN2v88internal22HandleScopeImplementer13ArchiveThreadEPc"},
      Slot(&v8i.hsi_archive)}},
    {Need::kArchive,
     {STACKFUL_V8I "HandleScopeImplementer::RestoreThread(char*)", {"_ZN2v88internal22HandleScopeImplementer13RestoreThreadEPc"},
      Slot(&v8i.hsi_restore)}},
    {Need::kArchive,
     {STACKFUL_V8I "HandleScope::DeleteExtensions(Isolate*)", {"_ZN2v88internal11HandleScope16DeleteExtensionsEPNS0_7IsolateE"},
      Slot(&v8i.delete_extensions)}},
    {Need::kArchive,
     {STACKFUL_V8I "HandleScopeImplementer::ArchiveSpacePerThread()",
      {"_ZN2v88internal22HandleScopeImplementer21ArchiveSpacePerThreadEv"}, Slot(&v8i.hsi_size)}},
    {Need::kArchive,
     {STACKFUL_V8I "HandleScopeImplementer::FreeThreadResources()", {"_ZN2v88internal22HandleScopeImplementer19FreeThreadResourcesEv"},
      Slot(&v8i.hsi_free)}},
    {Need::kArchive,
     {STACKFUL_V8I "Isolate::ArchiveThread(char*)", {"_ZN2v88internal7Isolate13ArchiveThreadEPc"}, Slot(&v8i.isolate_archive)}},
    {Need::kArchive,
     {STACKFUL_V8I "Isolate::RestoreThread(char*)", {"_ZN2v88internal7Isolate13RestoreThreadEPc"}, Slot(&v8i.isolate_restore)}},
    {Need::kArchive,
     {STACKFUL_V8I "Isolate::InitializeThreadLocal()", {"_ZN2v88internal7Isolate21InitializeThreadLocalEv"},
      Slot(&v8i.initialize_thread_local)}},
    {Need::kArchive,
     {STACKFUL_V8I "Relocatable::ArchiveState(Isolate*, char*)", {"_ZN2v88internal11Relocatable12ArchiveStateEPNS0_7IsolateEPc"},
      Slot(&v8i.relocatable_archive)}},
    {Need::kArchive,
     {STACKFUL_V8I "Relocatable::RestoreState(Isolate*, char*)", {"_ZN2v88internal11Relocatable12RestoreStateEPNS0_7IsolateEPc"},
      Slot(&v8i.relocatable_restore)}},
    {Need::kArchive,
     {STACKFUL_V8I "Relocatable::ArchiveSpacePerThread()", {"_ZN2v88internal11Relocatable21ArchiveSpacePerThreadEv"},
      Slot(&v8i.relocatable_size)}},
    {Need::kArchive,
     {STACKFUL_V8I "StackGuard::ArchiveStackGuard(char*)", {"_ZN2v88internal10StackGuard17ArchiveStackGuardEPc"},
      Slot(&v8i.stack_guard_archive)}},
    {Need::kArchive,
     {STACKFUL_V8I "StackGuard::RestoreStackGuard(char*)", {"_ZN2v88internal10StackGuard17RestoreStackGuardEPc"},
      Slot(&v8i.stack_guard_restore)}},
    {Need::kArchive, {STACKFUL_V8I "Debug::ArchiveDebug(char*)", {"_ZN2v88internal5Debug12ArchiveDebugEPc"}, Slot(&v8i.debug_archive)}},
    {Need::kArchive, {STACKFUL_V8I "Debug::RestoreDebug(char*)", {"_ZN2v88internal5Debug12RestoreDebugEPc"}, Slot(&v8i.debug_restore)}},
    {Need::kArchive,
     {STACKFUL_V8I "Debug::ArchiveSpacePerThread()", {"_ZN2v88internal5Debug21ArchiveSpacePerThreadEv"}, Slot(&v8i.debug_size)}},
    {Need::kArchive, {STACKFUL_V8I "Debug::ThreadInit()", {"_ZN2v88internal5Debug10ThreadInitEv"}, Slot(&v8i.debug_thread_init)}},
    {Need::kArchive,
     {STACKFUL_V8I "ExternalReference::handle_scope_implementer_address(Isolate*)",
      {"_ZN2v88internal17ExternalReference32handle_scope_implementer_addressEPNS0_7IsolateE"}, Slot(&v8i.hsi_address)}},
    {Need::kArchive,
     {STACKFUL_V8I "ExternalReference::debug_is_active_address(Isolate*)",
      {"_ZN2v88internal17ExternalReference23debug_is_active_addressEPNS0_7IsolateE"}, Slot(&v8i.debug_is_active_address)}},
    {Need::kArchive,
     {STACKFUL_V8I "ExternalReference::debug_suspended_generator_address(Isolate*)",
      {"_ZN2v88internal17ExternalReference33debug_suspended_generator_addressEPNS0_7IsolateE"},
      Slot(&v8i.debug_suspended_generator_address)}},
    {Need::kArchive,
     {STACKFUL_V8I "ThreadManager::FirstThreadStateInUse()", {"_ZN2v88internal13ThreadManager21FirstThreadStateInUseEv"},
      Slot(&v8i.first_in_use)}},
    {Need::kArchive,
     {STACKFUL_V8I "ExternalReference::handle_scope_next_address(Isolate*)",
      {"_ZN2v88internal17ExternalReference25handle_scope_next_addressEPNS0_7IsolateE"}, Slot(&v8i.handle_scope_next_address)}},
    {Need::kArchive,
     {STACKFUL_V8I "ExternalReference::handle_scope_limit_address(Isolate*)",
      {"_ZN2v88internal17ExternalReference26handle_scope_limit_addressEPNS0_7IsolateE"}, Slot(&v8i.handle_scope_limit_address)}},
    {Need::kArchive,
     {STACKFUL_V8I "ExternalReference::handle_scope_level_address(Isolate*)",
      {"_ZN2v88internal17ExternalReference26handle_scope_level_addressEPNS0_7IsolateE"}, Slot(&v8i.handle_scope_level_address)}},

    {Need::kWasmTasks,
     {"vtable for v8::internal::wasm::(anonymous namespace)::WasmGCForegroundTask",
      {"_ZTVN2v88internal4wasm12_GLOBAL__N_120WasmGCForegroundTaskE"}, Slot(&v8i.wasm_gc_task_vtable)}},
    {Need::kWasmTasks,
     {STACKFUL_V8I "CancelableTask::CancelableTask(Isolate*)", {"_ZN2v88internal14CancelableTaskC2EPNS0_7IsolateE"},
      Slot(&v8i.cancelable_task_ctor)}},
    {Need::kWasmTasks,
     {STACKFUL_V8I "CancelableTaskManager::TryAbort(Id)", {"_ZN2v88internal21CancelableTaskManager8TryAbortEm"},
      Slot(&v8i.try_abort)}},
};
#undef STACKFUL_V8I

constexpr size_t kInternalCount = sizeof(kInternals) / sizeof(kInternals[0]);

}  // namespace

void ResolveInternals() {
  static const bool resolved = [] {
    SymbolEntry entries[kInternalCount];
    for (size_t k = 0; k < kInternalCount; ++k) entries[k] = kInternals[k].entry;
    ResolveSymbols(entries, kInternalCount);
    return true;
  }();
  (void)resolved;
}

const char* MissingInternal(Need need) {
  for (const Internal& i : kInternals) {
    if (i.need == need && *i.entry.slot == nullptr) return i.entry.readable;
  }
  return nullptr;
}

}  // namespace stackful
