// Thin Node-API layer: module init, per-environment state and lifetime, and the
// calls that are not on the switch path. The calls made on every switch
// (create, switchTo, setNext) are plain V8 functions (hot_calls.h), which map
// Status codes to the JS error class that src/ hands over at init. All
// argument checking with precise messages happens in TypeScript first
// (src/core/fiber.ts).
#include <node.h>  // before napi.h: node_version.h defines NAPI_VERSION
#include <napi.h>

#include <dlfcn.h>

#include "hot_calls.h"
#include "scheduler.h"
#include "wasm_code_gc.h"

namespace stackful {
namespace {

// What one environment (thread) keeps: freed when its isolate is done.
struct Core {
  Scheduler scheduler;
  HotCalls hot{&scheduler};
};

struct Instance {
  Scheduler* scheduler = nullptr;
};

Instance* Get(const Napi::CallbackInfo& info) {
  return static_cast<Instance*>(info.Data());
}

Fiber* FiberOf(Instance* instance, const Napi::Value& value) {
  if (!value.IsNumber()) return nullptr;
  return instance->scheduler->Find(static_cast<Handle>(value.As<Napi::Number>().Int64Value()));
}

// discard(handle): frees a fiber that never ran
Napi::Value Discard(const Napi::CallbackInfo& info) {
  Instance* instance = Get(info);
  if (Fiber* fiber = FiberOf(instance, info[0])) instance->scheduler->Discard(fiber);
  return info.Env().Undefined();
}

// cancelWasmCodeGcTasks() -> how many were cancelled, -1 when it cannot be
// done here (wasm_code_gc.h): called once the code GC is off.
Napi::Value CancelWasmCodeGcTasksCall(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), CancelWasmCodeGcTasks(v8::Isolate::GetCurrent()));
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  SchedulerStats s = Get(info)->scheduler->stats();
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("created", Napi::Number::New(env, static_cast<double>(s.created)));
  out.Set("finished", Napi::Number::New(env, static_cast<double>(s.finished)));
  out.Set("live", Napi::Number::New(env, static_cast<double>(s.live)));
  out.Set("suspended", Napi::Number::New(env, static_cast<double>(s.suspended)));
  out.Set("stackBytesReserved", Napi::Number::New(env, static_cast<double>(s.stack_bytes_reserved)));
  out.Set("stackBytesPooled", Napi::Number::New(env, static_cast<double>(s.stack_bytes_pooled)));
  out.Set("guardPages", Napi::String::New(env, s.guard_pages));
  YoungGcStats y = Get(info)->scheduler->v8().young_gc_stats();
  Napi::Object young = Napi::Object::New(env);
  young.Set("path", Napi::String::New(env, y.path));
  if (*y.reason != '\0') young.Set("reason", Napi::String::New(env, y.reason));
  young.Set("scavenges", Napi::Number::New(env, static_cast<double>(y.scavenges)));
  young.Set("skipping", Napi::Number::New(env, static_cast<double>(y.skipping)));
  out.Set("youngGc", young);
  SwitchStats sw = Get(info)->scheduler->v8().switch_stats();
  Napi::Object switching = Napi::Object::New(env);
  switching.Set("path", Napi::String::New(env, sw.path));
  if (*sw.reason != '\0') switching.Set("reason", Napi::String::New(env, sw.reason));
  switching.Set("stackLimit", Napi::String::New(env, sw.stack_limit_by_hand ? "by-hand" : "api"));
  switching.Set("handleScopes", Napi::String::New(env, sw.handle_scopes_by_hand ? "by-hand" : "api"));
  switching.Set("threadLocalTop", Napi::String::New(env, sw.top_by_hand ? "by-hand" : "api"));
  switching.Set("handleBlocks", Napi::String::New(env, sw.blocks_on_stacks ? "stack" : "v8"));
  out.Set("switching", switching);
  return out;
}

// The scheduler must outlive every GC of this isolate (suspended fibers'
// stacks are scanned until then), so it is freed when the isolate is done,
// not when the environment goes away.
void FreeCore(void* data) { delete static_cast<Core*>(data); }

// Keeps this shared object mapped for the life of the process. Node closes
// an addon's handle when the environment that loaded it is freed; when no
// other environment holds it (stackful loaded only in a worker), the code is
// unmapped, yet V8 still calls into it afterwards: FreeCore from the
// isolate-finished callback above, and the GC callbacks and cppgc's stack
// scan of the isolate's last collections. Unloading could only be made safe
// by freeing the scheduler before those, while suspended fibers' stacks are
// still roots. So the addon stays: RTLD_NODELETE on a handle to ourselves.
// See test/crash/worker-only.js.
bool PinSelf(std::string* error) {
  static const char* pinned = [] () -> const char* {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&FreeCore), &info) == 0 || info.dli_fname == nullptr) {
      return "dladdr() does not know the addon's own file";
    }
    if (dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) == nullptr) return dlerror();
    return nullptr;  // the handle is never closed: that is the point
  }();
  if (pinned != nullptr) *error = pinned;
  return pinned == nullptr;
}

void OnEnvironmentExit(void* data) {
  Core* core = static_cast<Core*>(data);
  core->hot.Shutdown();
  core->scheduler.Shutdown();
}

// init(entry: () => unknown, makeError: (code, message) => Error)
//   -> { root, create, switchTo, setNext, stats, defaultStackSize, ... }
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (env.GetInstanceData<Instance>() != nullptr) {
    Napi::Error e = Napi::Error::New(env, "stackful's native core is already initialised on this thread");
    e.Set("code", Napi::String::New(env, "ERR_STACKFUL_INIT"));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string pin_error;
  if (!PinSelf(&pin_error)) {
    Napi::Object out = Napi::Object::New(env);
    out.Set("supported", Napi::Boolean::New(env, false));
    out.Set("reason", Napi::String::New(env, "cannot keep the addon loaded for the life of the process: " + pin_error));
    return out;
  }
  Core* core = new Core();
  V8Runtime runtime = core->scheduler.v8().Init(FromNapi(info[0]).As<v8::Function>());
  Napi::Object out = Napi::Object::New(env);
  out.Set("supported", Napi::Boolean::New(env, runtime.supported));
  out.Set("reason", Napi::String::New(env, runtime.reason));
  if (!runtime.supported) {
    delete core;
    return out;
  }
  Instance* instance = new Instance();
  instance->scheduler = &core->scheduler;
  env.SetInstanceData<Instance>(instance);  // deleted with the environment
  napi_add_env_cleanup_hook(env, &OnEnvironmentExit, core);

  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  node::Environment* node_env = node::GetCurrentEnvironment(isolate->GetCurrentContext());
  node::MultiIsolatePlatform* platform =
      node_env != nullptr ? node::GetMultiIsolatePlatform(node_env) : nullptr;
  if (platform != nullptr) {
    platform->AddIsolateFinishedCallback(isolate, &FreeCore, core);
  }  // else: the core lives as long as the process

  auto fn = [&](const char* name, Napi::Function::Callback cb) {
    out.Set(name, Napi::Function::New(env, cb, name, instance));
  };
  fn("discard", Discard);
  core->hot.Define(FromNapi(out).As<v8::Object>(), FromNapi(info[1]).As<v8::Function>());
  fn("stats", Stats);
  fn("cancelWasmCodeGcTasks", CancelWasmCodeGcTasksCall);
  out.Set("root", Napi::Number::New(env, static_cast<double>(Scheduler::HandleOf(instance->scheduler->root()))));
  out.Set("defaultStackSize", Napi::Number::New(env, kDefaultStackSize));
  out.Set("minStackSize", Napi::Number::New(env, kMinStackSize));
  out.Set("maxStackSize", Napi::Number::New(env, static_cast<double>(kMaxStackSize)));
  return out;
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  return exports;
}

}  // namespace
}  // namespace stackful

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return stackful::Module(env, exports);
}

NODE_API_MODULE(stackful, InitModule)
