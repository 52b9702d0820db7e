/* ctx_x86_64.S -- save the callee-saved state of the calling thread.
 *
 * int cr_ctx_save(crimg::JmpContext* ctx)
 *   Stores rbx, rbp, r12-r15, the caller's rsp and return address, MXCSR
 *   and the x87 control word, and returns 0.  The restorer (restorer_blob.c)
 *   later loads the same fields into a fresh thread and jumps to ctx->rip
 *   with eax = 1, so the call appears to return a second time with 1, like
 *   setjmp/longjmp without glibc's pointer mangling.
 *
 * int cr_park(crimg::JmpContext* ctx, uint32_t* arrived, const uint32_t* gen,
 *             uint32_t seen)
 *   A thread's last steps before a checkpoint captures it (threads.cpp):
 *   save the context like cr_ctx_save, count the thread arrived, wake the
 *   manager, and sleep until *gen != seen; then return 0.  A restart makes
 *   it return 1 at the same place, as cr_ctx_save does.
 *   Algorithm: from the moment the thread counts itself arrived, the
 *   manager may be reading its stack; so from the `lock incl` on, nothing
 *   here writes memory: no call, no push, no spill; the two futex calls are
 *   raw `syscall` instructions that only clobber rax, rcx, r11 and the
 *   argument registers.  The stack is first written again by the caller,
 *   after the release (return 0) or after a restart (return 1).
 */
        .text
        .globl  cr_ctx_save
        .hidden cr_ctx_save
        .type   cr_ctx_save, @function
cr_ctx_save:
        endbr64
        movq    %rbx, 0(%rdi)
        movq    %rbp, 8(%rdi)
        movq    %r12, 16(%rdi)
        movq    %r13, 24(%rdi)
        movq    %r14, 32(%rdi)
        movq    %r15, 40(%rdi)
        leaq    8(%rsp), %rdx          /* rsp after our return */
        movq    %rdx, 48(%rdi)
        movq    (%rsp), %rdx           /* return address */
        movq    %rdx, 56(%rdi)
        stmxcsr 64(%rdi)
        fnstcw  68(%rdi)
        xorl    %eax, %eax
        ret
        .size   cr_ctx_save, .-cr_ctx_save

#define SYS_futex 202
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

        .globl  cr_park
        .hidden cr_park
        .type   cr_park, @function
cr_park:
        endbr64
        movq    %rbx, 0(%rdi)
        movq    %rbp, 8(%rdi)
        movq    %r12, 16(%rdi)
        movq    %r13, 24(%rdi)
        movq    %r14, 32(%rdi)
        movq    %r15, 40(%rdi)
        leaq    8(%rsp), %rax
        movq    %rax, 48(%rdi)
        movq    (%rsp), %rax
        movq    %rax, 56(%rdi)
        stmxcsr 64(%rdi)
        fnstcw  68(%rdi)
        movq    %rdx, %r8              /* gen */
        movl    %ecx, %r9d             /* seen */
        lock incl (%rsi)               /* arrived: from here on, no stores */
        movl    $SYS_futex, %eax       /* futex(arrived, WAKE, INT_MAX) */
        movq    %rsi, %rdi
        movl    $FUTEX_WAKE_PRIVATE, %esi
        movl    $0x7fffffff, %edx
        xorl    %r10d, %r10d
        syscall
1:      movl    (%r8), %eax            /* released? */
        cmpl    %r9d, %eax
        jne     2f
        movl    $SYS_futex, %eax       /* futex(gen, WAIT, seen, no timeout) */
        movq    %r8, %rdi
        movl    $FUTEX_WAIT_PRIVATE, %esi
        movl    %r9d, %edx
        xorl    %r10d, %r10d
        syscall
        jmp     1b
2:      xorl    %eax, %eax
        ret
        .size   cr_park, .-cr_park
        .section .note.GNU-stack,"",@progbits
