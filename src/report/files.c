/*
 * files.c - the report's "files" section (docs/report-format.md): send.file's transfer counts
 * and the first STATS_FILES_LISTED transfers one by one, each with its RFC 5547 section 6
 * file-selector, as summary.json writes them and the text summary prints them.
 * Owns: that section's layout. The counts come from load/runner_file.c.
 */
#include "report/files.h"

#include <stdio.h>

static json_t *rec_json(const struct stats_file_rec *r)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:i}", "file_selector", r->selector,
                          "file_transfer_id", r->transfer_id, "size", (json_int_t)r->size,
                          "outcome", r->outcome, "hash_check", r->hash, "status", r->status);
    json_t *ids = json_array();
    json_array_append_new(ids, json_string(r->message_id[0]));
    if (r->interrupted_at > 0) {
        /* the first message held bytes 1..N of the file; the resumption the rest, as RFC 5547
         * section 6's file-range says it (its Byte-Range starts at 1 all the same) */
        json_object_set_new(o, "interrupted_at", json_integer((json_int_t)r->interrupted_at));
        if (r->message_id[1][0] != '\0') {
            char range[64];
            snprintf(range, sizeof(range), "%llu-%llu",
                     (unsigned long long)r->interrupted_at + 1, (unsigned long long)r->size);
            json_object_set_new(o, "resume_file_range", json_string(range));
            json_object_set_new(o, "resume_file_transfer_id", json_string(r->resume_id));
            json_array_append_new(ids, json_string(r->message_id[1]));
        }
    }
    json_object_set_new(o, "message_ids", ids);
    return o;
}

json_t *report_files_json(const struct stats_files *f)
{
    json_t *list = json_array();
    for (unsigned i = 0; i < f->list_len; i++)
        json_array_append_new(list, rec_json(&f->list[i]));
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I}, s:I, s:o}",
                     "transfers", (json_int_t)f->transfers, "completed",
                     (json_int_t)f->completed, "failed", (json_int_t)f->failed, "abandoned",
                     (json_int_t)f->abandoned, "unfinished", (json_int_t)f->unfinished,
                     "interrupted", (json_int_t)f->interrupted, "resumed",
                     (json_int_t)f->resumed, "bytes", (json_int_t)f->bytes, "hash_checked",
                     "ok", (json_int_t)f->hash_ok, "failed", (json_int_t)f->hash_failed,
                     "listed_max", (json_int_t)STATS_FILES_LISTED, "list", list);
}

void report_files_text(FILE *out, const struct stats_files *f)
{
    if (f->transfers == 0)
        return;
    fprintf(out,
            "files:      %llu transfers, %llu completed, %llu failed, %llu abandoned, %llu "
            "unfinished; %llu interrupted, %llu resumed; %llu bytes; hash ok %llu, failed "
            "%llu\n",
            (unsigned long long)f->transfers, (unsigned long long)f->completed,
            (unsigned long long)f->failed, (unsigned long long)f->abandoned,
            (unsigned long long)f->unfinished, (unsigned long long)f->interrupted,
            (unsigned long long)f->resumed, (unsigned long long)f->bytes,
            (unsigned long long)f->hash_ok, (unsigned long long)f->hash_failed);
}
