/* One-line error messages written into a caller's buffer, and threads that leave signals alone. */
#ifndef DENALI_ERROR_TEXT_H
#define DENALI_ERROR_TEXT_H

#include <pthread.h>
#include <stddef.h>

/* Formats the reason into err (errlen bytes) and returns -1, for `return fail(...)`. */
__attribute__((format(printf, 3, 4))) int fail(char *err, size_t errlen, const char *fmt, ...);

/*
 * pthread_create with every signal blocked in the new thread, so that
 * SIGINT/SIGTERM and the workers' quantum signal go where they are meant to.
 */
int start_quiet_thread(pthread_t *thread, void *(*main)(void *), void *arg);

#endif
