/* What a VM's name may be: the one rule the daemon enforces and the client commands check first. */
#ifndef DENALI_VM_NAME_H
#define DENALI_VM_NAME_H

#include <stdbool.h>

#define VM_NAME_MAX 63u

/*
 * [A-Za-z0-9][A-Za-z0-9_-]{0,62}, and not a fleet's id (below): wherever a
 * VM may be named by its id or its name, "f3" would make "f3.0" mean two VMs.
 */
bool vm_name_valid(const char *name);
/* "f" and one or more digits alone: how a fleet's id reads. */
bool vm_name_is_fleet_id(const char *name);

#endif
