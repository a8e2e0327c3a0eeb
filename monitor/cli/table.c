/* Docker-like text tables: a header row and cells padded to each column's widest, in order. */
#include "cli/table.h"

#include <stdlib.h>
#include <string.h>

#define COLUMN_GAP 3

/* Width on a terminal: UTF-8 continuation bytes take no column of their own. */
static size_t display_width(const char *text)
{
    size_t width = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p & 0xC0) != 0x80)
            width++;
    return width;
}

static void store_row(struct table *t, size_t row, const char *const *cells)
{
    for (size_t c = 0; c < t->columns; c++) {
        char *copy = strdup(cells[c] ? cells[c] : "");
        if (!copy)
            t->failed = 1;
        t->cells[row * t->columns + c] = copy;
        size_t w = copy ? display_width(copy) : 0;
        if (w > t->width[c])
            t->width[c] = w;
    }
}

static int grow(struct table *t, size_t rows)
{
    if (rows <= t->capacity)
        return 0;
    size_t capacity = t->capacity ? t->capacity * 2 : 16;
    while (capacity < rows)
        capacity *= 2;
    char **cells = realloc(t->cells, capacity * t->columns * sizeof(*cells));
    if (!cells)
        return -1;
    t->cells = cells;
    t->capacity = capacity;
    return 0;
}

void table_init(struct table *t, const char *const *headings)
{
    memset(t, 0, sizeof(*t));
    while (headings[t->columns] && t->columns < TABLE_MAX_COLUMNS)
        t->columns++;
    if (grow(t, 1) < 0) {
        t->failed = 1;
        return;
    }
    store_row(t, 0, headings);
}

void table_add_row(struct table *t, const char *const *cells)
{
    if (t->failed || grow(t, t->rows + 2) < 0) {
        t->failed = 1;
        return;
    }
    t->rows++;
    store_row(t, t->rows, cells);
}

void table_print(const struct table *t, FILE *out)
{
    if (!t->cells)
        return;
    for (size_t r = 0; r <= t->rows; r++) {
        /* Padding is written only before a cell with text, so no line ends in blanks. */
        size_t pending = 0;
        for (size_t c = 0; c < t->columns; c++) {
            const char *cell = t->cells[r * t->columns + c];
            if (cell && *cell) {
                fprintf(out, "%*s%s", (int)pending, "", cell);
                pending = 0;
            }
            size_t w = cell ? display_width(cell) : 0;
            pending += t->width[c] - w + COLUMN_GAP;
        }
        fputc('\n', out);
    }
}

void table_free(struct table *t)
{
    if (t->cells) {
        for (size_t i = 0; i < (t->rows + 1) * t->columns; i++)
            free(t->cells[i]);
        free(t->cells);
    }
    memset(t, 0, sizeof(*t));
}
