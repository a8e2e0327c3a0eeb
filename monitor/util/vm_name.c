/* What a VM's name may be: the one rule the daemon enforces and the client commands check first. */
#include "util/vm_name.h"

#include <ctype.h>
#include <string.h>

bool vm_name_is_fleet_id(const char *name)
{
    return name[0] == 'f' && name[1] && strspn(name + 1, "0123456789") == strlen(name + 1);
}

bool vm_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > VM_NAME_MAX || !isalnum((unsigned char)name[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
            return false;
    return !vm_name_is_fleet_id(name);
}
