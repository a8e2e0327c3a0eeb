# ilwaco port: only a detached thread exiting calls this, and a Denali VM never has a second thread.
.text
.global __unmapself
.type __unmapself,@function
__unmapself:
	# Nothing can be returned to: stop the VM with an invalid-opcode fault.
	ud2
.size __unmapself,.-__unmapself
