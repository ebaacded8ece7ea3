// The whole contract of the machine-level context switch.
//
// A context is a suspended stack: everything the callee-saved ABI requires is
// pushed onto it and the resulting stack pointer is the context's handle.
// There is one implementation per ABI, in switch_<arch>_<abi>.S.
#ifndef STACKFUL_ARCH_SWITCH_H_
#define STACKFUL_ARCH_SWITCH_H_

extern "C" {

// Entry point of a new context. It receives the value passed to the first
// stackful_switch() into the context, and must never return.
typedef void (*stackful_entry_fn)(void* value);

// Prepares a new context on the stack that ends (exclusive) at `stack_top`.
// Returns its stack pointer, to be passed to stackful_switch() as `to_sp`.
void* stackful_make_context(void* stack_top, stackful_entry_fn entry);

// Saves the running context, stores its stack pointer in `*from_sp`, and
// resumes the context at `to_sp`. In the resumed context, the pending
// stackful_switch() returns `value` (a new context gets it as entry's argument).
void* stackful_switch(void** from_sp, void* to_sp, void* value);

}  // extern "C"

#endif  // STACKFUL_ARCH_SWITCH_H_
