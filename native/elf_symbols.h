// Reading the running process as ELF and as memory: symbols from the Node
// binary's dynamic symbol table, or from its full ELF symbol table (.symtab)
// for the ones newer Node binaries no longer export; a module's TLS block and
// code segments (dl_iterate_phdr); memory reads that cannot fault. Nothing
// here knows V8: what is looked for is named in v8_lines.cc, and every
// address found is proven by behaviour before use (v8_probes.cc,
// stack_scan.cc, thread_archive.cc); a stripped binary simply yields nothing.
#ifndef STACKFUL_ELF_SYMBOLS_H_
#define STACKFUL_ELF_SYMBOLS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "arch/cpu.h"

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

// Whether a word read from memory can be a pointer to a C++ object.
inline bool PlausiblePointer(uintptr_t p) { return p >= 0x10000 && p % 8 == 0 && cpu::IsUserAddress(p); }

// How far into the isolate its fields are looked for.
constexpr size_t kIsolateScanBytes = 256 * 1024;

// A copy of the first kIsolateScanBytes of the object at `isolate`, a page at
// a time, zeros from the first page that cannot be read; `spare` more zero
// bytes follow it.
std::vector<uintptr_t> CopyIsolate(const void* isolate, size_t spare = 0);

// This thread's TLS block of the loaded module whose code holds
// `code_address`; false when it has none.
bool TlsBlockOf(const void* code_address, char** base, size_t* size);

// An address range [low, low + size).
struct AddressRange {
  uintptr_t low = 0, size = 0;
  bool Contains(uintptr_t p) const { return p - low < size; }
};

// The executable segments of the main program and of the module whose code
// holds `code_address` (this addon).
void FindCodeSegments(const void* code_address, AddressRange* program, AddressRange* module);

}  // namespace stackful

#endif  // STACKFUL_ELF_SYMBOLS_H_
