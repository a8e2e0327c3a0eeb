# ilwaco port: the guest sets its own thread pointer; the monitor enables CR4.FSGSBASE for this.
.text
.global __set_thread_area
.hidden __set_thread_area
.type __set_thread_area,@function
__set_thread_area:
	wrfsbase %rdi
	# 0 tells musl the thread pointer is usable.
	xor %eax,%eax
	ret
.size __set_thread_area,.-__set_thread_area
