// What the native code must know about the CPU and its Linux ABI beyond the
// switch itself (native/arch/switch.h). One block per CPU; a CPU missing here
// fails the build, rather than inheriting another CPU's assumptions.
#ifndef STACKFUL_ARCH_CPU_H_
#define STACKFUL_ARCH_CPU_H_

#include <cstdint>

namespace stackful::cpu {

#if defined(__x86_64__)
// User space on x86-64 Linux ends below 2^47 (5-level paging gives out more
// only to an mmap() that asks for it with a hint above that, which V8 and
// glibc do not).
constexpr unsigned kUserAddressBits = 47;
#elif defined(__aarch64__)
// User space on arm64 Linux ends below 2^48 with 4, 16 or 64 KiB pages (below
// 2^39 or 2^42 on smaller configurations; 2^52 only for an mmap() hint above
// 2^48). Real machines map shared libraries and the heap near 2^48 (0xffff...),
// so x86-64's 47 bits would reject every pointer there. (qemu-user hands out
// the host's addresses, all below 2^47: it cannot show the difference.)
constexpr unsigned kUserAddressBits = 48;
#else
#error "stackful has no native/arch support for this CPU: see ARCHITECTURE.md, 'A new CPU'"
#endif

// Whether `p` can be an address in this process's user space.
inline bool IsUserAddress(uintptr_t p) { return p >> kUserAddressBits == 0; }

}  // namespace stackful::cpu

#endif  // STACKFUL_ARCH_CPU_H_
