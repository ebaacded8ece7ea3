/*
 * Context switch for x86-64, System V ABI (Linux, macOS, BSD).
 *
 * Saved frame, from the saved stack pointer upward:
 *
 *   offset  contents
 *   0x00    MXCSR (control and status of SSE; the control bits are callee-saved)
 *   0x04    x87 FPU control word (callee-saved)
 *   0x08    padding
 *   0x10    r15
 *   0x18    r14
 *   0x20    r13
 *   0x28    r12     (a new context keeps the entry function here)
 *   0x30    rbx
 *   0x38    rbp
 *   0x40    return address
 *
 * Everything else is caller-saved, so the C++ caller has already spilled it.
 */

    .text

/* void* stackful_switch(void** from_sp, void* to_sp, void* value) */
    .globl  stackful_switch
    .hidden stackful_switch
    .type   stackful_switch, @function
    .p2align 4
stackful_switch:
    .cfi_startproc
    pushq   %rbp                /* 0x38 */
    pushq   %rbx                /* 0x30 */
    pushq   %r12                /* 0x28 */
    pushq   %r13                /* 0x20 */
    pushq   %r14                /* 0x18 */
    pushq   %r15                /* 0x10 */
    subq    $16, %rsp           /* room for the FPU state */
    stmxcsr (%rsp)              /* 0x00: MXCSR */
    fnstcw  4(%rsp)             /* 0x04: x87 control word */

    movq    %rsp, (%rdi)        /* publish the suspended context */
    movq    %rsi, %rsp          /* now on the target's stack */

    ldmxcsr (%rsp)              /* 0x00: MXCSR */
    fldcw   4(%rsp)             /* 0x04: x87 control word */
    addq    $16, %rsp
    popq    %r15                /* 0x10 */
    popq    %r14                /* 0x18 */
    popq    %r13                /* 0x20 */
    popq    %r12                /* 0x28 */
    popq    %rbx                /* 0x30 */
    popq    %rbp                /* 0x38 */
    movq    %rdx, %rax          /* the value travels as the return value */
    ret                         /* 0x40 */
    .cfi_endproc
    .size   stackful_switch, .-stackful_switch

/* void* stackful_make_context(void* stack_top, stackful_entry_fn entry)
 *
 * Builds the frame above on the new stack so that the first switch into it
 * "returns" into stackful_start with r12 = entry and rax = the value.
 * The return address sits at top-24, so stackful_start runs with rsp 16-byte
 * aligned and the entry function sees the usual (rsp + 8) alignment.
 */
    .globl  stackful_make_context
    .hidden stackful_make_context
    .type   stackful_make_context, @function
    .p2align 4
stackful_make_context:
    .cfi_startproc
    movq    %rdi, %rax
    andq    $-16, %rax          /* align the top of the stack */
    movq    $0, -8(%rax)        /* a null return address ends backtraces */
    movq    $0, -16(%rax)
    leaq    -88(%rax), %rax     /* the saved stack pointer: top - 24 - 0x40 */
    leaq    stackful_start(%rip), %rcx
    movq    %rcx, 0x40(%rax)    /* return address */
    movq    $0, 0x38(%rax)      /* rbp: no caller frame */
    movq    $0, 0x30(%rax)      /* rbx */
    movq    %rsi, 0x28(%rax)    /* r12: the entry function */
    movq    $0, 0x20(%rax)      /* r13 */
    movq    $0, 0x18(%rax)      /* r14 */
    movq    $0, 0x10(%rax)      /* r15 */
    movq    $0, 0x08(%rax)      /* padding */
    stmxcsr (%rax)              /* start with the creator's FPU modes */
    fnstcw  4(%rax)
    ret
    .cfi_endproc
    .size   stackful_make_context, .-stackful_make_context

/* First code run on a new stack: entry(value); entry never returns. */
    .type   stackful_start, @function
    .p2align 4
stackful_start:
    .cfi_startproc
    .cfi_undefined rip          /* the outermost frame: unwinders stop here */
    movq    %rax, %rdi
    callq   *%r12
    ud2                         /* entry returned: a bug, crash loudly */
    .cfi_endproc
    .size   stackful_start, .-stackful_start

    .section .note.GNU-stack,"",@progbits
