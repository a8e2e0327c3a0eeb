/* Guest console output: prefixed lines on stdout, discarded, or one file per VM. */
#ifndef DENALI_CONSOLE_H
#define DENALI_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"

#define CONSOLE_LINE_MAX 1024

struct console {
    enum console_mode mode;
    const char *dir;
};

/* A VM's unfinished output line; allocated on its first partial line. */
struct console_line {
    size_t length;
    char text[CONSOLE_LINE_MAX];
};

/* Returns -1 with a reason if the mode cannot work (e.g. the directory cannot be made). */
int console_init(struct console *console, enum console_mode mode, const char *dir, char *err,
                 size_t errlen);
void console_write(struct console *console, uint32_t vm_id, struct console_line **line,
                   const char *data, size_t length);
/* Emits any unfinished line and frees it. */
void console_flush(struct console *console, uint32_t vm_id, struct console_line **line);
void console_destroy(struct console *console);

#endif
