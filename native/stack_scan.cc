#include "stack_scan.h"

#include <cstdlib>
#include <cstring>

#include "elf_symbols.h"

namespace stackful {
namespace {

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
  static AddressRange code[2];  // the executable segments of Node and of this addon
};
AddressRange ScanFilter::code[2];

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
  v8i.iterate_pointers(stack, &visitor);
  result.frame = visitor.saw_frame;
  result.segment = visitor.saw_segment;
  // The first word of the Stack bounds the scan: lowered to the marker's own
  // address (exclusive), the marker must drop out.
  const void** start = static_cast<const void**>(stack);
  const void* saved = *start;
  *start = const_cast<uintptr_t*>(&marker);
  ProbeVisitor lowered;
  v8i.iterate_pointers(stack, &lowered);
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
  const void* expected = static_cast<const char*>(v8i.cpp_heap_vtable) + 2 * sizeof(void*);
  if (!SafeRead(cpp_heap, &own_vptr, sizeof(own_vptr)) || own_vptr != expected) {
    *reason = "the isolate's CppHeap is not a v8::internal::CppHeap";
    return nullptr;
  }
  void* stack = v8i.cpp_heap_stack(cpp_heap);
  ScanResult r = Scan(stack);
  if (r.frame && r.bounded && !r.segment) return stack;
  *reason = "cppgc's stack (heap::base::Stack) did not scan as expected";
  return nullptr;
}

// 11.3, 12.4: a registered segment is scanned, and is gone once cleared.
bool ProveSegments(void* stack) {
  uintptr_t* segment = new uintptr_t[4]{kSegmentMarker, kSegmentMarker, 0, 0};
  v8i.add_stack_segment(stack, segment + 2, segment);
  const bool added = Scan(stack).segment;
  v8i.clear_stack_segments(stack);
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
    if (words[i] == reinterpret_cast<uintptr_t>(v8i.default_scan_callback)) {
      return reinterpret_cast<void**>(static_cast<char*>(stack) + i * sizeof(uintptr_t));
    }
  }
  return nullptr;
}

// The scan callback runs on the thread whose isolate is collecting.
thread_local StackScan* scanning = nullptr;
thread_local const uintptr_t* probe_segment = nullptr;  // set only while proving the callback

using VisitPointerFn = void (*)(void* visitor, const void* address);

void VisitRange(void* visitor, int slot, const void* low, const void* high, const ScanFilter* filter = nullptr) {
  VisitPointerFn visit = reinterpret_cast<VisitPointerFn>((*static_cast<void***>(visitor))[slot]);
  for (const uintptr_t* p = static_cast<const uintptr_t*>(low); p < static_cast<const uintptr_t*>(high); ++p) {
    if (filter == nullptr || filter->Keep(*p)) visit(visitor, reinterpret_cast<const void*>(*p));
  }
}

}  // namespace

// Called by cppgc's conservative scan (13.x+), in place of V8's default.
void StackScan::ScanSuspendedStacks(void* visitor) {
  StackScan* self = scanning;
  if (self == nullptr) return;
  const int slot = self->visit_pointer_slot_;
  if (probe_segment != nullptr) {
    VisitRange(visitor, slot, probe_segment, probe_segment + 2);
    return;
  }
  if (self->scan_whole_ == 1) {
    self->fibers_->ForEachSuspended([&](Fiber* fiber) {
      const void* top = self->tops_->Top(fiber);
      const ScanFilter filter = FilterFor(fiber->sp, top, fiber->stack);
      VisitRange(visitor, slot, fiber->sp, top, &filter);
    });
    return;
  }
  self->CollectScanWords();
  VisitRange(visitor, slot, self->scan_words_.data(), self->scan_words_.data() + self->scan_words_.size());
}

// Fills scan_words_ with what a full GC's conservative scan needs of every
// suspended stack, read once per GC: the words KeepForFullScan() keeps, each
// address once (most are the same few in every stack; a small direct-mapped
// table drops the repeats). V8 looks each word it scans up under a lock (11.3)
// or in a page table: 16 million words for 10,000 fibers parked 20 frames deep
// came down to a few thousand. STACKFUL_SCAN=whole scans the stacks whole
// instead, as before (to compare; the bench's gc-pause case has no column).
void StackScan::CollectScanWords() {
  scan_words_.clear();
  uintptr_t seen[512] = {};
  fibers_->ForEachSuspended([&](Fiber* fiber) {
    const void* top = tops_->ScanTop(fiber);
    const ScanFilter filter = FilterFor(fiber->sp, tops_->Top(fiber), fiber->stack);
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



bool StackScan::Init(v8::Isolate* isolate, const Profile& profile, std::string* reason) {
  if (isolate->GetCppHeap() == nullptr) return true;
  const char* scan = getenv("STACKFUL_SCAN");
  scan_whole_ = scan != nullptr && strcmp(scan, "whole") == 0 ? 1 : 0;
  stack_ = FindScanStack(isolate, reason);
  if (stack_ == nullptr) return false;
  root_start_ = *static_cast<const void* const*>(stack_);
  static const bool code_found =
      (FindCodeSegments(reinterpret_cast<const void*>(&FilterFor), &ScanFilter::code[0], &ScanFilter::code[1]), true);
  (void)code_found;
  if (profile.suspended_scan == SuspendedScan::kSegments) {
    use_segments_ = true;
    if (!ProveSegments(stack_)) {
      *reason = "heap::base::Stack::AddStackSegment() did not add a scanned segment";
      return false;
    }
    return true;
  }
  callback_slot_ = FindScanCallbackSlot(stack_);
  if (callback_slot_ == nullptr) {
    *reason = "cppgc's stack has no scan callback holding V8's default";
    return false;
  }
  visit_pointer_slot_ = profile.visit_pointer_slot;
  scanning = this;
  *callback_slot_ = reinterpret_cast<void*>(&StackScan::ScanSuspendedStacks);
  uintptr_t segment[2] = {kSegmentMarker, kSegmentMarker};
  probe_segment = segment;
  const bool seen = Scan(stack_).segment;
  probe_segment = nullptr;
  if (!seen) {
    Shutdown();
    *reason = "cppgc's scan did not call the replaced scan callback";
    return false;
  }
  return true;
}

void StackScan::BeforeGc(bool full) {
  if (stack_ == nullptr) return;
  *static_cast<const void**>(stack_) = tops_->Top(fibers_->current());
  if (!full || !use_segments_) return;
  // V8 scans these whole: a compacted copy of what ScanFilter keeps (the
  // 13.x+ path) saved only 5-10% of a full GC here, for a buffer as large.
  v8i.clear_stack_segments(stack_);
  if (scan_whole_ == 1) {
    fibers_->ForEachSuspended([&](Fiber* fiber) {
      v8i.add_stack_segment(stack_, tops_->Top(fiber), fiber->sp);
    });
    return;
  }
  // One segment, a copy: V8 scans from its low end to its high end.
  CollectScanWords();
  if (!scan_words_.empty()) v8i.add_stack_segment(stack_, scan_words_.data() + scan_words_.size(), scan_words_.data());
}

void StackScan::AfterGc(bool full) {
  if (!full) return;
  if (use_segments_) v8i.clear_stack_segments(stack_);
  if (scan_words_.capacity() > (size_t{1} << 16)) std::vector<uintptr_t>().swap(scan_words_);
}

void StackScan::Shutdown() {
  if (callback_slot_ == nullptr) return;
  *callback_slot_ = const_cast<void*>(v8i.default_scan_callback);
  callback_slot_ = nullptr;
  scanning = nullptr;
}

}  // namespace stackful
