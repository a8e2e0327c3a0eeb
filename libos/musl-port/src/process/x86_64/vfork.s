# ilwaco port: a Denali VM is one process; vfork fails with errno ENOSYS.
.text
.global vfork
.type vfork,@function
vfork:
	# __syscall_ret turns -ENOSYS into -1 with errno set.
	mov $-38,%rdi
	.hidden __syscall_ret
	jmp __syscall_ret
.size vfork,.-vfork
