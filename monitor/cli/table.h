/* Docker-like text tables: a header row and cells padded to each column's widest, in order. */
#ifndef DENALI_CLI_TABLE_H
#define DENALI_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define TABLE_MAX_COLUMNS 12

struct table {
    size_t columns;
    size_t rows, capacity; /* rows added, the header not counted */
    char **cells;          /* (rows + 1) * columns copies, the header's first */
    size_t width[TABLE_MAX_COLUMNS];
    int failed; /* out of memory: table_print prints what it has, table_add_row nothing more */
};

/* A table with these headings; NULL ends the list. */
void table_init(struct table *t, const char *const *headings);
/* Copies one row of t->columns cells; NULL cells print empty. */
void table_add_row(struct table *t, const char *const *cells);
/* Columns three spaces apart, the last one not padded, one line per row. */
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

#endif
