/* The signals `denali kill -s` may send, by the names the API takes (docs/API.md). */
#include "cli/signal_name.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>

static const struct {
    const char *name;
    int number;
} known[] = {
    {"SIGKILL", SIGKILL}, {"SIGTERM", SIGTERM}, {"SIGINT", SIGINT},   {"SIGHUP", SIGHUP},
    {"SIGQUIT", SIGQUIT}, {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2},
};

const char *signal_name_for_api(const char *text)
{
    if (!text || !*text)
        return NULL;
    char *end;
    long number = strtol(text, &end, 10);
    bool numeric = *end == '\0' && text[0] >= '0' && text[0] <= '9';
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (numeric
                ? number == known[i].number
                : strcasecmp(text, known[i].name) == 0 || strcasecmp(text, known[i].name + 3) == 0)
            return known[i].name;
    }
    return NULL;
}
