/* Times as the API writes them: RFC 3339, UTC, whole seconds ("2026-12-01T21:00:00Z"). */
#ifndef DENALI_RFC3339_H
#define DENALI_RFC3339_H

#include <stddef.h>
#include <time.h>

void rfc3339_format(time_t when, char *out, size_t outlen);
void rfc3339_now(char *out, size_t outlen);

#endif
