/* A fleet's files under STATE/fleets/ID: its consoles (console/vm-N.log) and monitor.log. */
#include "daemon/fleet_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* Only the names the daemon and its monitors make are removed, whatever else is there. */
static void remove_consoles(const char *console_dir)
{
    DIR *dir = opendir(console_dir);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        size_t length = strlen(entry->d_name);
        if (strncmp(entry->d_name, "vm-", 3) == 0 && length > 7 &&
            strcmp(entry->d_name + length - 4, ".log") == 0)
            unlinkat(dirfd(dir), entry->d_name, 0);
    }
    closedir(dir);
}

void fleet_files_clear(const char *dir, const char *console_dir)
{
    remove_consoles(console_dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        unlinkat(fd, "monitor.log", 0);
        close(fd);
    }
}

void fleet_files_remove(const char *dir, const char *console_dir)
{
    if (!dir || !console_dir)
        return;
    fleet_files_clear(dir, console_dir);
    rmdir(console_dir);
    rmdir(dir);
}
