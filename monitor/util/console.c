/* Guest console output: prefixed lines on stdout, discarded, or one file per VM. */
#include "util/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

int console_init(struct console *console, enum console_mode mode, const char *dir, char *err,
                 size_t errlen)
{
    console->mode = mode;
    console->dir = dir;
    if (mode == CONSOLE_DIR) {
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "--console dir:%s: %s", dir, strerror(errno));
            return -1;
        }
        struct stat st;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK) < 0) {
            snprintf(err, errlen, "--console dir:%s: not a writable directory", dir);
            return -1;
        }
    }
    return 0;
}

static void write_all(int fd, const char *data, size_t length)
{
    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        data += n;
        length -= (size_t)n;
    }
}

/* One write per line: lines from many VMs and the monitor's own messages never interleave. */
static void emit_line(uint32_t vm_id, const char *text, size_t length)
{
    char prefix[32];
    int prefix_length = snprintf(prefix, sizeof(prefix), "[vm %u] ", vm_id);
    struct iovec parts[] = {
        {.iov_base = prefix, .iov_len = (size_t)prefix_length},
        {.iov_base = (void *)text, .iov_len = length},
        {.iov_base = "\n", .iov_len = 1},
    };
    /* A short write to stdout is left short: one line is not worth a partial-write loop. */
    while (writev(STDOUT_FILENO, parts, 3) < 0 && errno == EINTR)
        ;
}

static void append_to_file(struct console *console, uint32_t vm_id, const char *data, size_t length)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/vm-%u.log", console->dir, vm_id);
    /* Opened per write: thousands of VMs must not each hold a descriptor. */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    write_all(fd, data, length);
    close(fd);
}

void console_write(struct console *console, uint32_t vm_id, struct console_line **linep,
                   const char *data, size_t length)
{
    if (console->mode == CONSOLE_NULL || length == 0)
        return;
    if (console->mode == CONSOLE_DIR) {
        append_to_file(console, vm_id, data, length);
        return;
    }
    while (length > 0) {
        const char *newline = memchr(data, '\n', length);
        size_t chunk = newline ? (size_t)(newline - data) : length;
        struct console_line *line = *linep;
        if (newline && (!line || line->length == 0) && chunk <= CONSOLE_LINE_MAX) {
            emit_line(vm_id, data, chunk);
            data += chunk + 1;
            length -= chunk + 1;
            continue;
        }
        if (!line) {
            line = *linep = calloc(1, sizeof(*line));
            if (!line)
                return;
        }
        /* A full buffer is broken only when more of the same line arrives, never by a newline. */
        if (line->length == CONSOLE_LINE_MAX && chunk > 0) {
            emit_line(vm_id, line->text, line->length);
            line->length = 0;
        }
        size_t room = CONSOLE_LINE_MAX - line->length;
        size_t take = chunk < room ? chunk : room;
        memcpy(line->text + line->length, data, take);
        line->length += take;
        data += take;
        length -= take;
        if (newline && take == chunk) {
            emit_line(vm_id, line->text, line->length);
            line->length = 0;
            data++;
            length--;
        }
    }
}

void console_flush(struct console *console, uint32_t vm_id, struct console_line **linep)
{
    struct console_line *line = *linep;
    if (line && line->length > 0 && console->mode == CONSOLE_STDOUT)
        emit_line(vm_id, line->text, line->length);
    free(line);
    *linep = NULL;
}

void console_destroy(struct console *console)
{
    /* Nothing is held between writes today; kept so callers need not know. */
    (void)console;
}
