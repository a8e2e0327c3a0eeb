/* Times as the API writes them: RFC 3339, UTC, whole seconds ("2026-12-01T21:00:00Z"). */
#include "daemon/rfc3339.h"

void rfc3339_format(time_t when, char *out, size_t outlen)
{
    struct tm utc;
    gmtime_r(&when, &utc);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

void rfc3339_now(char *out, size_t outlen)
{
    rfc3339_format(time(NULL), out, outlen);
}
