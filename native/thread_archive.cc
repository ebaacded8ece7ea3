#include "thread_archive.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <v8.h>

#include "arch/cpu.h"
#include "elf_symbols.h"

namespace stackful {
namespace {

// --- V8's archive functions ---------------------------------------------------

using ArchiveFn = char* (*)(void* self, char* storage);     // members: this, storage
using SizeFn = int (*)();                                    // static ArchiveSpacePerThread()
using MemberFn = void (*)(void* self);
using AddressFn = void* (*)(void* isolate);  // an ExternalReference: one Address, returned in a register
using FirstStateFn = ArchivedThread* (*)(void* thread_manager);

struct Api {
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
  FirstStateFn first_in_use = nullptr;
  AddressFn handle_scope_next_address = nullptr;
  AddressFn handle_scope_limit_address = nullptr;
  AddressFn handle_scope_level_address = nullptr;
};

Api api;
std::vector<SymbolEntry> entries;

template <typename F>
void Want(const char* readable, const char* mangled, F* slot) {
  entries.push_back({readable, {mangled, nullptr}, reinterpret_cast<void**>(slot)});
}

void ResolveApi() {
  Want("HandleScopeImplementer::ArchiveThread(char*)", "_ZN2v88internal22HandleScopeImplementer13ArchiveThreadEPc", &api.hsi_archive);
  Want("HandleScopeImplementer::RestoreThread(char*)", "_ZN2v88internal22HandleScopeImplementer13RestoreThreadEPc", &api.hsi_restore);
  Want("HandleScope::DeleteExtensions(Isolate*)", "_ZN2v88internal11HandleScope16DeleteExtensionsEPNS0_7IsolateE",
       &api.delete_extensions);
  Want("HandleScopeImplementer::ArchiveSpacePerThread()", "_ZN2v88internal22HandleScopeImplementer21ArchiveSpacePerThreadEv", &api.hsi_size);
  Want("HandleScopeImplementer::FreeThreadResources()", "_ZN2v88internal22HandleScopeImplementer19FreeThreadResourcesEv", &api.hsi_free);
  Want("Isolate::ArchiveThread(char*)", "_ZN2v88internal7Isolate13ArchiveThreadEPc", &api.isolate_archive);
  Want("Isolate::RestoreThread(char*)", "_ZN2v88internal7Isolate13RestoreThreadEPc", &api.isolate_restore);
  Want("Isolate::InitializeThreadLocal()", "_ZN2v88internal7Isolate21InitializeThreadLocalEv", &api.initialize_thread_local);
  Want("Relocatable::ArchiveState(Isolate*, char*)", "_ZN2v88internal11Relocatable12ArchiveStateEPNS0_7IsolateEPc", &api.relocatable_archive);
  Want("Relocatable::RestoreState(Isolate*, char*)", "_ZN2v88internal11Relocatable12RestoreStateEPNS0_7IsolateEPc", &api.relocatable_restore);
  Want("Relocatable::ArchiveSpacePerThread()", "_ZN2v88internal11Relocatable21ArchiveSpacePerThreadEv", &api.relocatable_size);
  Want("StackGuard::ArchiveStackGuard(char*)", "_ZN2v88internal10StackGuard17ArchiveStackGuardEPc", &api.stack_guard_archive);
  Want("StackGuard::RestoreStackGuard(char*)", "_ZN2v88internal10StackGuard17RestoreStackGuardEPc", &api.stack_guard_restore);
  Want("Debug::ArchiveDebug(char*)", "_ZN2v88internal5Debug12ArchiveDebugEPc", &api.debug_archive);
  Want("Debug::RestoreDebug(char*)", "_ZN2v88internal5Debug12RestoreDebugEPc", &api.debug_restore);
  Want("Debug::ArchiveSpacePerThread()", "_ZN2v88internal5Debug21ArchiveSpacePerThreadEv", &api.debug_size);
  Want("Debug::ThreadInit()", "_ZN2v88internal5Debug10ThreadInitEv", &api.debug_thread_init);
  Want("ExternalReference::handle_scope_implementer_address(Isolate*)",
       "_ZN2v88internal17ExternalReference32handle_scope_implementer_addressEPNS0_7IsolateE", &api.hsi_address);
  Want("ExternalReference::debug_is_active_address(Isolate*)",
       "_ZN2v88internal17ExternalReference23debug_is_active_addressEPNS0_7IsolateE", &api.debug_is_active_address);
  Want("ExternalReference::debug_suspended_generator_address(Isolate*)",
       "_ZN2v88internal17ExternalReference33debug_suspended_generator_addressEPNS0_7IsolateE",
       &api.debug_suspended_generator_address);
  Want("ThreadManager::FirstThreadStateInUse()", "_ZN2v88internal13ThreadManager21FirstThreadStateInUseEv", &api.first_in_use);
  Want("ExternalReference::handle_scope_next_address(Isolate*)",
       "_ZN2v88internal17ExternalReference25handle_scope_next_addressEPNS0_7IsolateE", &api.handle_scope_next_address);
  Want("ExternalReference::handle_scope_limit_address(Isolate*)",
       "_ZN2v88internal17ExternalReference26handle_scope_limit_addressEPNS0_7IsolateE", &api.handle_scope_limit_address);
  Want("ExternalReference::handle_scope_level_address(Isolate*)",
       "_ZN2v88internal17ExternalReference26handle_scope_level_addressEPNS0_7IsolateE", &api.handle_scope_level_address);
  ResolveSymbols(entries.data(), entries.size());
}

const char* MissingApi() {
  for (const SymbolEntry& e : entries) {
    if (*e.slot == nullptr) return e.readable;
  }
  return nullptr;
}

// Bytes read (SafeRead) or copied at a time: a window, not the page size, which
// is 4, 16 or 64 KiB on arm64 and read at run time where it matters (stack.cc).
constexpr size_t kWindow = 4096;
constexpr size_t kHandleScopeDataSize = 24;  // HandleScopeData {Address* next, *limit; int level, sealed_level}
constexpr size_t kMaxIsolate = 256 * 1024;  // how far into the isolate its fields are looked for

// The copies of a switch are small (24 to 232 bytes) and their sizes are
// known only at load: copied inline, 16 bytes at a time, rather than through
// a call into libc's memcpy for each piece.
__attribute__((always_inline)) inline void CopySmall(void* to, const void* from, size_t bytes) {
  char* d = static_cast<char*>(to);
  const char* s = static_cast<const char*>(from);
  size_t i = 0;
  for (; i + 64 <= bytes; i += 64) __builtin_memcpy(d + i, s + i, 64);
  for (; i + 16 <= bytes; i += 16) __builtin_memcpy(d + i, s + i, 16);
  if (i + 8 <= bytes) {
    __builtin_memcpy(d + i, s + i, 8);
    i += 8;
  }
  for (; i < bytes; ++i) d[i] = s[i];
}

// Calls `visit(word)` for every word of the isolate's first kMaxIsolate bytes.
template <typename Visit>
void ForEachIsolateWord(void* isolate, Visit visit) {
  std::vector<uintptr_t> page(kWindow / sizeof(uintptr_t));
  for (size_t offset = 0; offset < kMaxIsolate; offset += kWindow) {
    if (!SafeRead(static_cast<char*>(isolate) + offset, page.data(), kWindow)) return;
    for (uintptr_t word : page) visit(word);
  }
}

// A copy of the isolate's first kMaxIsolate bytes (zeros where unreadable),
// with room past the end.
std::vector<uintptr_t> CopyIsolate(void* isolate) {
  std::vector<uintptr_t> copy((kMaxIsolate + kWindow) / sizeof(uintptr_t), 0);
  for (size_t offset = 0; offset < kMaxIsolate; offset += kWindow) {
    if (!SafeRead(static_cast<char*>(isolate) + offset, copy.data() + offset / sizeof(uintptr_t), kWindow)) break;
  }
  return copy;
}

bool PlausiblePointer(uintptr_t p) { return p >= 0x10000 && p % 8 == 0 && cpu::IsUserAddress(p); }

bool IsAnchor(const ArchivedThread& t, uintptr_t manager) {
  return t.id == -1 && reinterpret_cast<uintptr_t>(t.manager) == manager;
}

}  // namespace

// The ThreadManager holds, in this order, its free anchor, its in-use anchor
// and the isolate; both anchors are ThreadStates with an invalid id that point
// back at it. The isolate holds a pointer to it.
ArchivedThread* FindInUseAnchor(void* isolate) {
  constexpr size_t kManagerWords = 24;
  const uintptr_t self = reinterpret_cast<uintptr_t>(isolate);
  ArchivedThread* found = nullptr;
  bool ambiguous = false;
  ForEachIsolateWord(isolate, [&](uintptr_t candidate) {
    if (!PlausiblePointer(candidate) || candidate % 16 != 0 || candidate == self) return;
    uintptr_t manager[kManagerWords];
    if (!SafeRead(reinterpret_cast<void*>(candidate), manager, sizeof(manager))) return;
    for (size_t k = 2; k < kManagerWords; ++k) {
      if (manager[k] != self) continue;
      ArchivedThread free_anchor, in_use_anchor;  // only their V8 part is read
      constexpr size_t kStateSize = offsetof(ArchivedThread, magic);
      if (!PlausiblePointer(manager[k - 2]) || !PlausiblePointer(manager[k - 1]) ||
          !SafeRead(reinterpret_cast<void*>(manager[k - 2]), &free_anchor, kStateSize) ||
          !SafeRead(reinterpret_cast<void*>(manager[k - 1]), &in_use_anchor, kStateSize)) continue;
      if (!IsAnchor(free_anchor, candidate) || !IsAnchor(in_use_anchor, candidate)) continue;
      ArchivedThread* anchor = reinterpret_cast<ArchivedThread*>(manager[k - 1]);
      if (found != nullptr && found != anchor) ambiguous = true;
      found = anchor;
    }
  });
  return ambiguous ? nullptr : found;
}

bool ThreadArchive::PrepareToFree(void* isolate) {
  static const bool resolved = (ResolveApi(), true);
  (void)resolved;
  if (hsi_ != nullptr && anchor_ != nullptr) return true;  // Init() got that far
  if (MissingApi() != nullptr) return false;
  void* hsi = nullptr;
  void* back = nullptr;
  if (!SafeRead(api.hsi_address(isolate), &hsi, sizeof(hsi)) || !PlausiblePointer(reinterpret_cast<uintptr_t>(hsi)) ||
      !SafeRead(hsi, &back, sizeof(back)) || back != isolate) {
    return false;
  }
  ArchivedThread* anchor = FindInUseAnchor(isolate);
  if (anchor == nullptr || api.first_in_use(anchor->manager) != (anchor->next == anchor ? nullptr : anchor->next)) return false;
  isolate_ = isolate;
  hsi_ = hsi;
  hsi_size_ = static_cast<size_t>(api.hsi_size());
  anchor_ = anchor;
  return true;
}

bool ThreadArchive::Init(void* isolate, void* stack_guard, int32_t thread_id, std::string* reason) {
  static const bool resolved = (ResolveApi(), true);
  (void)resolved;
  if (const char* missing = MissingApi()) {
    *reason = std::string("V8 internal not found in this Node binary: v8::internal::") + missing;
    return false;
  }
  isolate_ = isolate;
  thread_id_ = thread_id;
  v8::Isolate* v8_isolate = static_cast<v8::Isolate*>(isolate);

  // The HandleScopeImplementer: the isolate's field, whose first member points back.
  void* hsi = nullptr;
  void* back = nullptr;
  if (!SafeRead(api.hsi_address(isolate), &hsi, sizeof(hsi)) || !PlausiblePointer(reinterpret_cast<uintptr_t>(hsi)) ||
      !SafeRead(hsi, &back, sizeof(back)) || back != isolate) {
    *reason = "the isolate's HandleScopeImplementer was not found";
    return false;
  }
  hsi_ = hsi;
  hsi_size_ = static_cast<size_t>(api.hsi_size());
  relocatable_size_ = static_cast<size_t>(api.relocatable_size());
  debug_size_ = static_cast<size_t>(api.debug_size());

  // The Debug object: the isolate's field that debug_is_active_address()
  // reads, told apart from look-alikes by changing one candidate at a time in
  // a copy of the isolate (the function only adds an offset to the field).
  debug_is_active_ = static_cast<const bool*>(api.debug_is_active_address(isolate));
  {
    const uintptr_t active = reinterpret_cast<uintptr_t>(debug_is_active_);
    std::vector<uintptr_t> copy = CopyIsolate(isolate);
    constexpr uintptr_t kNudge = 0x1000;
    bool ambiguous = false;
    for (uintptr_t& word : copy) {
      if (!PlausiblePointer(word) || active < word || active - word >= 256) continue;
      word += kNudge;
      if (reinterpret_cast<uintptr_t>(api.debug_is_active_address(copy.data())) == active + kNudge) {
        if (debug_ != nullptr) ambiguous = true;
        debug_ = reinterpret_cast<void*>(word - kNudge);
      }
      word -= kNudge;
    }
    if (debug_ == nullptr || ambiguous) {
      *reason = "the isolate's Debug object was not found";
      return false;
    }
  }
  // Its thread_local_: the one block of the object that ArchiveDebug() copies
  // (it must hold the suspended-generator field). That field holds a marker
  // (a Smi: nothing here can start a GC, but it is a valid value anyway)
  // while the object is read and archived: in a fresh isolate (a new worker)
  // the block is mostly zeros and defaults, and without the marker it matched
  // at more than one offset in about one worker out of thirty on Node 24.
  {
    const uintptr_t generator = reinterpret_cast<uintptr_t>(api.debug_suspended_generator_address(isolate));
    uintptr_t* generator_slot = reinterpret_cast<uintptr_t*>(generator);
    constexpr uintptr_t kMarker = uintptr_t{0x5374466c} << 32;  // the Smi 0x5374466c
    std::vector<char> object(kWindow), copy(kWindow);
    const uintptr_t saved = *generator_slot;
    *generator_slot = kMarker;
    const bool read = SafeRead(debug_, object.data(), kWindow);
    char* archived_end = api.debug_archive(debug_, copy.data());
    *generator_slot = saved;
    if (debug_size_ == 0 || debug_size_ > kWindow / 2 || !read || archived_end != copy.data() + debug_size_) {
      *reason = "Debug::ArchiveDebug() has an unexpected size";
      return false;
    }
    int matches = 0;
    for (size_t k = 0; k + debug_size_ <= kWindow; k += 8) {
      const uintptr_t at = reinterpret_cast<uintptr_t>(debug_) + k;
      if (generator < at || generator >= at + debug_size_) continue;
      if (memcmp(object.data() + k, copy.data(), debug_size_) != 0) continue;
      ++matches;
      debug_thread_local_ = static_cast<char*>(debug_) + k;
    }
    const uintptr_t block = reinterpret_cast<uintptr_t>(debug_thread_local_);
    if (matches != 1 || generator < block || generator >= block + debug_size_) {
      *reason = "Debug::thread_local_ could not be told apart in the Debug object";
      return false;
    }
  }

  // The StackGuard's archive size, from a round trip; the guard itself stays.
  {
    std::vector<char> scratch(kWindow);
    char* end = api.stack_guard_archive(stack_guard, scratch.data());
    char* restored = api.stack_guard_restore(stack_guard, scratch.data());
    if (end != restored || end <= scratch.data() || end > scratch.data() + kWindow / 2) {
      *reason = "StackGuard::ArchiveStackGuard() has an unexpected size";
      return false;
    }
    stack_guard_size_ = static_cast<size_t>(end - scratch.data());
  }

  // V8's list of archived threads: our entry shows up first in it.
  anchor_ = FindInUseAnchor(isolate);
  if (anchor_ == nullptr) {
    *reason = "V8's list of archived threads (ThreadManager) was not found in the isolate";
    return false;
  }
  void* manager = anchor_->manager;
  ArchivedThread* first = api.first_in_use(manager);
  if (first != (anchor_->next == anchor_ ? nullptr : anchor_->next)) {
    *reason = "ThreadManager::FirstThreadStateInUse() does not read the list that was found";
    return false;
  }

  // A round trip of the running state through V8's archive functions: while
  // it is archived, V8 has no handle scope and no context, and both are back
  // after. It also measures the ThreadLocalTop.
  const int handles = v8::HandleScope::NumberOfHandles(v8_isolate);
  const bool in_context = v8_isolate->InContext();
  std::vector<char> scratch(4 * kWindow);
  // Handle scopes by copy: ArchiveThread() stores the isolate's
  // HandleScopeData {next, limit, level, sealed_level} into a member and
  // copies the object; RestoreThread() copies it back and sets the isolate's
  // data from that member. The member is found in V8's own archive, and a
  // copy made by hand must equal that archive byte for byte.
  char* data = static_cast<char*>(api.handle_scope_next_address(isolate));
  const bool data_layout = static_cast<char*>(api.handle_scope_limit_address(isolate)) == data + 8 &&
                           static_cast<char*>(api.handle_scope_level_address(isolate)) == data + 16;
  std::vector<char> by_hand(hsi_size_), current(kHandleScopeDataSize);
  memcpy(by_hand.data(), hsi_, hsi_size_);
  memcpy(current.data(), data, kHandleScopeDataSize);
  char* after_hsi = api.hsi_archive(hsi_, scratch.data());
  int members = 0;
  for (size_t k = 0; data_layout && k + kHandleScopeDataSize <= hsi_size_; k += 8) {
    if (memcmp(scratch.data() + k, current.data(), kHandleScopeDataSize) != 0) continue;
    ++members;
    data_in_hsi_ = k;
  }
  if (members == 1) {
    memcpy(by_hand.data() + data_in_hsi_, current.data(), kHandleScopeDataSize);
    if (memcmp(by_hand.data(), scratch.data(), hsi_size_) == 0) handle_scope_data_ = data;
  }
  char* after_top = api.isolate_archive(isolate, after_hsi);
  const int handles_archived = v8::HandleScope::NumberOfHandles(v8_isolate);
  api.initialize_thread_local(isolate);
  const bool context_archived = v8_isolate->InContext();
  const bool restored = api.isolate_restore(isolate, after_hsi) == after_top &&
                        api.hsi_restore(hsi_, scratch.data()) == after_hsi;
  top_size_ = static_cast<size_t>(after_top - after_hsi);
  if (after_hsi != scratch.data() + hsi_size_ || !restored || top_size_ == 0 || top_size_ > 2 * kWindow ||
      handles == 0 || !in_context || handles_archived != 0 || context_archived ||
      v8::HandleScope::NumberOfHandles(v8_isolate) != handles || !v8_isolate->InContext()) {
    *reason = "archiving and restoring the running thread through V8's functions did not behave as expected";
    return false;
  }
  data_size_ = hsi_size_ + top_size_ + relocatable_size_ + stack_guard_size_ + debug_size_;

  // The ThreadLocalTop by copy: Isolate::ArchiveThread() and RestoreThread()
  // copy it whole (in the disassembly of every supported line). It is the one
  // block of the isolate equal to what ArchiveThread() writes, and
  // RestoreThread() of a changed image must leave exactly that image there.
  {
    std::vector<uintptr_t> copy = CopyIsolate(isolate);
    const char* image = after_hsi;  // ArchiveThread()'s output, still in scratch
    const char* bytes = reinterpret_cast<const char*>(copy.data());
    int matches = 0;
    size_t at = 0;
    for (size_t k = 0; k + top_size_ <= kMaxIsolate; k += 8) {
      if (memcmp(bytes + k, image, top_size_) != 0) continue;
      ++matches;
      at = k;
    }
    if (matches == 1) {
      char* top = static_cast<char*>(isolate) + at;
      const std::vector<char> saved(top, top + top_size_);
      api.initialize_thread_local(isolate);  // another image, from V8 itself
      const std::vector<char> fresh(top, top + top_size_);
      auto restores_as_copy = [&](const std::vector<char>& from) {
        std::vector<char> input(from);  // RestoreThread() reads its own buffer
        api.isolate_restore(isolate, input.data());
        return memcmp(top, from.data(), top_size_) == 0;
      };
      const bool copies = restores_as_copy(saved) && restores_as_copy(fresh);
      const bool back = restores_as_copy(saved);  // the running state again
      if (back && copies && fresh != saved) top_ = top;
    }
  }

  // Relocatable's list head by copy: ArchiveState() stores the isolate's
  // relocatable_top and clears it, RestoreState() sets it (the same in the
  // disassembly of every supported line). It is the one isolate word that
  // RestoreState() of a marker sets, and ArchiveState() must read the marker
  // back from it and leave it clear.
  if (relocatable_size_ == sizeof(void*)) {
    void* running = nullptr;  // normally none: no Relocatable is alive here
    api.relocatable_archive(isolate, reinterpret_cast<char*>(&running));
    const std::vector<uintptr_t> clear = CopyIsolate(isolate);
    void* marker = reinterpret_cast<void*>(kArchivedThreadMagic & ~uintptr_t{7});
    api.relocatable_restore(isolate, reinterpret_cast<char*>(&marker));
    const std::vector<uintptr_t> marked = CopyIsolate(isolate);
    void* read = nullptr;
    api.relocatable_archive(isolate, reinterpret_cast<char*>(&read));
    int matches = 0;
    size_t at = 0;
    for (size_t k = 0; k < kMaxIsolate / sizeof(uintptr_t); ++k) {
      if (marked[k] == clear[k] || marked[k] != reinterpret_cast<uintptr_t>(marker)) continue;
      ++matches;
      at = k;
    }
    void** field = reinterpret_cast<void**>(isolate) + at;
    if (matches == 1 && clear[at] == 0 && read == marker && *field == nullptr) relocatable_top_ = field;
    api.relocatable_restore(isolate, reinterpret_cast<char*>(&running));
  }

  // The same through Save(), Begin() and Load(), with the entry listed while saved.
  ArchivedThread probe;
  Save(&probe);
  Begin(nullptr);
  const bool listed = api.first_in_use(manager) == &probe;
  const bool fresh = v8::HandleScope::NumberOfHandles(v8_isolate) == 0 && !v8_isolate->InContext();
  Load(&probe);
  Release(&probe);
  if (!listed || !fresh || api.first_in_use(manager) != first ||
      v8::HandleScope::NumberOfHandles(v8_isolate) != handles || !v8_isolate->InContext()) {
    *reason = "a fiber's archive was not listed by V8, or did not round-trip";
    return false;
  }
  ProveBlocksOnStacks(v8_isolate);  // optional: without it, V8 allocates every block
  return true;
}

// Handle blocks on fiber stacks (thread_archive.h). HandleScopeImplementer's
// spare block is the one word of it that holds the block a fresh thread
// state's first handle scope took, once that scope has closed. With that word
// set to a block of ours, V8 must put the next fresh state's first handles in
// it, and give it back to that word when the scope closes.
bool ThreadArchive::ProveBlocksOnStacks(v8::Isolate* isolate) {
  const char* data = static_cast<const char*>(api.handle_scope_next_address(isolate_));  // next, limit
  auto next = [&] { return *reinterpret_cast<const uintptr_t*>(data); };
  auto limit = [&] { return *reinterpret_cast<const uintptr_t*>(data + sizeof(uintptr_t)); };
  auto one_handle = [&](uintptr_t* seen_next, uintptr_t* seen_limit) {
    v8::HandleScope scope(isolate);
    v8::Local<v8::Number> held = v8::Number::New(isolate, 0.5);  // needs no context
    (void)held;
    *seen_next = next();
    *seen_limit = limit();
  };
  ArchivedThread probe;
  Save(&probe);
  Begin(nullptr);
  uintptr_t first_next = 0, first_limit = 0;
  one_handle(&first_next, &first_limit);
  const uintptr_t v8_block = first_limit - kHandleBlockBytes;
  int matches = 0;
  size_t offset = 0;
  for (size_t k = sizeof(void*); k + sizeof(void*) <= hsi_size_; k += sizeof(void*)) {
    if (*reinterpret_cast<const uintptr_t*>(static_cast<const char*>(hsi_) + k) != v8_block) continue;
    ++matches;
    offset = k;
  }
  bool proven = false;
  if (first_next > v8_block && first_next <= first_limit && matches == 1) {
    spare_block_offset_ = offset;
    Drop(nullptr);
    uintptr_t* ours = new uintptr_t[kHandleBlockBytes / sizeof(uintptr_t)];
    Begin(ours);  // frees V8's block, as a fiber's Begin() does
    uintptr_t our_next = 0, our_limit = 0;
    one_handle(&our_next, &our_limit);
    const uintptr_t start = reinterpret_cast<uintptr_t>(ours);
    const bool used = our_next > start && our_limit == start + kHandleBlockBytes;
    void*& spare = SpareBlock();
    proven = used && spare == ours;
    if (spare == ours) {
      spare = nullptr;
      delete[] ours;
    }  // else V8 has freed it as a spare block (DeleteArray), or keeps it: not ours to free
  }
  Drop(nullptr);
  Load(&probe);
  Release(&probe);
  if (!proven) spare_block_offset_ = 0;
  return proven;
}

ThreadArchive::~ThreadArchive() {
  free(spare_);
  free(discard_);
}

inline char* ThreadArchive::ArchiveHandleScopes(char* to) {
  if (handle_scope_data_ == nullptr) return api.hsi_archive(hsi_, to);
  // As ArchiveThread(), but the implementer is not reset: Begin() or Load()
  // replaces it before anything uses it.
  CopySmall(to, hsi_, hsi_size_);
  CopySmall(to + data_in_hsi_, handle_scope_data_, kHandleScopeDataSize);
  return to + hsi_size_;
}

inline char* ThreadArchive::RestoreHandleScopes(char* from) {
  if (handle_scope_data_ == nullptr) return api.hsi_restore(hsi_, from);
  CopySmall(hsi_, from, hsi_size_);
  CopySmall(handle_scope_data_, from + data_in_hsi_, kHandleScopeDataSize);
  return from + hsi_size_;
}

void ThreadArchive::Save(ArchivedThread* t) {
  if (t->data == nullptr) t->data = static_cast<char*>(calloc(1, data_size_));
  char* p = ArchiveHandleScopes(t->data);
  if (top_ != nullptr) {
    CopySmall(p, top_, top_size_);
    p += top_size_;
  } else {
    p = api.isolate_archive(isolate_, p);
  }
  if (relocatable_top_ != nullptr) {
    *reinterpret_cast<void**>(p) = *relocatable_top_;
    *relocatable_top_ = nullptr;
    p += sizeof(void*);
  } else {
    p = api.relocatable_archive(isolate_, p);
  }
  p += stack_guard_size_;  // stays with the thread; V8's Iterate() skips it
  CopySmall(p, debug_thread_local_, debug_size_);  // what ArchiveDebug() does (proven in Init)
  t->id = thread_id_;
  t->manager = anchor_->manager;
  t->magic = kArchivedThreadMagic;
  t->previous = anchor_;
  t->next = anchor_->next;
  anchor_->next->previous = t;
  anchor_->next = t;
}

void ThreadArchive::Load(ArchivedThread* t) {
  Unlink(t);
  char* p = RestoreHandleScopes(t->data);
  if (top_ != nullptr) {
    CopySmall(top_, p, top_size_);
    p += top_size_;
  } else {
    p = api.isolate_restore(isolate_, p);
  }
  if (relocatable_top_ != nullptr) {
    *relocatable_top_ = *reinterpret_cast<void**>(p);
    p += sizeof(void*);
  } else {
    p = api.relocatable_restore(isolate_, p);
  }
  p += stack_guard_size_;
  // With a debugger attached, V8's own restore also reapplies breakpoints and
  // stepping for this fiber; without one, it is a copy.
  if (*debug_is_active_) {
    api.debug_restore(debug_, p);
  } else {
    CopySmall(debug_thread_local_, p, debug_size_);
  }
}

void ThreadArchive::Begin(void* block) {
  // A finished fiber's empty handle scope state, with its list capacity (and
  // its handle block, unless that was on its stack): no malloc/free pair for
  // each fiber created.
  if (has_spare_) {
    RestoreHandleScopes(spare_);
    has_spare_ = false;
  } else if (handle_scope_data_ != nullptr) {
    // Save() left the suspended fiber's scopes in place: start empty (what
    // ArchiveThread() writes is a copy of what Save() already keeps).
    if (discard_ == nullptr) discard_ = static_cast<char*>(malloc(hsi_size_));
    api.hsi_archive(hsi_, discard_);
  }
  api.initialize_thread_local(isolate_);
  api.debug_thread_init(debug_);
  if (block != nullptr) {
    // V8 takes its spare block first, when the fiber's first handle scope
    // needs one, and gives the block back there when that scope closes.
    void*& spare = SpareBlock();
    delete[] static_cast<uintptr_t*>(spare);  // as V8 frees blocks (DeleteArray)
    spare = block;
  }
}

void*& ThreadArchive::SpareBlock() {
  return *reinterpret_cast<void**>(static_cast<char*>(hsi_) + spare_block_offset_);
}

void ThreadArchive::Drop(void* block) {
  if (block != nullptr) {
    // The fiber's scopes are closed, so V8 has given its first block back:
    // it goes with the stack, never to V8's free.
    void*& spare = SpareBlock();
    if (spare != block) {
      fprintf(stderr, "stackful: a finished fiber's handle block on its stack was not given back by V8\n");
      abort();
    }
    spare = nullptr;
  }
  if (has_spare_) {
    api.hsi_free(hsi_);
    return;
  }
  if (spare_ == nullptr) spare_ = static_cast<char*>(calloc(1, hsi_size_));
  ArchiveHandleScopes(spare_);
  has_spare_ = true;
}

void ThreadArchive::FreeSpare() {
  if (!has_spare_) return;
  std::vector<char> running(hsi_size_);
  api.hsi_archive(hsi_, running.data());
  api.hsi_restore(hsi_, spare_);
  api.hsi_free(hsi_);
  api.hsi_restore(hsi_, running.data());
  has_spare_ = false;
}

void ThreadArchive::FreeAbandoned(ArchivedThread* t, void* first_block) {
  if (t->data == nullptr) return;
  // The running state aside, the fiber's in its place, then V8's own
  // functions free it as they free a thread's at its end: every handle block
  // after `first_block` (all of them without it), then the lists.
  std::vector<char> running(hsi_size_);
  api.hsi_archive(hsi_, running.data());
  api.hsi_restore(hsi_, t->data);
  void** limit = static_cast<void**>(api.handle_scope_limit_address(isolate_));
  *limit = first_block != nullptr ? static_cast<char*>(first_block) + kHandleBlockBytes : nullptr;
  api.delete_extensions(isolate_);
  api.hsi_free(hsi_);
  api.hsi_restore(hsi_, running.data());
}

void ThreadArchive::Unlink(ArchivedThread* t) {
  if (t->next == nullptr) return;
  t->next->previous = t->previous;
  t->previous->next = t->next;
  t->next = t->previous = nullptr;
}

void ThreadArchive::Release(ArchivedThread* t) {
  free(t->data);
  t->data = nullptr;
}

}  // namespace stackful
