#include "hot_calls.h"

#include <cstring>

namespace stackful {

v8::Local<v8::Value> FromNapi(napi_value value) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(value), "napi_value is a v8::Local");
  memcpy(static_cast<void*>(&local), &value, sizeof(value));
  return local;
}

namespace {

HotCalls* Of(const v8::FunctionCallbackInfo<v8::Value>& info) {
  return static_cast<HotCalls*>(info.Data().As<v8::External>()->Value());
}

}  // namespace

// The handles of the hot calls come through memory JS writes (`mailbox`, a
// Float64Array), not as arguments: no type check and unboxing through V8's
// API on every switch. Anything but a handle finds no fiber.
Fiber* HotCalls::FiberInMailbox() const {
  const double value = mailbox_[0];
  if (!(value >= 0 && value < 0x1p53)) return nullptr;
  return scheduler_->Find(static_cast<Handle>(value));
}

void HotCalls::Throw(const v8::FunctionCallbackInfo<v8::Value>& info, Status status) const {
  v8::Isolate* isolate = info.GetIsolate();
  StatusInfo d = Describe(status);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Value> args[] = {v8::String::NewFromUtf8(isolate, d.code).ToLocalChecked(),
                                 v8::String::NewFromUtf8(isolate, d.message).ToLocalChecked()};
  v8::Local<v8::Value> error;
  if (make_error_.Get(isolate)->Call(context, v8::Undefined(isolate), 2, args).ToLocal(&error)) {
    isolate->ThrowException(error);
  }
}

// create(stackSize, inheritContext): handle
void HotCalls::Create(const v8::FunctionCallbackInfo<v8::Value>& info) {
  HotCalls* self = Of(info);
  const size_t size = static_cast<size_t>(info[0].As<v8::Number>()->Value());
  const bool inherit = info[1]->BooleanValue(info.GetIsolate());
  info.GetReturnValue().Set(static_cast<double>(self->scheduler_->NewFiber(size, inherit)));
}

// switchTo(), with mailbox[0] = the target's handle: returns once something
// switches back (hop 2 of a switch: the list at the top of v8_state.cc)
void HotCalls::SwitchTo(const v8::FunctionCallbackInfo<v8::Value>& info) {
  HotCalls* self = Of(info);
  Fiber* target = self->FiberInMailbox();
  Status status = target != nullptr ? self->scheduler_->Switch(target) : Status::kFiberDead;
  if (status != Status::kOk) self->Throw(info, status);
}

// setNext(), with mailbox[0] = the handle of where the running fiber goes
// when its body returns
void HotCalls::SetNext(const v8::FunctionCallbackInfo<v8::Value>& info) {
  HotCalls* self = Of(info);
  Fiber* next = self->FiberInMailbox();
  Status status = next != nullptr ? self->scheduler_->SetNext(next) : Status::kFiberDead;
  if (status != Status::kOk) self->Throw(info, status);
}

// getAsyncContext() / setAsyncContext(value): the running fiber's async
// context, for src/core/context.ts (AsyncResource scopes inside fibers).
void HotCalls::GetAsyncContext(const v8::FunctionCallbackInfo<v8::Value>& info) {
#if STACKFUL_HAS_ASYNC_CONTEXT
  v8::Local<AsyncContext> data = stackful::GetAsyncContext(info.GetIsolate());
  if (!IsUnset(data) && data->IsValue()) info.GetReturnValue().Set(data.As<v8::Value>());
#else
  (void)info;
#endif
}

void HotCalls::SetAsyncContext(const v8::FunctionCallbackInfo<v8::Value>& info) {
#if STACKFUL_HAS_ASYNC_CONTEXT
  stackful::SetAsyncContext(info.GetIsolate(), info[0]);
#else
  (void)info;
#endif
}

void HotCalls::Define(v8::Local<v8::Object> target, v8::Local<v8::Function> make_error) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  make_error_.Reset(isolate, make_error);
  v8::Local<v8::External> data = v8::External::New(isolate, this);
  v8::Local<v8::ArrayBuffer> mailbox = v8::ArrayBuffer::New(isolate, 2 * sizeof(double));
  mailbox_store_ = mailbox->GetBackingStore();
  mailbox_ = static_cast<const double*>(mailbox_store_->Data());
  target->Set(context, v8::String::NewFromUtf8Literal(isolate, "mailbox"), mailbox).Check();
  struct {
    const char* name;
    v8::FunctionCallback callback;
  } calls[] = {{"create", &HotCalls::Create},
               {"switchTo", &HotCalls::SwitchTo},
               {"setNext", &HotCalls::SetNext},
               {"getAsyncContext", &HotCalls::GetAsyncContext},
               {"setAsyncContext", &HotCalls::SetAsyncContext}};
  for (const auto& call : calls) {
    v8::Local<v8::String> name = v8::String::NewFromUtf8(isolate, call.name).ToLocalChecked();
    v8::Local<v8::Function> fn = v8::Function::New(context, call.callback, data, 0, v8::ConstructorBehavior::kThrow).ToLocalChecked();
    fn->SetName(name);
    target->Set(context, name, fn).Check();
  }
}

void HotCalls::Shutdown() {
  make_error_.Reset();
  mailbox_store_.reset();  // JS's ArrayBuffer keeps mailbox_ alive
}

}  // namespace stackful
