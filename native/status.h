// Every way a native call can fail, with its stable code. hot_calls.cc turns a
// Status into the JS error class that src/core/errors.ts registered for it. The
// messages read as src/core/fiber.ts words the same codes ("cannot <verb> <fiber>:
// <state>; <way out>"), which checks first and can name the fiber; these are
// reached only when a handle went stale behind its back.
#ifndef STACKFUL_STATUS_H_
#define STACKFUL_STATUS_H_

namespace stackful {

enum class Status : int {
  kOk = 0,
  kFiberDead,     // the target has finished
  kFiberRunning,  // the target is the running fiber
  kStackAlloc,    // the kernel refused to map a stack
};

struct StatusInfo {
  const char* code;
  const char* message;
};

inline StatusInfo Describe(Status status) {
  switch (status) {
    case Status::kOk: return {"", ""};
    case Status::kFiberDead:
      return {"ERR_FIBER_DEAD", "cannot switch to the fiber: it has already finished (or never existed on this thread); create a new Fiber"};
    case Status::kFiberRunning:
      return {"ERR_FIBER_RUNNING", "cannot switch to the fiber: it is the running fiber"};
    case Status::kStackAlloc:
      return {"ERR_FIBER_STACK",
              "could not map a stack for the fiber (out of address space or "
              "vm.max_map_count reached); finish or kill fibers you no longer need"};
  }
  return {"ERR_FIBER_INTERNAL", "unknown status"};
}

}  // namespace stackful

#endif  // STACKFUL_STATUS_H_
