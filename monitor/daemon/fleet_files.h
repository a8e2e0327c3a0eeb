/* A fleet's files under STATE/fleets/ID: its consoles (console/vm-N.log) and monitor.log. */
#ifndef DENALI_FLEET_FILES_H
#define DENALI_FLEET_FILES_H

/* Removes what a fleet of the same id left there under an earlier daemon, which kept no state:
 * its consoles would otherwise read as the new VMs' output. */
void fleet_files_clear(const char *dir, const char *console_dir);
/* Removes the fleet's files and directories once it is forgotten. */
void fleet_files_remove(const char *dir, const char *console_dir);

#endif
