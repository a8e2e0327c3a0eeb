/* The daemon's control channel (--control-fd): per-VM commands in, per-VM events out (docs/API.md).
 */
#ifndef DENALI_CONTROL_H
#define DENALI_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "sched/monitor.h"

struct control;
struct vm;

/*
 * Takes fd (one end of a SOCK_SEQPACKET socketpair) and starts the thread
 * that reads commands and writes events. NULL with why in err.
 */
struct control *control_start(struct monitor *m, int fd, char *err, size_t errlen);
/* Sends the events still queued (waiting a few seconds at most for the daemon), then closes. */
void control_stop(struct control *c);

/*
 * Events, queued for the channel's thread so that no worker ever waits on
 * the daemon; each does nothing when the monitor has no channel.
 */
void control_vm_created(struct monitor *m, const struct vm *vm);
/* "started", "ready", "paused", "resumed", "hibernated" or "woken". */
void control_vm_event(struct monitor *m, uint32_t id, const char *event);
void control_vm_ended(struct monitor *m, uint32_t id, enum vm_outcome outcome, int status,
                      const char *reason);

#endif
