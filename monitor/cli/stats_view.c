/* `denali stats`' table: one row per STATS object, exit rates against the previous sample. */
#include "cli/stats_view.h"

#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/vm_view.h"

void stats_table_init(struct table *t)
{
    static const char *const headings[] = {
        "ID", "STATE", "EXITS", "EXITS/S", "MEMORY", "NET I/O", "FRAMES I/O", "BLOCK I/O", NULL};
    table_init(t, headings);
}

void stats_table_add(struct table *t, json_object *samples, json_object *previous, double elapsed_s)
{
    for (size_t i = 0; i < json_object_array_length(samples); i++) {
        json_object *s = json_object_array_get_idx(samples, i), *before;
        const char *id = cli_json_string(s, "id");
        uint64_t exits = vm_json_u64(s, "exits");
        char exits_text[24], rate[24] = "--", memory[24], rx[24], tx[24], net[64], frames[64];
        snprintf(exits_text, sizeof(exits_text), "%lu", (unsigned long)exits);
        if (previous && id && elapsed_s > 0 && json_object_object_get_ex(previous, id, &before)) {
            uint64_t then = (uint64_t)json_object_get_int64(before);
            /* A counter that went back (a VM id reused) has no rate. */
            if (exits >= then)
                snprintf(rate, sizeof(rate), "%.0f", (double)(exits - then) / elapsed_s);
        }
        vm_format_bytes(vm_json_u64(s, "memory_bytes"), memory, sizeof(memory));
        vm_format_bytes(vm_json_u64(s, "rx_bytes"), rx, sizeof(rx));
        vm_format_bytes(vm_json_u64(s, "tx_bytes"), tx, sizeof(tx));
        snprintf(net, sizeof(net), "%s / %s", rx, tx);
        snprintf(frames, sizeof(frames), "%lu / %lu", (unsigned long)vm_json_u64(s, "rx_frames"),
                 (unsigned long)vm_json_u64(s, "tx_frames"));
        char read[24], written[24], block[64];
        vm_format_bytes(vm_json_u64(s, "disk_read_bytes"), read, sizeof(read));
        vm_format_bytes(vm_json_u64(s, "disk_written_bytes"), written, sizeof(written));
        snprintf(block, sizeof(block), "%s / %s", read, written);
        const char *cells[] = {
            id, cli_json_string(s, "state"), exits_text, rate, memory, net, frames, block};
        table_add_row(t, cells);
    }
}

json_object *stats_exits_by_id(json_object *samples)
{
    json_object *map = json_object_new_object();
    for (size_t i = 0; i < json_object_array_length(samples); i++) {
        json_object *s = json_object_array_get_idx(samples, i);
        const char *id = cli_json_string(s, "id");
        if (id)
            json_object_object_add(map, id,
                                   json_object_new_int64((int64_t)vm_json_u64(s, "exits")));
    }
    return map;
}
