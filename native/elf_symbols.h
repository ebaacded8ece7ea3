// Finding V8 internals in the running Node binary: symbols from its dynamic
// symbol table, or from its full ELF symbol table (.symtab) for the ones newer
// Node binaries no longer export, and memory reads that cannot fault. Every
// address found this way is proven by behaviour before use (see v8_state.cc
// and thread_archive.cc); a stripped binary simply yields nothing.
#ifndef STACKFUL_ELF_SYMBOLS_H_
#define STACKFUL_ELF_SYMBOLS_H_

#include <cstddef>

namespace stackful {

// For each of `count` mangled names, stores its run-time address in the main
// executable into `out` (left untouched when not found). One pass over the
// symbol table; nothing is kept afterwards.
void FindExecutableSymbols(const char* const* names, void** out, size_t count);

// One internal: the mangled names it has had across the supported V8 lines
// (first match wins), and where its address goes (left null when absent).
struct SymbolEntry {
  const char* readable;
  const char* mangled[2];
  void** slot;
};

// Resolves each entry from the dynamic symbol table first (Node 20 and 22
// export V8's internals), then from the executable's full symbol table (Node
// 24 and later keep them local).
void ResolveSymbols(SymbolEntry* entries, size_t count);

// Copies `size` bytes at `addr` without faulting on unmapped memory.
bool SafeRead(const void* addr, void* out, size_t size);

}  // namespace stackful

#endif  // STACKFUL_ELF_SYMBOLS_H_
