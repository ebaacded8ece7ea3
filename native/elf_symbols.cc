#include "elf_symbols.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace stackful {
namespace {

int FindBias(dl_phdr_info* info, size_t, void* data) {
  // The first object is the main program; its dlpi_addr is the load bias
  // (0 for a non-PIE executable).
  *static_cast<uintptr_t*>(data) = info->dlpi_addr;
  return 1;
}

}  // namespace

void FindExecutableSymbols(const char* const* names, void** out, size_t count) {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < sizeof(Elf64_Ehdr)) {
    close(fd);
    return;
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return;
  const char* file = static_cast<const char*>(map);
  const Elf64_Ehdr* eh = reinterpret_cast<const Elf64_Ehdr*>(file);
  const bool valid = memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
                     eh->e_ident[EI_CLASS] == ELFCLASS64 &&
                     eh->e_shentsize == sizeof(Elf64_Shdr) &&
                     eh->e_shoff + size_t{eh->e_shnum} * sizeof(Elf64_Shdr) <= size;
  if (valid) {
    uintptr_t bias = 0;
    dl_iterate_phdr(&FindBias, &bias);
    const Elf64_Shdr* sections = reinterpret_cast<const Elf64_Shdr*>(file + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; ++i) {
      const Elf64_Shdr& sh = sections[i];
      if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= eh->e_shnum) continue;
      const Elf64_Shdr& strtab = sections[sh.sh_link];
      if (sh.sh_offset + sh.sh_size > size || strtab.sh_offset + strtab.sh_size > size) continue;
      const Elf64_Sym* syms = reinterpret_cast<const Elf64_Sym*>(file + sh.sh_offset);
      const size_t symbols = sh.sh_size / sizeof(Elf64_Sym);
      const char* strings = file + strtab.sh_offset;
      for (size_t k = 0; k < symbols; ++k) {
        const Elf64_Sym& sym = syms[k];
        const unsigned type = ELF64_ST_TYPE(sym.st_info);
        if ((type != STT_FUNC && type != STT_OBJECT) || sym.st_name >= strtab.sh_size ||
            sym.st_value == 0) {
          continue;
        }
        const char* name = strings + sym.st_name;
        for (size_t n = 0; n < count; ++n) {
          if (name[0] == names[n][0] && strcmp(name, names[n]) == 0) {
            out[n] = reinterpret_cast<void*>(sym.st_value + bias);
          }
        }
      }
    }
  }
  munmap(map, size);
}

void ResolveSymbols(SymbolEntry* entries, size_t count) {
  std::vector<const char*> wanted;
  for (size_t k = 0; k < count; ++k) {
    SymbolEntry& e = entries[k];
    for (const char* name : e.mangled) {
      if (name != nullptr && (*e.slot = dlsym(RTLD_DEFAULT, name)) != nullptr) break;
    }
    if (*e.slot != nullptr) continue;
    for (const char* name : e.mangled) {
      if (name != nullptr) wanted.push_back(name);
    }
  }
  if (wanted.empty()) return;
  std::vector<void*> found(wanted.size(), nullptr);
  FindExecutableSymbols(wanted.data(), found.data(), wanted.size());
  for (size_t k = 0; k < count; ++k) {
    SymbolEntry& e = entries[k];
    for (const char* name : e.mangled) {
      for (size_t i = 0; i < wanted.size() && *e.slot == nullptr; ++i) {
        if (name != nullptr && wanted[i] == name) *e.slot = found[i];
      }
    }
  }
}

std::vector<uintptr_t> CopyIsolate(const void* isolate, size_t spare) {
  constexpr size_t kChunk = 4096;
  std::vector<uintptr_t> copy((kIsolateScanBytes + spare) / sizeof(uintptr_t), 0);
  for (size_t offset = 0; offset < kIsolateScanBytes; offset += kChunk) {
    if (!SafeRead(static_cast<const char*>(isolate) + offset, copy.data() + offset / sizeof(uintptr_t), kChunk)) break;
  }
  return copy;
}

namespace {

struct TlsSearch {
  uintptr_t code_address;  // an address inside the module we want
  void* tls_data = nullptr;
  size_t tls_size = 0;
};

int FindTlsBlock(dl_phdr_info* info, size_t, void* data) {
  TlsSearch* search = static_cast<TlsSearch*>(data);
  bool contains = false;
  size_t tls_size = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && search->code_address >= start &&
        search->code_address < start + ph.p_memsz) {
      contains = true;
    }
    if (ph.p_type == PT_TLS) tls_size = ph.p_memsz;
  }
  if (!contains) return 0;
  search->tls_data = info->dlpi_tls_data;
  search->tls_size = tls_size;
  return 1;
}

struct CodeSearch {
  uintptr_t code_address;
  AddressRange* program;
  AddressRange* module;
  int objects = 0;
};

int FindCode(dl_phdr_info* info, size_t, void* data) {
  CodeSearch* search = static_cast<CodeSearch*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    const AddressRange range{info->dlpi_addr + ph.p_vaddr, ph.p_memsz};
    if (search->objects == 0 && info->dlpi_name[0] == '\0') *search->program = range;
    if (range.Contains(search->code_address)) *search->module = range;
  }
  ++search->objects;
  return 0;
}

}  // namespace

bool TlsBlockOf(const void* code_address, char** base, size_t* size) {
  TlsSearch search{reinterpret_cast<uintptr_t>(code_address)};
  dl_iterate_phdr(&FindTlsBlock, &search);
  *base = static_cast<char*>(search.tls_data);
  *size = search.tls_size;
  return search.tls_data != nullptr;
}

void FindCodeSegments(const void* code_address, AddressRange* program, AddressRange* module) {
  CodeSearch search{reinterpret_cast<uintptr_t>(code_address), program, module};
  dl_iterate_phdr(&FindCode, &search);
}

// Where process_vm_readv() does not exist (qemu-user does not emulate it; a
// seccomp profile may refuse it), the kernel still checks a buffer handed to
// write(): the bytes go through a pipe, a chunk at a time (one chunk always
// fits in a pipe), and an unreadable address fails with EFAULT.
static bool SafeReadThroughPipe(const void* addr, void* out, size_t size) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  constexpr size_t kChunk = 4096;
  bool ok = true;
  for (size_t done = 0; ok && done < size;) {
    const size_t n = size - done < kChunk ? size - done : kChunk;
    ok = write(fds[1], static_cast<const char*>(addr) + done, n) == static_cast<ssize_t>(n) &&
         read(fds[0], static_cast<char*>(out) + done, n) == static_cast<ssize_t>(n);
    done += n;
  }
  close(fds[0]);
  close(fds[1]);
  return ok;
}

bool SafeRead(const void* addr, void* out, size_t size) {
  iovec local{out, size};
  iovec remote{const_cast<void*>(addr), size};
  if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size)) return true;
  if (errno != ENOSYS && errno != EPERM) return false;
  return SafeReadThroughPipe(addr, out, size);
}

}  // namespace stackful
