/*
 * html.h - report.html, the run directory's page for a person: one self-contained HTML file
 * (inline style and SVG; no script, no font, image or style loaded from anywhere) that
 * report_write_files writes beside summary.json, for a run and for a merge alike.
 *
 * What it shows, each in an element tests (and scripts) can find:
 *   table#summary,   one row per headline figure, <tr data-key="messages/sent">, the key
 *   table#counts     being the figure's path in summary.json ('/' between the names); the
 *                    <td> holds the same number (integers as they are, rates to 0.1)
 *   table#latency    per latency kind that recorded anything, <tr data-kind="message">, its
 *                    count, min, mean and percentiles in µs, <td data-key="latency_us/
 *                    message/p99"> as in summary.json
 *   svg#throughput   per second: messages succeeded, failed and sent (and the open loop's
 *                    target when there is one); svg#latency-over-time: each second's mean and
 *                    largest message latency (timeseries.csv's msg_latency columns); both
 *                    with the warm-up shaded; past 1500 seconds, in groups of whole seconds
 *                    (p#series-grouped says how many)
 *   svg#spectrum     the latency percentile spectrum of every kind that recorded anything,
 *                    from its histogram (log scales: 0%, 90%, 99%, 99.9% ... against µs)
 *                    Every series is one <path class="series" data-series="NAME">.
 *   table#status     outcomes other than 200 by status code (<tr data-status="486">)
 *   table#failures   errors.jsonl: one <tr class="failure" data-kind="KIND"> per line, with
 *                    its count and first examples, each a <details class="example"> holding
 *                    the connection's last frames
 *   table#stages     load.stages as run (when there are stages)
 *   p#relay-state-verdict, svg#relay-state-sessions, svg#relay-state-memory
 *                    run --relay-state only: the verdict line, the relay's sessions and
 *                    the values judged for growth (MB, one path each) over the run
 *   pre#config       the configuration as run; pre#scenario the scenario (scenario.json)
 *
 * Every text that came from outside (scenario, configuration, peers' bytes in the examples)
 * is escaped by markup_text. Like the rest of report/ this includes nothing from the layers
 * above; thread safety: none needed.
 */
#ifndef MSRPLOAD_REPORT_HTML_H
#define MSRPLOAD_REPORT_HTML_H

#include <stddef.h>

#include "report/report.h"

/* The page for st and meta (meta->errors_jsonl gives the failures table), malloc'd, its length
 * in *len; NULL when out of memory. */
char *report_html(const struct run_stats *st, const struct report_meta *meta, size_t *len);

#endif
