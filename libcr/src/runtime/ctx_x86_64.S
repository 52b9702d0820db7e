/* ctx_x86_64.S -- save the callee-saved state of the calling thread.
 *
 * int cr_ctx_save(crimg::JmpContext* ctx)
 *   Stores rbx, rbp, r12-r15, the caller's rsp and return address, MXCSR
 *   and the x87 control word, and returns 0.  The restorer (restorer_blob.c)
 *   later loads the same fields into a fresh thread and jumps to ctx->rip
 *   with eax = 1, so the call appears to return a second time with 1, like
 *   setjmp/longjmp without glibc's pointer mangling.
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
        .section .note.GNU-stack,"",@progbits
