/*
 * Context switch for AArch64, AAPCS64 (Linux; the Procedure Call Standard
 * for the Arm 64-bit Architecture).
 *
 * Saved frame, from the saved stack pointer upward (176 bytes, so sp stays
 * 16-byte aligned, as AAPCS64 requires at every public interface):
 *
 *   offset  contents
 *   0x00    x19     (a new context keeps the entry function here)
 *   0x08    x20
 *   0x10    x21
 *   0x18    x22
 *   0x20    x23
 *   0x28    x24
 *   0x30    x25
 *   0x38    x26
 *   0x40    x27
 *   0x48    x28
 *   0x50    x29     (frame pointer)
 *   0x58    x30     (lr: where the switch returns to)
 *   0x60    d8      (only the low 64 bits of v8-v15 are callee-saved)
 *   0x68    d9
 *   0x70    d10
 *   0x78    d11
 *   0x80    d12
 *   0x88    d13
 *   0x90    d14
 *   0x98    d15
 *   0xa0    FPCR    (rounding mode, flush-to-zero, default NaN: callee-saved)
 *   0xa8    padding
 *
 * Everything else is caller-saved, so the C++ caller has already spilled it.
 * x18 is the platform register; Linux does not reserve it (no shadow call
 * stack in Node's builds), so it is an ordinary temporary and is not kept.
 * The return address is restored exactly as it was saved: a caller built
 * with pointer authentication signed it against its own sp, and that sp is
 * what the switch returns with.
 */

    .text

/* void* stackful_switch(void** from_sp, void* to_sp, void* value) */
    .globl  stackful_switch
    .hidden stackful_switch
    .type   stackful_switch, %function
    .p2align 4
stackful_switch:
    .cfi_startproc
    sub     sp, sp, #176        /* room for the frame above */
    stp     x19, x20, [sp, #0x00]
    stp     x21, x22, [sp, #0x10]
    stp     x23, x24, [sp, #0x20]
    stp     x25, x26, [sp, #0x30]
    stp     x27, x28, [sp, #0x40]
    stp     x29, x30, [sp, #0x50]   /* frame pointer, return address */
    stp     d8,  d9,  [sp, #0x60]
    stp     d10, d11, [sp, #0x70]
    stp     d12, d13, [sp, #0x80]
    stp     d14, d15, [sp, #0x90]
    mrs     x9, fpcr
    str     x9, [sp, #0xa0]     /* FPCR */

    mov     x9, sp
    str     x9, [x0]            /* publish the suspended context */
    mov     sp, x1              /* now on the target's stack */

    ldr     x9, [sp, #0xa0]
    msr     fpcr, x9            /* FPCR */
    ldp     d14, d15, [sp, #0x90]
    ldp     d12, d13, [sp, #0x80]
    ldp     d10, d11, [sp, #0x70]
    ldp     d8,  d9,  [sp, #0x60]
    ldp     x29, x30, [sp, #0x50]   /* frame pointer, return address */
    ldp     x27, x28, [sp, #0x40]
    ldp     x25, x26, [sp, #0x30]
    ldp     x23, x24, [sp, #0x20]
    ldp     x21, x22, [sp, #0x10]
    ldp     x19, x20, [sp, #0x00]
    add     sp, sp, #176
    mov     x0, x2              /* the value travels as the return value */
    ret                         /* to x30 */
    .cfi_endproc
    .size   stackful_switch, .-stackful_switch

/* void* stackful_make_context(void* stack_top, stackful_entry_fn entry)
 *
 * Builds the frame above on the new stack so that the first switch into it
 * "returns" into stackful_start with x19 = entry, x29 = 0 and x0 = the value.
 * The frame sits 16 bytes below the aligned top; those 16 bytes are a zeroed
 * frame record, so stackful_start runs with sp 16-byte aligned and a
 * frame-pointer walk that reaches it finds a null link.
 */
    .globl  stackful_make_context
    .hidden stackful_make_context
    .type   stackful_make_context, %function
    .p2align 4
stackful_make_context:
    .cfi_startproc
    and     x9, x0, #~15        /* align the top of the stack */
    stp     xzr, xzr, [x9, #-16]    /* a null frame record ends backtraces */
    sub     x0, x9, #(176 + 16) /* the saved stack pointer */
    stp     x1,  xzr, [x0, #0x00]   /* x19: the entry function; x20 */
    stp     xzr, xzr, [x0, #0x10]   /* x21, x22 */
    stp     xzr, xzr, [x0, #0x20]   /* x23, x24 */
    stp     xzr, xzr, [x0, #0x30]   /* x25, x26 */
    stp     xzr, xzr, [x0, #0x40]   /* x27, x28 */
    adr     x10, stackful_start
    stp     xzr, x10, [x0, #0x50]   /* x29: no caller frame; x30: the start */
    stp     xzr, xzr, [x0, #0x60]   /* d8, d9 */
    stp     xzr, xzr, [x0, #0x70]   /* d10, d11 */
    stp     xzr, xzr, [x0, #0x80]   /* d12, d13 */
    stp     xzr, xzr, [x0, #0x90]   /* d14, d15 */
    mrs     x10, fpcr
    stp     x10, xzr, [x0, #0xa0]   /* start with the creator's FPU modes; padding */
    ret
    .cfi_endproc
    .size   stackful_make_context, .-stackful_make_context

/* First code run on a new stack: entry(value); entry never returns. */
    .type   stackful_start, %function
    .p2align 4
stackful_start:
    .cfi_startproc
    .cfi_undefined x30          /* the outermost frame: unwinders stop here */
    blr     x19                 /* x0 already holds the value */
    brk     #0x3e8              /* entry returned: a bug, crash loudly */
    .cfi_endproc
    .size   stackful_start, .-stackful_start

    .section .note.GNU-stack,"",%progbits
