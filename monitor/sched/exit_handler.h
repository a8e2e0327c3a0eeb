/* Turns one normalised VM exit into a decision: resume, idle, exit or stop (no KVM, testable). */
#ifndef DENALI_EXIT_HANDLER_H
#define DENALI_EXIT_HANDLER_H

#include <stdint.h>

#include "sched/vm.h"
#include "platform/vm_exit.h"

enum vm_action {
    ACTION_RESUME,  /* re-enter with result in %rax */
    ACTION_YIELD,   /* the quantum ran out: let the scheduler choose */
    ACTION_IDLE,    /* sleep until deadline or an event */
    ACTION_EXIT,    /* the guest terminated with status */
    ACTION_STOP,    /* the guest misbehaved: end it with reason */
    ACTION_READY,   /* the guest is ready to serve: snapshot it if asked, then resume with 0 */
    ACTION_RELEASE, /* balloon: give [release_gpa, + release_len) back to the host, resume 0 */
};

struct vm_decision {
    enum vm_action action;
    uint64_t result;
    uint64_t deadline;
    uint32_t idle_flags;
    uint64_t release_gpa;
    uint64_t release_len;
    int status;
    char reason[160];
};

void exit_handler_decide(struct vm *vm, const struct vm_exit *exit, struct vm_decision *decision);

/* For devices deciding their own hypercalls: resume with result, or stop with a reason. */
void exit_decision_resume(struct vm_decision *decision, uint64_t result);
__attribute__((format(printf, 2, 3))) void exit_decision_stop(struct vm_decision *decision,
                                                              const char *fmt, ...);

#endif
