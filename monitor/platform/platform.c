/* Choosing a platform: parsing its name, probing what this host can run, opening it. */
#include "platform/platform.h"

#include <stdio.h>
#include <string.h>

#include "platform/kvm/kvm_platform.h"
#include "platform/process/process_platform.h"

int platform_parse(const char *text, enum platform_kind *out)
{
    if (strcmp(text, "kvm") == 0)
        *out = PLATFORM_KVM;
    else if (strcmp(text, "process") == 0)
        *out = PLATFORM_PROCESS;
    else if (strcmp(text, "auto") == 0)
        *out = PLATFORM_AUTO;
    else
        return -1;
    return 0;
}

const char *platform_kind_name(enum platform_kind kind)
{
    switch (kind) {
    case PLATFORM_KVM:
        return "kvm";
    case PLATFORM_PROCESS:
        return "process";
    case PLATFORM_AUTO:
        break;
    }
    return "auto";
}

bool platform_available(enum platform_kind kind, char *why, size_t whylen)
{
    char err[192] = "";
    struct platform *p = platform_open(kind, err, sizeof(err));
    if (!p) {
        snprintf(why, whylen, "%s", err);
        return false;
    }
    platform_close(p);
    return true;
}

struct platform *platform_open(enum platform_kind want, char *err, size_t errlen)
{
    if (want == PLATFORM_KVM) {
        struct platform *p = kvm_platform_open(err, errlen);
        if (p)
            snprintf(p->why, sizeof(p->why), "asked for");
        return p;
    }
    if (want == PLATFORM_PROCESS) {
        struct platform *p = process_platform_open(err, errlen);
        if (p)
            snprintf(p->why, sizeof(p->why), "asked for");
        return p;
    }
    char kvm_err[160] = "";
    struct platform *p = kvm_platform_open(kvm_err, sizeof(kvm_err));
    if (p) {
        snprintf(p->why, sizeof(p->why), "auto: /dev/kvm works");
        return p;
    }
    p = process_platform_open(err, errlen);
    if (p)
        snprintf(p->why, sizeof(p->why), "auto: %s", kvm_err);
    return p;
}
