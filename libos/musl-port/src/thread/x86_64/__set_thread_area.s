# ilwaco port: the thread pointer is set through the platform (DENALI_HC_SET_FS_BASE), else with wrfsbase.
# The process platform sets FS for the guest (the host kernel owns it there); under kvm the
# hypercall answers 0 and the guest's own wrfsbase does it, CR4.FSGSBASE being set for it.
# Constants from include/denali/abi.h (this file is not preprocessed): the gate at 0x11000,
# port 0x506 = DENALI_PORT_BASE + DENALI_HC_SET_FS_BASE.
.text
.global __set_thread_area
.hidden __set_thread_area
.type __set_thread_area,@function
__set_thread_area:
	push %rdi
	mov $0x506,%edx
	mov $0x11000,%eax
	call *%rax
	pop %rdi
	cmp $1,%rax
	je 1f
	wrfsbase %rdi
1:
	# 0 tells musl the thread pointer is usable.
	xor %eax,%eax
	ret
.size __set_thread_area,.-__set_thread_area
