# ilwaco port: signal handlers are never invoked in a Denali guest, so nothing returns through here.
.text
.global __restore_rt
.hidden __restore_rt
.type __restore_rt,@function
__restore_rt:
	# Reaching this means the stack is corrupt: stop the VM with an invalid-opcode fault.
	ud2
.size __restore_rt,.-__restore_rt
