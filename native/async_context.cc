#include "async_context.h"

namespace stackful {

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
void AsyncContexts::ParkForScavenge() {
#if STACKFUL_HAS_ASYNC_CONTEXT
  if (gc_depth_++ != 0 || !active_) return;
  v8::HandleScope scope(isolate_);
  v8::Local<AsyncContext> data = GetAsyncContext(isolate_);
  if (IsUnset(data)) return;
  parked_.Reset(isolate_, data);
  SetAsyncContext(isolate_, v8::Undefined(isolate_));
#endif
}

void AsyncContexts::UnparkAfterScavenge() {
#if STACKFUL_HAS_ASYNC_CONTEXT
  if (gc_depth_ == 0 || --gc_depth_ != 0 || !active_) return;
  if (parked_.IsEmpty()) return;
  v8::HandleScope scope(isolate_);
  SetAsyncContext(isolate_, parked_.Get(isolate_));
  parked_.Reset();
#endif
}

}  // namespace stackful
