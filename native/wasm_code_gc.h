// V8's WebAssembly code GC and suspended fibers.
//
// The code GC must not run while any V8 thread state is archived, that is
// while any fiber is suspended: each isolate's report to it checks
// ThreadManager's list and aborts the process ("archived threads in
// combination with wasm not supported"). stackful turns the code GC off
// (--no-wasm-code-gc) when the first fiber is made, and V8 starts none after
// that. But one started before leaves work behind: V8 asks each isolate for
// its report twice, by an interrupt and by a task on the isolate's foreground
// queue, and the first to run finishes the GC without cancelling the other.
// The interrupt comes at the next function call; the task waits for the event
// loop, and if a fiber was suspended meanwhile (as soon as the first fiber
// yields), it aborts the process although the GC is long over.
// test/crash/wasm-stale-task.js shows it on every supported line.
#ifndef STACKFUL_WASM_CODE_GC_H_
#define STACKFUL_WASM_CODE_GC_H_

namespace stackful {

// Cancels this isolate's code GC tasks that are still waiting, through V8's
// own CancelableTaskManager::TryAbort(). Called on the isolate's thread once
// the code GC is off and before any fiber of this isolate is suspended.
// Returns how many were cancelled, or -1 when nothing could be done (this
// Node binary lacks an internal it takes, or the manager's table could not be
// read consistently).
int CancelWasmCodeGcTasks(void* isolate);

}  // namespace stackful

#endif  // STACKFUL_WASM_CODE_GC_H_
