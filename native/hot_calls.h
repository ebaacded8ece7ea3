// The calls JS makes on every switch (create, switchTo, setNext) and the
// async-context accessors, defined as plain V8 functions: Node-API's per-call
// bookkeeping was a large share of a switch. Part of the binding layer (hop 2
// of a switch, v8_state.cc): check cheaply, call the Scheduler, turn a Status
// into the JS error class src/core/errors.ts hands over at init.
#ifndef STACKFUL_HOT_CALLS_H_
#define STACKFUL_HOT_CALLS_H_

#include <memory>

#include <v8.h>

#include "scheduler.h"

typedef struct napi_value__* napi_value;

namespace stackful {

// napi_value is a v8::Local<v8::Value> in Node's implementation of Node-API
// (see V8LocalValueFromJsValue in src/js_native_api_v8.h). This is the one
// place that relies on it.
v8::Local<v8::Value> FromNapi(napi_value value);

class HotCalls {
 public:
  explicit HotCalls(Scheduler* scheduler) : scheduler_(scheduler) {}
  HotCalls(const HotCalls&) = delete;
  HotCalls& operator=(const HotCalls&) = delete;

  // Defines the calls and the `mailbox` they read handles from on `target`.
  // Failures throw makeError(code, message).
  void Define(v8::Local<v8::Object> target, v8::Local<v8::Function> make_error);
  // The environment is going away (V8 still usable): drops the handles.
  void Shutdown();

 private:
  static void Create(const v8::FunctionCallbackInfo<v8::Value>& info);
  static void SwitchTo(const v8::FunctionCallbackInfo<v8::Value>& info);
  static void SetNext(const v8::FunctionCallbackInfo<v8::Value>& info);
  static void GetAsyncContext(const v8::FunctionCallbackInfo<v8::Value>& info);
  static void SetAsyncContext(const v8::FunctionCallbackInfo<v8::Value>& info);
  Fiber* FiberInMailbox() const;
  void Throw(const v8::FunctionCallbackInfo<v8::Value>& info, Status status) const;

  Scheduler* scheduler_;
  const double* mailbox_ = nullptr;  // JS's `mailbox`: [0] = the handle switchTo()/setNext() act on
  std::shared_ptr<v8::BackingStore> mailbox_store_;  // keeps mailbox_ alive
  v8::Global<v8::Function> make_error_;              // from src/core/errors.ts
};

}  // namespace stackful

#endif  // STACKFUL_HOT_CALLS_H_
