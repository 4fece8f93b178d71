/*
 * files.h - the report's "files" section (send.file transfers): summary.json's object and
 * the text summary's line (files.c).
 */
#ifndef MSRPLOAD_REPORT_FILES_H
#define MSRPLOAD_REPORT_FILES_H

#include <jansson.h>
#include <stdio.h>

#include "report/stats.h"

/* summary.json's "files": counts, hash checks and the listed transfers. */
json_t *report_files_json(const struct stats_files *f);
/* The text summary's "files:" line; nothing when no transfer was made. */
void report_files_text(FILE *out, const struct stats_files *f);

#endif
