// Load-time probes (nothing here runs on a switch). What stackful needs from V8 beyond its public API, and how each piece is
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
// full symbol table (.symtab) where Node no longer exports them (24 and later):
// v8_lines.cc names them. The first four pieces are found here; cppgc's in
// stack_scan.cc; the direct switch's in thread_archive.cc.
#ifndef STACKFUL_V8_PROBES_H_
#define STACKFUL_V8_PROBES_H_

#include <cstdint>
#include <string>

#include "v8_lines.h"

namespace stackful {

// The address of V8's thread_local thread id on this thread, or nullptr
// (with `reason`).
int32_t* FindThreadIdSlot(v8::Isolate* isolate, std::string* reason);

// The address of V8's cached stack start on this thread, or nullptr where V8
// does not cache it.
const void** FindStackStartSlot();

// The isolate's StackGuard, or nullptr (with `reason`). Also finds a word of
// it that is zero exactly while no interrupt waits (the interrupt flags):
// `*pending`, or nullptr when none was told apart; it lets a switch skip the
// StackGuard's lock.
void* FindStackGuard(v8::Isolate* isolate, int** pending, std::string* reason);

// The running thread's JS stack limit, read from the StackGuard: the word
// that SetStackLimit() writes. The limit is set back to what it was. 0 (with
// `reason`) when not found.
uintptr_t FindRootStackLimit(v8::Isolate* isolate, void* stack_guard, std::string* reason);

// The words of the StackGuard (and, on 13.x+, of the isolate) that
// v8::Isolate::SetStackLimit() writes.
struct StackLimitWords {
  uintptr_t* real[2] = {};           // always set
  uintptr_t* checked_by_js[2] = {};  // set unless an interrupt is pending
  int reals = 0;
  int checked = 0;
  uintptr_t* stack_size = nullptr;   // the isolate's stack size, or nullptr
};

// Finds those words, so that a switch can set them without the StackGuard's
// lock; false when they could not be told apart.
bool FindStackLimitWords(v8::Isolate* isolate, void* stack_guard, uintptr_t limit, StackLimitWords* out);

}  // namespace stackful

#endif  // STACKFUL_V8_PROBES_H_
