// Looks up symbols of the running executable in its ELF symbol table
// (.symtab), for the V8 internals that newer Node binaries no longer export
// dynamically. Every address found this way is proven by behaviour before use
// (see v8_state.cc); a stripped binary simply yields nothing.
#ifndef STACKFUL_ELF_SYMBOLS_H_
#define STACKFUL_ELF_SYMBOLS_H_

#include <cstddef>

namespace stackful {

// For each of `count` mangled names, stores its run-time address in the main
// executable into `out` (left untouched when not found). One pass over the
// symbol table; nothing is kept afterwards.
void FindExecutableSymbols(const char* const* names, void** out, size_t count);

}  // namespace stackful

#endif  // STACKFUL_ELF_SYMBOLS_H_
