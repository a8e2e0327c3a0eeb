# ilwaco port: cancellable system calls become a call to __ilwaco_syscall.
#
# Entry: rdi = &cancel flag, rsi = nr, rdx/rcx/r8/r9 = a1..a4, 8(%rsp) = a5,
# 16(%rsp) = a6. __ilwaco_syscall(nr, a1..a6) wants nr in rdi, a1..a5 in
# rsi/rdx/rcx/r8/r9 and a6 on the stack. The cancellation window
# [__cp_begin, __cp_end) keeps musl's meaning: a call not yet returned.
.text
.global __cp_begin
.hidden __cp_begin
.global __cp_end
.hidden __cp_end
.global __cp_cancel
.hidden __cp_cancel
.hidden __cancel
.global __syscall_cp_asm
.hidden __syscall_cp_asm
.type __syscall_cp_asm,@function
__syscall_cp_asm:
__cp_begin:
	mov (%rdi),%eax
	test %eax,%eax
	jnz __cp_cancel
	mov %rsi,%rdi
	mov %rdx,%rsi
	mov %rcx,%rdx
	mov %r8,%rcx
	mov %r9,%r8
	mov 8(%rsp),%r9
	# The push reads a6 before moving rsp and leaves rsp 16-byte aligned for the call.
	pushq 16(%rsp)
	call __ilwaco_syscall
__cp_end:
	add $8,%rsp
	ret
__cp_cancel:
	jmp __cancel
.size __syscall_cp_asm,.-__syscall_cp_asm
