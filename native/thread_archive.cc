#include "thread_archive.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <v8.h>

#include "elf_symbols.h"

namespace stackful {
namespace {

// Bytes read (SafeRead) or copied at a time: a window, not the page size, which
// is 4, 16 or 64 KiB on arm64 and read at run time where it matters (stack.cc).
constexpr size_t kWindow = 4096;

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
  for (uintptr_t candidate : CopyIsolate(isolate)) {
    if (!PlausiblePointer(candidate) || candidate % 16 != 0 || candidate == self) continue;
    uintptr_t manager[kManagerWords];
    if (!SafeRead(reinterpret_cast<void*>(candidate), manager, sizeof(manager))) continue;
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
  }
  return ambiguous ? nullptr : found;
}

bool ThreadArchive::PrepareToFree(void* isolate) {
  ResolveInternals();
  if (hsi_ != nullptr && anchor_ != nullptr) return true;  // Init() got that far
  if (MissingInternal(Need::kArchive) != nullptr) return false;
  void* hsi = nullptr;
  void* back = nullptr;
  if (!SafeRead(v8i.hsi_address(isolate), &hsi, sizeof(hsi)) || !PlausiblePointer(reinterpret_cast<uintptr_t>(hsi)) ||
      !SafeRead(hsi, &back, sizeof(back)) || back != isolate) {
    return false;
  }
  ArchivedThread* anchor = FindInUseAnchor(isolate);
  if (anchor == nullptr || v8i.first_in_use(anchor->manager) != (anchor->next == anchor ? nullptr : anchor->next)) return false;
  isolate_ = isolate;
  hsi_ = hsi;
  hsi_size_ = static_cast<size_t>(v8i.hsi_size());
  anchor_ = anchor;
  return true;
}

bool ThreadArchive::Init(void* isolate, void* stack_guard, int32_t thread_id, std::string* reason) {
  ResolveInternals();
  if (const char* missing = MissingInternal(Need::kArchive)) {
    *reason = std::string("V8 internal not found in this Node binary: ") + missing;
    return false;
  }
  isolate_ = isolate;
  thread_id_ = thread_id;
  v8::Isolate* v8_isolate = static_cast<v8::Isolate*>(isolate);

  // The HandleScopeImplementer: the isolate's field, whose first member points back.
  void* hsi = nullptr;
  void* back = nullptr;
  if (!SafeRead(v8i.hsi_address(isolate), &hsi, sizeof(hsi)) || !PlausiblePointer(reinterpret_cast<uintptr_t>(hsi)) ||
      !SafeRead(hsi, &back, sizeof(back)) || back != isolate) {
    *reason = "the isolate's HandleScopeImplementer was not found";
    return false;
  }
  hsi_ = hsi;
  hsi_size_ = static_cast<size_t>(v8i.hsi_size());
  relocatable_size_ = static_cast<size_t>(v8i.relocatable_size());
  debug_size_ = static_cast<size_t>(v8i.debug_size());

  // The Debug object: the isolate's field that debug_is_active_address()
  // reads, told apart from look-alikes by changing one candidate at a time in
  // a copy of the isolate (the function only adds an offset to the field).
  debug_is_active_ = static_cast<const bool*>(v8i.debug_is_active_address(isolate));
  {
    const uintptr_t active = reinterpret_cast<uintptr_t>(debug_is_active_);
    std::vector<uintptr_t> copy = CopyIsolate(isolate, kWindow);
    constexpr uintptr_t kNudge = 0x1000;
    bool ambiguous = false;
    for (uintptr_t& word : copy) {
      if (!PlausiblePointer(word) || active < word || active - word >= 256) continue;
      word += kNudge;
      if (reinterpret_cast<uintptr_t>(v8i.debug_is_active_address(copy.data())) == active + kNudge) {
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
    const uintptr_t generator = reinterpret_cast<uintptr_t>(v8i.debug_suspended_generator_address(isolate));
    uintptr_t* generator_slot = reinterpret_cast<uintptr_t*>(generator);
    constexpr uintptr_t kMarker = uintptr_t{0x5374466c} << 32;  // the Smi 0x5374466c
    std::vector<char> object(kWindow), copy(kWindow);
    const uintptr_t saved = *generator_slot;
    *generator_slot = kMarker;
    const bool read = SafeRead(debug_, object.data(), kWindow);
    char* archived_end = v8i.debug_archive(debug_, copy.data());
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
    char* end = v8i.stack_guard_archive(stack_guard, scratch.data());
    char* restored = v8i.stack_guard_restore(stack_guard, scratch.data());
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
  ArchivedThread* first = v8i.first_in_use(manager);
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
  char* data = static_cast<char*>(v8i.handle_scope_next_address(isolate));
  const bool data_layout = static_cast<char*>(v8i.handle_scope_limit_address(isolate)) == data + 8 &&
                           static_cast<char*>(v8i.handle_scope_level_address(isolate)) == data + 16;
  std::vector<char> by_hand(hsi_size_), current(kHandleScopeDataSize);
  memcpy(by_hand.data(), hsi_, hsi_size_);
  memcpy(current.data(), data, kHandleScopeDataSize);
  char* after_hsi = v8i.hsi_archive(hsi_, scratch.data());
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
  char* after_top = v8i.isolate_archive(isolate, after_hsi);
  const int handles_archived = v8::HandleScope::NumberOfHandles(v8_isolate);
  v8i.initialize_thread_local(isolate);
  const bool context_archived = v8_isolate->InContext();
  const bool restored = v8i.isolate_restore(isolate, after_hsi) == after_top &&
                        v8i.hsi_restore(hsi_, scratch.data()) == after_hsi;
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
    std::vector<uintptr_t> copy = CopyIsolate(isolate, kWindow);
    const char* image = after_hsi;  // ArchiveThread()'s output, still in scratch
    const char* bytes = reinterpret_cast<const char*>(copy.data());
    int matches = 0;
    size_t at = 0;
    for (size_t k = 0; k + top_size_ <= kIsolateScanBytes; k += 8) {
      if (memcmp(bytes + k, image, top_size_) != 0) continue;
      ++matches;
      at = k;
    }
    if (matches == 1) {
      char* top = static_cast<char*>(isolate) + at;
      const std::vector<char> saved(top, top + top_size_);
      v8i.initialize_thread_local(isolate);  // another image, from V8 itself
      const std::vector<char> fresh(top, top + top_size_);
      auto restores_as_copy = [&](const std::vector<char>& from) {
        std::vector<char> input(from);  // RestoreThread() reads its own buffer
        v8i.isolate_restore(isolate, input.data());
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
    v8i.relocatable_archive(isolate, reinterpret_cast<char*>(&running));
    const std::vector<uintptr_t> clear = CopyIsolate(isolate, kWindow);
    void* marker = reinterpret_cast<void*>(kArchivedThreadMagic & ~uintptr_t{7});
    v8i.relocatable_restore(isolate, reinterpret_cast<char*>(&marker));
    const std::vector<uintptr_t> marked = CopyIsolate(isolate, kWindow);
    void* read = nullptr;
    v8i.relocatable_archive(isolate, reinterpret_cast<char*>(&read));
    int matches = 0;
    size_t at = 0;
    for (size_t k = 0; k < kIsolateScanBytes / sizeof(uintptr_t); ++k) {
      if (marked[k] == clear[k] || marked[k] != reinterpret_cast<uintptr_t>(marker)) continue;
      ++matches;
      at = k;
    }
    void** field = reinterpret_cast<void**>(isolate) + at;
    if (matches == 1 && clear[at] == 0 && read == marker && *field == nullptr) relocatable_top_ = field;
    v8i.relocatable_restore(isolate, reinterpret_cast<char*>(&running));
  }

  // The same through Save(), Begin() and Load(), with the entry listed while saved.
  ChooseCopiers();
  ArchivedThread probe;
  Save(&probe);
  Begin(nullptr);
  const bool listed = v8i.first_in_use(manager) == &probe;
  const bool fresh = v8::HandleScope::NumberOfHandles(v8_isolate) == 0 && !v8_isolate->InContext();
  Load(&probe);
  Release(&probe);
  if (!listed || !fresh || v8i.first_in_use(manager) != first ||
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
  const char* data = static_cast<const char*>(v8i.handle_scope_next_address(isolate_));  // next, limit
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
  for (char* spare : spares_) free(spare);
  free(discard_);
}

// The pieces of a thread's state, each archived by hand (a copy, where the
// copy was proven equal to V8's own archive at load) or through V8's function.
// Which one is chosen once, at load, for every piece (ChooseCopiers()):
// Save() and Load() run the instance of SaveAs()/LoadAs() made for that choice.
template <bool kByCopy>
inline char* ThreadArchive::ArchiveHandleScopesAs(char* to) {
  if (!kByCopy) return v8i.hsi_archive(hsi_, to);
  // As ArchiveThread(), but the implementer is not reset: Begin() or Load()
  // replaces it before anything uses it.
  CopySmall(to, hsi_, hsi_size_);
  CopySmall(to + data_in_hsi_, handle_scope_data_, kHandleScopeDataSize);
  return to + hsi_size_;
}

template <bool kByCopy>
inline char* ThreadArchive::RestoreHandleScopesAs(char* from) {
  if (!kByCopy) return v8i.hsi_restore(hsi_, from);
  CopySmall(hsi_, from, hsi_size_);
  CopySmall(handle_scope_data_, from + data_in_hsi_, kHandleScopeDataSize);
  return from + hsi_size_;
}

char* ThreadArchive::ArchiveHandleScopes(char* to) {
  return handle_scope_data_ != nullptr ? ArchiveHandleScopesAs<true>(to) : ArchiveHandleScopesAs<false>(to);
}

char* ThreadArchive::RestoreHandleScopes(char* from) {
  return handle_scope_data_ != nullptr ? RestoreHandleScopesAs<true>(from) : RestoreHandleScopesAs<false>(from);
}

template <bool kScopesByCopy, bool kTopByCopy, bool kRelocatablesByCopy>
void ThreadArchive::SaveAs(ThreadArchive& a, ArchivedThread* t) {
  if (t->data == nullptr) t->data = static_cast<char*>(calloc(1, a.data_size_));
  char* p = a.ArchiveHandleScopesAs<kScopesByCopy>(t->data);
  if (kTopByCopy) {
    CopySmall(p, a.top_, a.top_size_);
    p += a.top_size_;
  } else {
    p = v8i.isolate_archive(a.isolate_, p);
  }
  if (kRelocatablesByCopy) {
    *reinterpret_cast<void**>(p) = *a.relocatable_top_;
    *a.relocatable_top_ = nullptr;
    p += sizeof(void*);
  } else {
    p = v8i.relocatable_archive(a.isolate_, p);
  }
  p += a.stack_guard_size_;  // stays with the thread; V8's Iterate() skips it
  CopySmall(p, a.debug_thread_local_, a.debug_size_);  // what ArchiveDebug() does (proven in Init)
  ArchivedThread* anchor = a.anchor_;
  t->id = a.thread_id_;
  t->manager = anchor->manager;
  t->magic = kArchivedThreadMagic;
  t->previous = anchor;
  t->next = anchor->next;
  anchor->next->previous = t;
  anchor->next = t;
}

template <bool kScopesByCopy, bool kTopByCopy, bool kRelocatablesByCopy>
void ThreadArchive::LoadAs(ThreadArchive& a, ArchivedThread* t) {
  Unlink(t);
  char* p = a.RestoreHandleScopesAs<kScopesByCopy>(t->data);
  if (kTopByCopy) {
    CopySmall(a.top_, p, a.top_size_);
    p += a.top_size_;
  } else {
    p = v8i.isolate_restore(a.isolate_, p);
  }
  if (kRelocatablesByCopy) {
    *a.relocatable_top_ = *reinterpret_cast<void**>(p);
    p += sizeof(void*);
  } else {
    p = v8i.relocatable_restore(a.isolate_, p);
  }
  p += a.stack_guard_size_;
  // With a debugger attached, V8's own restore also reapplies breakpoints and
  // stepping for this fiber; without one, it is a copy.
  if (*a.debug_is_active_) {
    v8i.debug_restore(a.debug_, p);
  } else {
    CopySmall(a.debug_thread_local_, p, a.debug_size_);
  }
}

namespace {

// Save and Load for one choice of copiers.
template <bool kScopes, bool kTop, bool kRelocatables>
struct CopierPair {
  static constexpr ThreadArchive::Step kSave = &ThreadArchive::template SaveAs<kScopes, kTop, kRelocatables>;
  static constexpr ThreadArchive::Step kLoad = &ThreadArchive::template LoadAs<kScopes, kTop, kRelocatables>;
};

}  // namespace

void ThreadArchive::ChooseCopiers() {
  // Indexed by (scopes by copy) * 4 + (top by copy) * 2 + (relocatables by copy).
  static constexpr Step kSaves[] = {
      CopierPair<false, false, false>::kSave, CopierPair<false, false, true>::kSave, CopierPair<false, true, false>::kSave,
      CopierPair<false, true, true>::kSave,   CopierPair<true, false, false>::kSave, CopierPair<true, false, true>::kSave,
      CopierPair<true, true, false>::kSave,   CopierPair<true, true, true>::kSave};
  static constexpr Step kLoads[] = {
      CopierPair<false, false, false>::kLoad, CopierPair<false, false, true>::kLoad, CopierPair<false, true, false>::kLoad,
      CopierPair<false, true, true>::kLoad,   CopierPair<true, false, false>::kLoad, CopierPair<true, false, true>::kLoad,
      CopierPair<true, true, false>::kLoad,   CopierPair<true, true, true>::kLoad};
  const int k = (handle_scope_data_ != nullptr) * 4 + (top_ != nullptr) * 2 + (relocatable_top_ != nullptr);
  save_ = kSaves[k];
  load_ = kLoads[k];
}

void ThreadArchive::Begin(void* block) {
  // A finished fiber's empty handle scope state, with its list capacity (and
  // its handle block, unless that was on its stack): no malloc/free pair for
  // each fiber created.
  if (spare_count_ > 0) {
    RestoreHandleScopes(spares_[--spare_count_]);
  } else if (handle_scope_data_ != nullptr) {
    // Save() left the suspended fiber's scopes in place: start empty (what
    // ArchiveThread() writes is a copy of what Save() already keeps).
    if (discard_ == nullptr) discard_ = static_cast<char*>(malloc(hsi_size_));
    v8i.hsi_archive(hsi_, discard_);
  }
  v8i.initialize_thread_local(isolate_);
  v8i.debug_thread_init(debug_);
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
  // A spare keeps V8's handle block too when the fiber's was not on its
  // stack (8 KB): then one only.
  if (spare_count_ == (blocks_on_stacks() ? kMaxSpares : 1)) {
    v8i.hsi_free(hsi_);
    return;
  }
  if (spare_count_ == spares_.size()) spares_.push_back(static_cast<char*>(calloc(1, hsi_size_)));
  ArchiveHandleScopes(spares_[spare_count_++]);
}

void ThreadArchive::FreeSpares() {
  if (spare_count_ == 0) return;
  std::vector<char> running(hsi_size_);
  v8i.hsi_archive(hsi_, running.data());
  for (; spare_count_ > 0; spare_count_--) {
    v8i.hsi_restore(hsi_, spares_[spare_count_ - 1]);
    v8i.hsi_free(hsi_);
  }
  v8i.hsi_restore(hsi_, running.data());
}

void ThreadArchive::FreeAbandoned(ArchivedThread* t, void* first_block) {
  if (t->data == nullptr) return;
  // The running state aside, the fiber's in its place, then V8's own
  // functions free it as they free a thread's at its end: every handle block
  // after `first_block` (all of them without it), then the lists.
  std::vector<char> running(hsi_size_);
  v8i.hsi_archive(hsi_, running.data());
  v8i.hsi_restore(hsi_, t->data);
  void** limit = static_cast<void**>(v8i.handle_scope_limit_address(isolate_));
  *limit = first_block != nullptr ? static_cast<char*>(first_block) + kHandleBlockBytes : nullptr;
  v8i.delete_extensions(isolate_);
  v8i.hsi_free(hsi_);
  v8i.hsi_restore(hsi_, running.data());
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
