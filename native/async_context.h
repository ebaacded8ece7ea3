// The async context of each fiber. V8's continuation-preserved embedder data
// (where promise reactions carry their async context, and AsyncLocalStorage
// its stores on Node 24+) belongs to the isolate, not to V8's per-thread
// state, so no archive keeps it: each fiber keeps its own here, saved as it
// suspends and restored as it resumes. On V8 11.3 there is none, and every
// call is empty (v8_lines.h).
#ifndef STACKFUL_ASYNC_CONTEXT_H_
#define STACKFUL_ASYNC_CONTEXT_H_

#include "fiber.h"
#include "v8_lines.h"

namespace stackful {

class AsyncContexts {
 public:
  void Init(v8::Isolate* isolate) {
    isolate_ = isolate;
    active_ = true;
  }
  // The isolate is going away: drops the handles.
  void Shutdown() {
    parked_.Reset();
    active_ = false;
  }

  // The running context goes with `fiber` (it is suspending, or it is new and
  // inherits its creator's context).
  void Save(Fiber* fiber);
  // `fiber`'s context becomes the running one (it resumes, or starts).
  void Restore(Fiber* fiber);
  // `fiber` is done with: its context is dropped.
  void Forget(Fiber* fiber);

  // For the length of a scavenge, the isolate's slot holds undefined and its
  // value waits in a handle of ours (see async_context.cc).
  void ParkForScavenge();
  void UnparkAfterScavenge();

 private:
  static v8::Global<AsyncContext>* Of(Fiber* fiber) {
    static_assert(sizeof(v8::Global<AsyncContext>) == sizeof(fiber->v8.async_context),
                  "V8FiberState::async_context must hold exactly a v8::Global");
    // An all-zero v8::Global is an empty one.
    return reinterpret_cast<v8::Global<AsyncContext>*>(fiber->v8.async_context);
  }

  v8::Isolate* isolate_ = nullptr;
  bool active_ = false;             // between Init() and Shutdown()
  v8::Global<AsyncContext> parked_;  // the isolate's async context during a scavenge
  int gc_depth_ = 0;                 // scavenge prologues without their epilogue yet
};

#if STACKFUL_HAS_ASYNC_CONTEXT
inline void AsyncContexts::Save(Fiber* fiber) {
  v8::Local<AsyncContext> data = GetAsyncContext(isolate_);
  v8::Global<AsyncContext>* saved = Of(fiber);
  // Most switches leave the context as it was: keep the handle, do not remake it.
  if (IsUnset(data)) {
    if (!saved->IsEmpty()) saved->Reset();
  } else if (*saved != data) {
    saved->Reset(isolate_, data);
  }
}

inline void AsyncContexts::Restore(Fiber* fiber) {
  v8::Global<AsyncContext>* saved = Of(fiber);
  if (saved->IsEmpty()) {
    if (!IsUnset(GetAsyncContext(isolate_))) SetAsyncContext(isolate_, v8::Undefined(isolate_));
  } else {
    SetAsyncContext(isolate_, saved->Get(isolate_));
  }
}

inline void AsyncContexts::Forget(Fiber* fiber) { Of(fiber)->Reset(); }
#else
inline void AsyncContexts::Save(Fiber*) {}
inline void AsyncContexts::Restore(Fiber*) {}
inline void AsyncContexts::Forget(Fiber*) {}
#endif

}  // namespace stackful

#endif  // STACKFUL_ASYNC_CONTEXT_H_
