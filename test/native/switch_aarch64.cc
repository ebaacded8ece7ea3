/*
 * Standalone check of native/arch/switch_aarch64_aapcs64.S, without Node:
 * cross-compiled with aarch64-linux-gnu-g++ and run under qemu-aarch64 by
 * test/native/run-switch-aarch64.sh (and by test/arm64.test.ts).
 *
 * Two contexts switch back and forth many times. Around every switch each
 * side loads its own pattern into every callee-saved register (x19-x29,
 * d8-d15) and its own FPCR modes, and checks afterwards that all of them came
 * back. It also checks that a new context starts 16-byte aligned, formats a
 * double there (the classic misalignment crash), starts with its creator's
 * FPCR, and that a backtrace taken on it ends at its first frame.
 */
#include <execinfo.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../../native/arch/switch.h"

/* Where probe_switch stores the registers after the switch came back. */
struct regs {
  uint64_t x[11]; /* x19..x29 */
  uint64_t d[8];  /* d8..d15 */
  uint64_t fpcr;
};

/* void* probe_switch(void** from, void* to, void* value, struct regs* out,
 *                    uint64_t seed)
 * Saves the caller's callee-saved state, loads x19..x29 = seed + n,
 * d8..d15 = ~(seed + n), FPCR = the seed's modes, switches, stores what the
 * registers hold on return into *out, restores the caller's state. */
extern "C" void* probe_switch(void** from, void* to, void* value, regs* out, uint64_t seed);
__asm__(
    "    .text\n"
    "    .globl probe_switch\n"
    "    .type probe_switch, %function\n"
    "probe_switch:\n"
    "    sub sp, sp, #192\n"
    "    stp x19, x20, [sp, #0x00]\n"
    "    stp x21, x22, [sp, #0x10]\n"
    "    stp x23, x24, [sp, #0x20]\n"
    "    stp x25, x26, [sp, #0x30]\n"
    "    stp x27, x28, [sp, #0x40]\n"
    "    stp x29, x30, [sp, #0x50]\n"
    "    stp d8,  d9,  [sp, #0x60]\n"
    "    stp d10, d11, [sp, #0x70]\n"
    "    stp d12, d13, [sp, #0x80]\n"
    "    stp d14, d15, [sp, #0x90]\n"
    "    mrs x9, fpcr\n"
    "    stp x9, x3, [sp, #0xa0]\n"       /* caller's FPCR, out */
    /* the patterns */
    "    add x19, x4, #19\n"
    "    add x20, x4, #20\n"
    "    add x21, x4, #21\n"
    "    add x22, x4, #22\n"
    "    add x23, x4, #23\n"
    "    add x24, x4, #24\n"
    "    add x25, x4, #25\n"
    "    add x26, x4, #26\n"
    "    add x27, x4, #27\n"
    "    add x28, x4, #28\n"
    "    add x29, x4, #29\n"
    "    add x9, x4, #8\n  mvn x9, x9\n  fmov d8, x9\n"
    "    add x9, x4, #9\n  mvn x9, x9\n  fmov d9, x9\n"
    "    add x9, x4, #10\n mvn x9, x9\n  fmov d10, x9\n"
    "    add x9, x4, #11\n mvn x9, x9\n  fmov d11, x9\n"
    "    add x9, x4, #12\n mvn x9, x9\n  fmov d12, x9\n"
    "    add x9, x4, #13\n mvn x9, x9\n  fmov d13, x9\n"
    "    add x9, x4, #14\n mvn x9, x9\n  fmov d14, x9\n"
    "    add x9, x4, #15\n mvn x9, x9\n  fmov d15, x9\n"
    /* FPCR modes from the seed's low bits: RMode (22-23), FZ (24), DN (25) */
    "    and x9, x4, #0xf\n"
    "    lsl x9, x9, #22\n"
    "    msr fpcr, x9\n"
    "    bl stackful_switch\n"
    "    ldr x9, [sp, #0xa8]\n"            /* out */
    "    stp x19, x20, [x9, #0x00]\n"
    "    stp x21, x22, [x9, #0x10]\n"
    "    stp x23, x24, [x9, #0x20]\n"
    "    stp x25, x26, [x9, #0x30]\n"
    "    stp x27, x28, [x9, #0x40]\n"
    "    str x29,      [x9, #0x50]\n"
    "    stp d8,  d9,  [x9, #0x58]\n"
    "    stp d10, d11, [x9, #0x68]\n"
    "    stp d12, d13, [x9, #0x78]\n"
    "    stp d14, d15, [x9, #0x88]\n"
    "    mrs x10, fpcr\n"
    "    str x10,      [x9, #0x98]\n"
    "    ldr x10, [sp, #0xa0]\n"
    "    msr fpcr, x10\n"
    "    ldp d14, d15, [sp, #0x90]\n"
    "    ldp d12, d13, [sp, #0x80]\n"
    "    ldp d10, d11, [sp, #0x70]\n"
    "    ldp d8,  d9,  [sp, #0x60]\n"
    "    ldp x29, x30, [sp, #0x50]\n"
    "    ldp x27, x28, [sp, #0x40]\n"
    "    ldp x25, x26, [sp, #0x30]\n"
    "    ldp x23, x24, [sp, #0x20]\n"
    "    ldp x21, x22, [sp, #0x10]\n"
    "    ldp x19, x20, [sp, #0x00]\n"
    "    add sp, sp, #192\n"
    "    ret\n"
    "    .size probe_switch, .-probe_switch\n");

static int failures;

static void check(const char* who, int round, const struct regs* r, uint64_t seed) {
  for (int i = 0; i < 11; i++) {
    if (r->x[i] != seed + 19 + i) {
      fprintf(stderr, "%s round %d: x%d is %#llx, want %#llx\n", who, round, 19 + i,
              (unsigned long long)r->x[i], (unsigned long long)(seed + 19 + i));
      failures++;
    }
  }
  for (int i = 0; i < 8; i++) {
    if (r->d[i] != ~(seed + 8 + i)) {
      fprintf(stderr, "%s round %d: d%d is %#llx, want %#llx\n", who, round, 8 + i,
              (unsigned long long)r->d[i], (unsigned long long)~(seed + 8 + i));
      failures++;
    }
  }
  uint64_t fpcr = (seed & 0xf) << 22;
  if (r->fpcr != fpcr) {
    fprintf(stderr, "%s round %d: FPCR is %#llx, want %#llx\n", who, round,
            (unsigned long long)r->fpcr, (unsigned long long)fpcr);
    failures++;
  }
}

enum { kRounds = 1000 };
static void* main_sp;
static void* fiber_sp;
static uint64_t creator_fpcr;

static uint64_t read_fpcr(void) {
  uint64_t v;
  __asm__ volatile("mrs %0, fpcr" : "=r"(v));
  return v;
}

static void entry(void* value) {
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  char buf[64];
  if (read_fpcr() != creator_fpcr) {
    fprintf(stderr, "fiber: starts with FPCR %#llx, want the creator's %#llx\n",
            (unsigned long long)read_fpcr(), (unsigned long long)creator_fpcr);
    failures++;
  }
  if (sp % 16 != 0) {
    fprintf(stderr, "fiber: frame at %#lx is not 16-byte aligned\n", (unsigned long)sp);
    failures++;
  }
  snprintf(buf, sizeof buf, "%f", 1.5 + (double)(uintptr_t)value);
  if (strcmp(buf, "43.500000") != 0) {
    fprintf(stderr, "fiber: snprintf(%%f) gave %s\n", buf);
    failures++;
  }
  void* frames[64];
  int depth = backtrace(frames, 64);
  if (depth < 1 || depth >= 64) {
    fprintf(stderr, "fiber: a backtrace has %d frames (it should end at the first frame)\n", depth);
    failures++;
  }
  struct regs r;
  uintptr_t v = (uintptr_t)value;
  for (int round = 0; round < kRounds; round++) {
    uint64_t seed = 0xf1be000000000000ull + ((uint64_t)round << 8) + 0xa;
    v = (uintptr_t)probe_switch(&fiber_sp, main_sp, (void*)(v + 1), &r, seed);
    check("fiber", round, &r, seed);
  }
  /* back to main for good */
  probe_switch(&fiber_sp, main_sp, (void*)0, &r, 0);
  abort(); /* never resumed */
}

int main(void) {
  enum { kStack = 256 * 1024 };
  char* stack = static_cast<char*>(aligned_alloc(16, kStack));
  /* an odd top: make_context must align it */
  __asm__ volatile("msr fpcr, %0" : : "r"((uint64_t)1 << 24)); /* FZ */
  creator_fpcr = read_fpcr();
  fiber_sp = stackful_make_context(stack + kStack - 5, entry);
  __asm__ volatile("msr fpcr, %0" : : "r"((uint64_t)0));
  struct regs r;
  uintptr_t v = 42;
  for (int round = 0; round <= kRounds; round++) {
    uint64_t seed = 0x3a1e000000000000ull + ((uint64_t)round << 8) + 0x5;
    uintptr_t got = (uintptr_t)probe_switch(&main_sp, fiber_sp, (void*)v, &r, seed);
    check("main", round, &r, seed);
    if (round < kRounds && got != v + 1) {
      fprintf(stderr, "main round %d: the switch returned %lu, want %lu\n", round,
              (unsigned long)got, (unsigned long)(v + 1));
      failures++;
    }
    v = got + 1;
  }
  if (failures) {
    fprintf(stderr, "switch_aarch64: %d failures\n", failures);
    return 1;
  }
  printf("switch_aarch64: %d round trips, every callee-saved register and FPCR kept\n", kRounds);
  return 0;
}
