/* The signals `denali kill -s` may send, by the names the API takes (docs/API.md). */
#ifndef DENALI_CLI_SIGNAL_NAME_H
#define DENALI_CLI_SIGNAL_NAME_H

/* "SIGTERM" for "TERM", "sigterm", "SIGTERM" or "15"; NULL for a signal the API does not take. */
const char *signal_name_for_api(const char *text);

#endif
