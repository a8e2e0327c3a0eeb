# ilwaco port: a Denali VM has one vCPU and no kernel to create threads, so clone fails.
.text
.global __clone
.hidden __clone
.type __clone,@function
__clone:
	# -ENOSYS
	mov $-38,%rax
	ret
.size __clone,.-__clone
