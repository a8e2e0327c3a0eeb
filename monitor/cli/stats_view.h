/* `denali stats`' table: one row per STATS object, exit rates against the previous sample. */
#ifndef DENALI_CLI_STATS_VIEW_H
#define DENALI_CLI_STATS_VIEW_H

#include <json-c/json.h>

#include "cli/table.h"

/* ID STATE EXITS EXITS/S MEMORY NET I/O FRAMES I/O BLOCK I/O (disk bytes read / written) */
void stats_table_init(struct table *t);

/*
 * Adds a row for each STATS object in samples (an array). previous maps ids to their exits
 * counter elapsed_s seconds earlier (from stats_exits_by_id), or is NULL: EXITS/S is then "--",
 * as it is for a VM not in previous.
 */
void stats_table_add(struct table *t, json_object *samples, json_object *previous,
                     double elapsed_s);

/* {id: exits} of a sample array, for the next sample's rates. */
json_object *stats_exits_by_id(json_object *samples);

#endif
