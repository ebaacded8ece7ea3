// The direct switch: stackful archives and restores V8's per-thread state
// itself, instead of going through v8::Unlocker / v8::Locker.
//
// Through the Locker, every switch takes ThreadManager's mutex, looks the
// fibers up in V8's per-thread table, copies every piece of state twice
// (lazily archived, then eagerly), and has the debugger walk the restored
// stack. To V8, every fiber is then a thread of its own.
//
// Here all fibers of a thread are one V8 thread, whose state is swapped under
// it: the same archive functions V8's ThreadManager calls, for the pieces that
// belong to a stack (handle scopes, the ThreadLocalTop with its frames and
// handlers, Relocatables, the debugger's per-thread data), into a buffer laid
// out as V8 lays out its own. A suspended fiber's archive is linked into
// ThreadManager's list of archived threads, exactly as V8 links one, so that
// every GC visits its frames and handles (ThreadManager::Iterate) and the
// deoptimizer finds its activations (IterateArchivedThreads).
//
// What stays with the thread: the StackGuard (stack limits are set per fiber
// on each switch; interrupts such as worker.terminate() belong to the thread
// anyway), the RegExp stack and the Bootstrapper's nesting count (neither is
// live at a point where JS can switch).
//
// Everything is found and proven at load time (see Init()); where a proof
// fails, stackful keeps the Locker switch and stats().switching.reason says why.
#ifndef STACKFUL_THREAD_ARCHIVE_H_
#define STACKFUL_THREAD_ARCHIVE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "v8_lines.h"

namespace stackful {

struct Fiber;

// Handle blocks on fiber stacks. V8's handle blocks are kHandleBlockBytes
// (v8_lines.h, proven at load), and each fiber needs one of its own: from malloc, that
// is one more page of memory per suspended fiber, used for a few handles.
// Instead a fiber's first block sits at the top of its own stack, its start
// in the same page as the first frames: the stack starts kBlockOnStack below
// its top, the block's first kHandleRoom bytes (64 handles; a fiber parked
// in Fiber.yield() holds six) fill the rest of that page, and the block runs
// on into the two pages above, touched only by a fiber that holds more
// handles.
constexpr size_t kHandleRoom = 512;
// Sized for 4 KiB pages; with 16 or 64 KiB pages (arm64) the block and the
// first frames share the stack's top page, which costs nothing more.
constexpr size_t kBlockOnStack = 2 * 4096 + kHandleRoom;  // from the top of the stack to the block
static_assert(kBlockOnStack >= kHandleBlockBytes, "the block must end below the top of the stack");

// The in-use anchor of the isolate's ThreadManager (V8's list of archived
// threads, circular around an anchor whose id is invalid), or nullptr when it
// cannot be told apart. Not yet proven: see ThreadArchive::Init().
ArchivedThread* FindInUseAnchor(void* isolate);

// One per thread (Node environment).
class ThreadArchive {
 public:
  // Finds and proves, on the calling thread, every internal the direct switch
  // needs. Must run in a HandleScope, with a context entered. `thread_id` is
  // V8's id of this thread.
  bool Init(void* isolate, void* stack_guard, int32_t thread_id, std::string* reason);
  ThreadArchive() = default;
  ThreadArchive(const ThreadArchive&) = delete;
  ThreadArchive& operator=(const ThreadArchive&) = delete;
  ~ThreadArchive();

  // The running V8 thread state goes into `t`, and `t` at the head of V8's
  // list of archived threads. V8 is left with no handle scopes, and must get
  // a thread state from Begin() or Load() before it runs anything.
  void Save(ArchivedThread* t) { save_(*this, t); }
  // `t` leaves V8's list and its state becomes the running one (after Save()
  // or Drop()).
  void Load(ArchivedThread* t) { load_(*this, t); }
  // A new fiber is about to run (after Save() or Drop()): a fresh thread
  // state, as V8 gives a new thread. `block` is where its first handle block
  // goes (kHandleBlockBytes at StackTops::Block() of its stack, stack_scan.h), or nullptr for
  // one from V8.
  void Begin(void* block);
  // The running fiber has finished (its scopes are closed). Its handle scope
  // memory (the context lists; a handle block unless it was `block`, the one
  // given to Begin()) is kept for a new fiber, or freed when kMaxSpares are
  // already kept. V8 is left without handle scopes, as after Save().
  void Drop(void* block);
  // Finished fibers' handle scope memory kept for new ones. Each is a few
  // hundred bytes (with blocks on stacks: the lists' arrays), and a fiber
  // started without one allocates its lists afresh (four malloc/free pairs:
  // 1,000 fibers alive at once, then finished, paid them for each); as many
  // as the stack pool keeps warm stacks.
  static constexpr size_t kMaxSpares = 1024;
  // Whether a fiber's first handle block can go on its own stack (proven in
  // Init()): see "Handle blocks on fiber stacks" above.
  bool blocks_on_stacks() const { return spare_block_offset_ != 0; }
  // Frees the handle scope memory Drop() kept. The root fiber must be running.
  void FreeSpares();
  // Frees what V8 allocated for the handle scopes of the suspended fiber
  // whose state `t` holds (its handle blocks after `first_block`, which
  // goes with its stack, and its context lists): the thread is going away
  // and the fiber will never resume. The running state is left as it was.
  void FreeAbandoned(ArchivedThread* t, void* first_block);
  // Finds what FreeAbandoned() needs (the HandleScopeImplementer and V8's list
  // of archived threads, proven as Init() proves them) when Init() did not
  // run or failed (the Locker switch); whether it is usable.
  bool PrepareToFree(void* isolate);
  // Takes `t` out of V8's list, if it is in it (the thread is going away).
  static void Unlink(ArchivedThread* t);
  // Frees `t`'s buffer (its fiber object is going away).
  static void Release(ArchivedThread* t);

  ArchivedThread* in_use_anchor() const { return anchor_; }
  // Whether handle scopes are archived by copying (else through V8's functions).
  bool copies_handle_scopes() const { return handle_scope_data_ != nullptr; }
  // Whether the ThreadLocalTop and the Relocatable list are archived by
  // copying (else through V8's functions).
  bool copies_top() const { return top_ != nullptr && relocatable_top_ != nullptr; }

  // One way to archive or restore a thread state (a choice of copiers).
  using Step = void (*)(ThreadArchive& archive, ArchivedThread* t);
  template <bool kScopesByCopy, bool kTopByCopy, bool kRelocatablesByCopy>
  static void SaveAs(ThreadArchive& a, ArchivedThread* t);
  template <bool kScopesByCopy, bool kTopByCopy, bool kRelocatablesByCopy>
  static void LoadAs(ThreadArchive& a, ArchivedThread* t);

 private:
  // Picks Save() and Load() for the pieces proven copyable (see thread_archive.cc).
  void ChooseCopiers();
  template <bool kByCopy>
  char* ArchiveHandleScopesAs(char* to);
  template <bool kByCopy>
  char* RestoreHandleScopesAs(char* from);
  Step save_ = &SaveAs<false, false, false>;
  Step load_ = &LoadAs<false, false, false>;
  void* isolate_ = nullptr;
  void* hsi_ = nullptr;       // v8::internal::HandleScopeImplementer*
  void* debug_ = nullptr;     // v8::internal::Debug*
  char* debug_thread_local_ = nullptr;  // Debug::thread_local_
  const bool* debug_is_active_ = nullptr;
  ArchivedThread* anchor_ = nullptr;
  int32_t thread_id_ = -1;
  size_t hsi_size_ = 0, top_size_ = 0, relocatable_size_ = 0, stack_guard_size_ = 0, debug_size_ = 0;
  size_t data_size_ = 0;
  void*& SpareBlock();  // HandleScopeImplementer::spare_ (blocks_on_stacks() only)
  // The running handle scope state to `to` / from `from` (V8's layout, by
  // copy when proven); each returns the end of what it read or wrote.
  char* ArchiveHandleScopes(char* to);
  char* RestoreHandleScopes(char* from);
  bool ProveBlocksOnStacks(v8::Isolate* isolate);

  char* top_ = nullptr;                // the isolate's ThreadLocalTop, when it is copied by hand
  void** relocatable_top_ = nullptr;   // the isolate's list of Relocatables, when it is moved by hand
  char* handle_scope_data_ = nullptr;  // the isolate's HandleScopeData, when handle scopes are copied by hand
  size_t data_in_hsi_ = 0;             // where HandleScopeImplementer keeps a copy of it
  size_t spare_block_offset_ = 0;  // HandleScopeImplementer::spare_, when found and proven
  // Finished fibers' handle scopes (HandleScopeImplementer archives): the
  // first spare_count_ hold one each; the buffers after them are free.
  std::vector<char*> spares_;
  size_t spare_count_ = 0;
  char* discard_ = nullptr;  // where Begin() lets V8 archive a state nobody needs
};

}  // namespace stackful

#endif  // STACKFUL_THREAD_ARCHIVE_H_
