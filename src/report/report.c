/*
 * report.c - the run directory's files (summary.json, timeseries.csv, the histograms,
 * errors.jsonl, scenario.json; report.html is html.c's) and the terminal summary. Owns what a
 * report says and how it is laid out; may not touch how runs are read back (readback.c) or merged (merge.c), and, like
 * all of report/, includes nothing from the layers above.
 */
#include "report/report.h"
#include "report/files.h"
#include "report/html.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


static const double percentiles[] = {50, 90, 99, 99.9, 99.99};
static const char *percentile_names[] = {"p50", "p90", "p99", "p99.9", "p99.99"};
#define NPCT (sizeof(percentiles) / sizeof(percentiles[0]))

static void iso_time(double unix_s, char *out, size_t len)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    int ms = (int)((unix_s - (double)t) * 1000);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* JSON strings must be UTF-8: texts that may hold a peer's bytes are cut down to ASCII. */
static json_t *ascii_string(const char *s)
{
    char buf[512];
    size_t n = 0;
    for (; s != NULL && *s != '\0' && n + 1 < sizeof(buf); s++)
        buf[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    buf[n] = '\0';
    return json_string(buf);
}

static json_t *latency_json(const struct histogram *h)
{
    json_t *o = json_object();
    uint64_t n = histogram_count(h);
    json_object_set_new(o, "count", json_integer((json_int_t)n));
    if (n == 0)
        return o;
    json_object_set_new(o, "min", json_integer((json_int_t)histogram_min(h)));
    json_object_set_new(o, "mean", json_real(histogram_mean(h)));
    for (size_t i = 0; i < NPCT; i++)
        json_object_set_new(o, percentile_names[i],
                            json_integer((json_int_t)histogram_percentile(h, percentiles[i])));
    json_object_set_new(o, "max", json_integer((json_int_t)histogram_max(h)));
    return o;
}

static double rate(uint64_t n, double seconds)
{
    return seconds > 0 ? (double)n / seconds : 0;
}

/* The open loop's achieved against requested messages (absent for a closed-loop run). */
static json_t *open_loop_json(const struct run_stats *st, const struct report_meta *m)
{
    const struct histogram *lag = &st->lat[LAT_SCHEDULE_LAG];
    json_t *o = json_pack("{s:f, s:I, s:f, s:f, s:f}", "requested_messages", st->sched_requested,
                          "sent", (json_int_t)st->sched_sent, "requested_per_s",
                          m->measured_s > 0 ? st->sched_requested / m->measured_s : 0,
                          "achieved_per_s", rate(st->sched_sent, m->measured_s), "ratio",
                          st->sched_requested > 0 ? (double)st->sched_sent / st->sched_requested
                                                  : 0);
    json_object_set_new(o, "lag_p50_us",
                        json_integer((json_int_t)histogram_percentile(lag, 50)));
    json_object_set_new(o, "lag_p99_us",
                        json_integer((json_int_t)histogram_percentile(lag, 99)));
    return o;
}

/* load.stages as run, each with what it asked for and what it got (warm-up included). */
static json_t *stages_json(const struct run_stats *st, const struct report_meta *m)
{
    json_t *a = json_array();
    const char *key = m->stages_sessions ? "sessions" : "rate";
    for (size_t i = 0; i < m->num_stages && i < STATS_MAX_STAGES; i++) {
        const struct report_stage *g = &m->stages[i];
        double mean = g->ramp ? (g->from + g->to) / 2 : g->to;
        double d = g->duration_s;
        json_t *o = json_pack("{s:I, s:f, s:f, s:b, s:f, s:f}", "index", (json_int_t)i,
                              "start_s", g->start_s, "duration_s", d, "ramp", g->ramp, "from",
                              g->from, key, g->to);
        json_object_set_new(o, m->stages_sessions ? "requested_sessions" : "requested_rate",
                            json_real(mean));
        json_object_set_new(o, "sent", json_integer((json_int_t)st->stage_sent[i]));
        json_object_set_new(o, "achieved_rate", json_real(rate(st->stage_sent[i], d)));
        json_object_set_new(o, "sessions_mean",
                            json_real(d > 0 ? (double)st->stage_session_ms[i] / 1e3 / d : 0));
        json_object_set_new(o, "session_ms", json_integer((json_int_t)st->stage_session_ms[i]));
        json_array_append_new(a, o);
    }
    return a;
}

/* Bytes of resident memory per session end open at the peak sample (0: none was open). */
static double memory_per_end(const struct run_stats *st)
{
    if (st->mem_ends_peak_open == 0 || st->mem_rss_peak_open < st->mem_rss_start)
        return 0;
    return (double)(st->mem_rss_peak_open - st->mem_rss_start) / (double)st->mem_ends_peak_open;
}

/* Topology sip: its REGISTERs, calls, BYEs and the INVITEs' final statuses. */
bool report_sip_used(const struct run_stats *st)
{
    return st->sip.topology > 0 || st->sip.calls > 0 || st->sip.register_ok > 0 ||
           st->sip.register_failed > 0 || st->sip.register_unfinished > 0;
}

static json_t *sip_json(const struct run_stats *st)
{
    const struct stats_sip *p = &st->sip;
    json_t *finals = json_object();
    for (int c = STATS_SIP_STATUS_MIN; c <= STATS_SIP_STATUS_MAX; c++) {
        uint64_t n = p->invite_final[c - STATS_SIP_STATUS_MIN];
        if (n > 0) {
            char key[16];
            snprintf(key, sizeof(key), "%d", c);
            json_object_set_new(finals, key, json_integer((json_int_t)n));
        }
    }
    json_t *relay = json_pack("{s:I, s:I, s:I, s:I}", "offers_sent_cema",
                              (json_int_t)p->offer_sent_cema, "offers_cema",
                              (json_int_t)p->offer_cema, "offers_relay_first",
                              (json_int_t)p->offer_relay_first, "answers_cema",
                              (json_int_t)p->answer_cema);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
                     "register_ok", (json_int_t)p->register_ok, "register_failed",
                     (json_int_t)p->register_failed, "register_unfinished",
                     (json_int_t)p->register_unfinished, "calls", (json_int_t)p->calls,
                     "calls_established", (json_int_t)p->calls_established, "calls_failed",
                     (json_int_t)p->calls_failed, "calls_unfinished",
                     (json_int_t)p->calls_unfinished, "bye_ok", (json_int_t)p->bye_ok,
                     "bye_failed", (json_int_t)p->bye_failed, "bye_unfinished",
                     (json_int_t)p->bye_unfinished, "bye_remote", (json_int_t)p->bye_remote,
                     "invite_final", finals, "relay", relay);
}

static json_t *memory_json(const struct run_stats *st)
{
    return json_pack("{s:I, s:I, s:I, s:f}", "rss_start_bytes", (json_int_t)st->mem_rss_start,
                     "rss_peak_open_bytes", (json_int_t)st->mem_rss_peak_open,
                     "session_ends_peak_open", (json_int_t)st->mem_ends_peak_open,
                     "bytes_per_session_end", memory_per_end(st));
}

static char *summary_json(const struct run_stats *st, const struct report_meta *m)
{
    json_t *root = json_object();
    json_object_set_new(root, "version", json_integer(1));
    char host[256] = "";
    if (m->host != NULL)
        snprintf(host, sizeof(host), "%s", m->host);
    else
        gethostname(host, sizeof(host) - 1);
    json_object_set_new(root, "generator",
                        json_pack("{s:s, s:s, s:s, s:I}", "name", "msrpload", "version",
                                  m->version, "host", host, "cores",
                                  (json_int_t)sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_set_new(root, "scenario",
                        json_pack("{s:s, s:s, s:s}", "name", m->scenario_name, "file",
                                  m->scenario_file, "description", m->scenario_description));
    json_error_t jerr;
    json_t *config = json_loads(m->config_json, 0, &jerr);
    json_object_set_new(root, "config", config != NULL ? config : json_object());
    char started[64];
    iso_time(m->started_unix, started, sizeof(started));
    json_object_set_new(root, "run",
                        json_pack("{s:s, s:f, s:f, s:f, s:f, s:b}", "started", started,
                                  "started_unix", m->started_unix, "elapsed_s", m->elapsed_s,
                                  "measured_s", m->measured_s, "warm_up_s", m->warm_up_s,
                                  "incomplete", m->incomplete));
    json_object_set_new(json_object_get(root, "run"), "batch_window_max_us",
                        json_real((double)st->batch_window_max_ns / 1e3));
    json_t *ends = json_object();
    for (int i = 0; i < STATS_END_KINDS; i++)
        if (st->session_ends[i] > 0 && m->end_names[i] != NULL)
            json_object_set_new(ends, m->end_names[i],
                                json_integer((json_int_t)st->session_ends[i]));
    json_object_set_new(root, "sessions",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "started",
                                  (json_int_t)st->sessions_started, "bound",
                                  (json_int_t)st->sessions_bound, "completed",
                                  (json_int_t)st->sessions_completed, "failed",
                                  (json_int_t)st->sessions_failed, "unfinished",
                                  (json_int_t)st->sessions_unfinished, "ends", ends));
    /* Churn (load.session_lifetime): sessions per second over the whole run, and how each
     * ended (README "Reports"); every session started has ended by the report. */
    json_t *sess = json_object_get(root, "sessions");
    uint64_t ended = 0;
    for (int i = 0; i < STATS_ENDINGS; i++)
        ended += st->session_endings[i];
    json_object_set_new(sess, "ended", json_integer((json_int_t)ended));
    json_object_set_new(sess, "started_per_s",
                        json_real(m->elapsed_s > 0 ? (double)st->sessions_started / m->elapsed_s
                                                   : 0));
    json_object_set_new(sess, "ended_per_s",
                        json_real(m->elapsed_s > 0 ? (double)ended / m->elapsed_s : 0));
    json_t *endings = json_object();
    for (int i = 0; i < STATS_ENDINGS; i++)
        json_object_set_new(endings, stats_ending_names[i],
                            json_integer((json_int_t)st->session_endings[i]));
    json_object_set_new(sess, "endings", endings);
    json_t *codes = json_object();
    for (unsigned i = 0; i < st->ws_close_len; i++) {
        char code[16];
        snprintf(code, sizeof(code), "%u", st->ws_close[i].code);
        json_object_set_new(codes, code, json_integer((json_int_t)st->ws_close[i].n));
    }
    if (st->ws_close_other > 0)
        json_object_set_new(codes, "other", json_integer((json_int_t)st->ws_close_other));
    json_object_set_new(json_object_get(root, "sessions"), "ws_close_codes", codes);
    json_t *by_status = json_object();
    for (int c = STATS_STATUS_MIN; c <= STATS_STATUS_MAX; c++) {
        uint64_t n = st->status_counts[c - STATS_STATUS_MIN];
        if (n > 0) {
            char code[16];
            snprintf(code, sizeof(code), "%d", c);
            json_object_set_new(by_status, code, json_integer((json_int_t)n));
        }
    }
    json_object_set_new(
        root, "messages",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I}, s:o}", "sent",
                  (json_int_t)st->msgs_sent, "ok", (json_int_t)st->msgs_ok, "failed",
                  (json_int_t)st->msgs_failed, "lost", (json_int_t)st->msgs_lost, "unfinished",
                  (json_int_t)st->msgs_unfinished, "timeouts", "local_408",
                  (json_int_t)st->timeouts_local_408, "local_200",
                  (json_int_t)st->timeouts_local_200, "by_status", by_status));
    json_object_set_new(json_object_get(root, "messages"), "undelivered",
                        json_integer((json_int_t)st->msgs_undelivered));
    json_object_set_new(json_object_get(root, "messages"), "delivered",
                        json_integer((json_int_t)st->msgs_delivered));
    json_object_set_new(json_object_get(root, "messages"), "checked",
                        json_integer((json_int_t)st->msgs_checked));
    json_object_set_new(json_object_get(root, "messages"), "imdn",
                        json_pack("{s:I, s:I, s:I, s:I}", "requested",
                                  (json_int_t)st->imdn_requested, "received",
                                  (json_int_t)st->imdn_received, "missing",
                                  (json_int_t)st->imdn_missing, "unfinished",
                                  (json_int_t)st->imdn_unfinished));
    json_object_set_new(json_object_get(json_object_get(root, "messages"), "timeouts"),
                        "by_failure_report",
                        json_pack("{s:I, s:I, s:I, s:I}", "absent",
                                  (json_int_t)st->timeouts_by_fr[0], "yes",
                                  (json_int_t)st->timeouts_by_fr[1], "partial",
                                  (json_int_t)st->timeouts_by_fr[3], "no",
                                  (json_int_t)st->timeouts_by_fr[2]));
    json_object_set_new(root, "throughput",
                        json_pack("{s:f, s:f, s:f, s:I, s:I, s:I}", "messages_per_s",
                                  rate(st->msgs_ok, m->measured_s), "chunks_per_s",
                                  rate(st->chunks_sent, m->measured_s), "payload_bytes_per_s",
                                  rate(st->payload_bytes, m->measured_s), "messages",
                                  (json_int_t)st->msgs_ok, "chunks", (json_int_t)st->chunks_sent,
                                  "payload_bytes", (json_int_t)st->payload_bytes));
    json_t *tp = json_object_get(root, "throughput");
    /* Connections count their bytes over their whole life, so these rates are over the whole
     * run (warm-up included), unlike the message rates above. */
    json_object_set_new(tp, "wire_bytes_in_per_s", json_real(rate(st->wire_bytes_in, m->elapsed_s)));
    json_object_set_new(tp, "wire_bytes_out_per_s",
                        json_real(rate(st->wire_bytes_out, m->elapsed_s)));
    json_object_set_new(tp, "wire_bytes_in", json_integer((json_int_t)st->wire_bytes_in));
    json_object_set_new(tp, "wire_bytes_out", json_integer((json_int_t)st->wire_bytes_out));
    if (st->sched_requested > 0 || st->sched_sent > 0)
        json_object_set_new(root, "open_loop", open_loop_json(st, m));
    if (m->num_stages > 0)
        json_object_set_new(root, "stages", stages_json(st, m));
    json_t *lat = json_object();
    for (int k = 0; k < LAT__COUNT; k++)
        json_object_set_new(lat, lat_kind_name((enum lat_kind)k), latency_json(&st->lat[k]));
    json_object_set_new(root, "latency_us", lat);
    json_object_set_new(root, "expectations",
                        json_pack("{s:I, s:I, s:I}", "failures",
                                  (json_int_t)st->expect_failures, "reports_ok",
                                  (json_int_t)st->reports_ok, "reports_missing",
                                  (json_int_t)st->reports_missing));
    json_object_set_new(root, "relay",
                        json_pack("{s:I, s:I, s:I, s:I}", "auth_ok",
                                  (json_int_t)st->relay_auth_ok, "auth_failed",
                                  (json_int_t)st->relay_auth_failed, "refresh_ok",
                                  (json_int_t)st->relay_refresh_ok, "refresh_failed",
                                  (json_int_t)st->relay_refresh_failed));
    if (report_sip_used(st))
        json_object_set_new(root, "sip", sip_json(st));
    json_object_set_new(root, "memory", memory_json(st));
    if (st->files.transfers > 0)
        json_object_set_new(root, "files", report_files_json(&st->files));
    json_object_set_new(root, "first_error", ascii_string(m->first_error));
    if (m->relay_state_json != NULL) {
        json_t *rsj = json_loads(m->relay_state_json, 0, &jerr);
        if (rsj != NULL)
            json_object_set_new(root, "relay_state", rsj);
    }
    if (m->merged_from != NULL) {
        json_t *from = json_array();
        for (size_t i = 0; i < m->merged_from_len; i++)
            json_array_append_new(from, ascii_string(m->merged_from[i]));
        json_object_set_new(root, "merged_from", from);
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

static char *timeseries_csv(const struct run_stats *st, const struct report_meta *m, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (f == NULL)
        return NULL;
    fputs("second,warm_up,msgs_ok,msgs_failed,chunks,payload_bytes,sessions_started,"
          "sessions_ended,sessions_failed,cum_msgs_ok,cum_msgs_failed,cum_payload_bytes,"
          "msgs_sent,stage,target_rate,target_sessions,msg_latency_sum_us,msg_latency_max_us\n",
          f);
    uint64_t ok = 0, failed = 0, bytes = 0;
    for (size_t i = 0; i < st->series_len; i++) {
        const struct stats_second *x = &st->series[i];
        ok += x->msgs_ok;
        failed += x->msgs_failed;
        bytes += x->payload_bytes;
        int warm = m->series_warm_up != NULL ? m->series_warm_up[i] != 0
                                             : (double)i < m->warm_up_s;
        fprintf(f, "%zu,%d,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu", i, warm,
                (unsigned long long)x->msgs_ok,
                (unsigned long long)x->msgs_failed, (unsigned long long)x->chunks,
                (unsigned long long)x->payload_bytes, (unsigned long long)x->sessions_started,
                (unsigned long long)x->sessions_ended, (unsigned long long)x->sessions_failed,
                (unsigned long long)ok, (unsigned long long)failed, (unsigned long long)bytes);
        /* Asked for: the stage (0-based, empty without stages) and the target integrated over
         * the second (empty when nothing was asked: closed loop without stages). */
        fprintf(f, ",%llu,", (unsigned long long)x->msgs_sent);
        if (x->stage > 0)
            fprintf(f, "%u", x->stage - 1);
        fputc(',', f);
        if (x->target_rate > 0)
            fprintf(f, "%.3f", x->target_rate);
        fputc(',', f);
        if (x->target_sessions > 0)
            fprintf(f, "%.3f", x->target_sessions);
        fprintf(f, ",%llu,%llu\n", (unsigned long long)x->msg_latency_sum_us,
                (unsigned long long)x->msg_latency_max_us);
    }
    fclose(f);
    return text;
}

/* The files of report_write_files, in order; stops at the first that fails. */
static int write_all_files(const struct run_stats *st, const struct report_meta *meta,
                           const char *dir, char *err, size_t errlen)
{
    int e;
    char *summary = summary_json(st, meta);
    if (summary == NULL) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    size_t slen = strlen(summary);
    summary = realloc(summary, slen + 2);
    summary[slen++] = '\n';
    e = report_write_file(dir, "summary.json", summary, slen, err, errlen);
    free(summary);
    if (e != 0)
        return e;
    size_t clen = 0;
    char *csv = timeseries_csv(st, meta, &clen);
    if (csv == NULL) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    e = report_write_file(dir, "timeseries.csv", csv, clen, err, errlen);
    free(csv);
    if (e != 0)
        return e;
    /* Each kind twice: the percentile text for plotters, the raw counts for merging. */
    for (int k = 0; k < LAT__COUNT; k++) {
        for (int raw = 0; raw < 2; raw++) {
            char *text = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&text, &len);
            if (f == NULL) {
                snprintf(err, errlen, "out of memory");
                return ENOMEM;
            }
            if (raw)
                report_write_hist(&st->lat[k], "us", f);
            else
                histogram_write_hgrm(&st->lat[k], f, 1.0);
            fclose(f);
            char name[64];
            snprintf(name, sizeof(name), "latency-%s.%s", lat_kind_name((enum lat_kind)k),
                     raw ? "hist" : "hgrm");
            e = report_write_file(dir, name, text, len, err, errlen);
            free(text);
            if (e != 0)
                return e;
        }
    }
    if (meta->errors_jsonl != NULL &&
        (e = report_write_file(dir, "errors.jsonl", meta->errors_jsonl, meta->errors_jsonl_len,
                               err, errlen)) != 0)
        return e;
    if (meta->scenario_text != NULL &&
        (e = report_write_file(dir, "scenario.json", meta->scenario_text,
                               meta->scenario_text_len, err, errlen)) != 0)
        return e;
    size_t hlen = 0;
    char *html = report_html(st, meta, &hlen);
    if (html == NULL) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    e = report_write_file(dir, "report.html", html, hlen, err, errlen);
    free(html);
    return e;
}

int report_write_files(const struct run_stats *st, const struct report_meta *meta,
                       const char *dir, char *err, size_t errlen)
{
    int e = write_all_files(st, meta, dir, err, errlen);
    if (e != 0)
        report_mark_partial(dir, err);
    return e;
}

int report_write(const struct run_stats *st, const struct report_meta *meta,
                 const char *results_root, const char *out_dir, char *dir, size_t dirlen,
                 char *err, size_t errlen)
{
    int e = report_make_dir(results_root, out_dir, meta->scenario_name, meta->started_unix, dir,
                            dirlen, err, errlen);
    if (e == 0)
        e = report_write_files(st, meta, dir, err, errlen);
    if (e == 0)
        e = report_finish_dir(dir, err, errlen);
    return e;
}

static void print_us(FILE *out, uint64_t us)
{
    if (us >= 10000000)
        fprintf(out, " %9.2fs", us / 1e6);
    else if (us >= 10000)
        fprintf(out, " %8.2fms", us / 1e3);
    else
        fprintf(out, " %8lluus", (unsigned long long)us);
}

/* The transport of each end, as the configuration says (run and merge alike): one name when
 * both ends share it. Nothing for a configuration without one (an older report). */
static void print_transport(FILE *out, const char *config_json)
{
    json_t *cfg = config_json != NULL ? json_loads(config_json, 0, NULL) : NULL;
    const char *both = json_string_value(json_object_get(cfg, "transport"));
    json_t *ends = json_object_get(cfg, "transports");
    const char *caller = json_string_value(json_object_get(ends, "caller"));
    const char *answerer = json_string_value(json_object_get(ends, "answerer"));
    if (caller != NULL && answerer != NULL && strcmp(caller, answerer) != 0)
        fprintf(out, "transport:  caller %s, answerer %s\n", caller, answerer);
    else if (caller != NULL || both != NULL)
        fprintf(out, "transport:  %s\n", caller != NULL ? caller : both);
    json_decref(cfg);
}

void report_print(FILE *out, const struct run_stats *st, const struct report_meta *m,
                  const char *dir)
{
    double secs = m->measured_s;
    fprintf(out, "\n%s in %.2fs (%.2fs measured%s)%s\n", m->incomplete ? "stopped" : "finished",
            m->elapsed_s, secs, m->warm_up_s > 0 ? " after warm-up" : "",
            m->incomplete ? ": INCOMPLETE" : "");
    fprintf(out, "throughput: %.1f msg/s, %.1f chunks/s, %.2f MB/s payload\n",
            rate(st->msgs_ok, secs), rate(st->chunks_sent, secs),
            rate(st->payload_bytes, secs) / 1e6);
    fprintf(out, "wire:       %.2f MB/s out, %.2f MB/s in (calling sessions, whole run)\n",
            rate(st->wire_bytes_out, m->elapsed_s) / 1e6, rate(st->wire_bytes_in, m->elapsed_s) / 1e6);
    print_transport(out, m->config_json);
    fprintf(out,
            "sessions:   %llu started, %llu bound, %llu completed, %llu failed, %llu unfinished at "
            "the end\n",
            (unsigned long long)st->sessions_started, (unsigned long long)st->sessions_bound,
            (unsigned long long)st->sessions_completed, (unsigned long long)st->sessions_failed,
            (unsigned long long)st->sessions_unfinished);
    /* Churn: shown when some session ended by its lifetime (load.session_lifetime). */
    if (st->session_endings[STATS_ENDINGS - 1] < st->sessions_started) {
        fprintf(out, "churn:      %.1f sessions/s started, ended by lifetime:",
                rate(st->sessions_started, m->elapsed_s));
        for (int i = 0; i < STATS_ENDINGS - 1; i++)
            fprintf(out, " %llu %s%s", (unsigned long long)st->session_endings[i],
                    stats_ending_names[i], i + 2 < STATS_ENDINGS ? "," : "\n");
    }
    fprintf(out,
            "messages:   %llu sent, %llu succeeded, %llu failed (%llu timed out), %llu lost, "
            "%llu unfinished at the end\n",
            (unsigned long long)st->msgs_sent, (unsigned long long)st->msgs_ok,
            (unsigned long long)st->msgs_failed, (unsigned long long)st->timeouts_local_408,
            (unsigned long long)st->msgs_lost, (unsigned long long)st->msgs_unfinished);
    report_files_text(out, &st->files);
    if (st->mem_ends_peak_open > 0)
        fprintf(out, "memory:     %.2f KiB per open session end (%llu ends open, RSS %.1f -> "
                "%.1f MiB)\n", memory_per_end(st) / 1024,
                (unsigned long long)st->mem_ends_peak_open, (double)st->mem_rss_start / 1048576,
                (double)st->mem_rss_peak_open / 1048576);
    if (st->ws_close_len > 0 || st->ws_close_other > 0) {
        fprintf(out, "ws close:  ");
        for (unsigned i = 0; i < st->ws_close_len; i++)
            fprintf(out, "%s %u x%llu", i ? "," : "", st->ws_close[i].code,
                    (unsigned long long)st->ws_close[i].n);
        if (st->ws_close_other > 0)
            fprintf(out, ", other x%llu", (unsigned long long)st->ws_close_other);
        fprintf(out, " (codes in the peers' WebSocket close frames, 1005: none given)\n");
    }
    /* Our own answering ends (embedded, relay) count what reaches them. A relay's 200 is
     * hop-by-hop, so only this says whether it carried the messages it accepted. */
    if (st->msgs_delivered > 0 || st->relay_auth_ok > 0) {
        fprintf(out, "delivered:  %llu messages reached msrpload's answering ends",
                (unsigned long long)st->msgs_delivered);
        if (st->msgs_checked > 0)
            fprintf(out, ", %llu of them checked by SHA-256", (unsigned long long)st->msgs_checked);
        if (st->msgs_undelivered > 0)
            fprintf(out, "; %llu the relay accepted never did (counted as failed)",
                    (unsigned long long)st->msgs_undelivered);
        fputc('\n', out);
    }
    if (report_sip_used(st)) {
        const struct stats_sip *p = &st->sip;
        fprintf(out, "sip:        %llu REGISTER ok, %llu failed, %llu unanswered; %llu calls: %llu "
                     "set up, %llu failed, %llu cut off; BYE %llu ok, %llu failed, %llu cut off, %llu "
                     "by the peer\n",
                (unsigned long long)p->register_ok, (unsigned long long)p->register_failed,
                (unsigned long long)p->register_unfinished,
                (unsigned long long)p->calls, (unsigned long long)p->calls_established,
                (unsigned long long)p->calls_failed, (unsigned long long)p->calls_unfinished,
                (unsigned long long)p->bye_ok, (unsigned long long)p->bye_failed,
                (unsigned long long)p->bye_unfinished, (unsigned long long)p->bye_remote);
        bool any_final = false;
        for (int c = STATS_SIP_STATUS_MIN; c <= STATS_SIP_STATUS_MAX; c++) {
            uint64_t n = p->invite_final[c - STATS_SIP_STATUS_MIN];
            if (n > 0) {
                fprintf(out, "%s %d x%llu", any_final ? "," : "sip final: ", c,
                        (unsigned long long)n);
                any_final = true;
            }
        }
        if (any_final)
            fputs(" (the INVITEs' final statuses)\n", out);
    }
    if (st->sched_requested > 0) {
        const struct histogram *lag = &st->lat[LAT_SCHEDULE_LAG];
        fprintf(out,
                "open loop:  %.1f msg/s achieved of %.1f requested (%.4f), send lag p50 %lluus "
                "p99 %lluus\n",
                rate(st->sched_sent, secs), secs > 0 ? st->sched_requested / secs : 0,
                (double)st->sched_sent / st->sched_requested,
                (unsigned long long)histogram_percentile(lag, 50),
                (unsigned long long)histogram_percentile(lag, 99));
    }
    for (size_t i = 0; i < m->num_stages && i < STATS_MAX_STAGES; i++) {
        const struct report_stage *g = &m->stages[i];
        double mean = g->ramp ? (g->from + g->to) / 2 : g->to;
        fprintf(out, "stage %-4zu  %gs %s %g%s: %.1f msg/s sent", i, g->duration_s,
                g->ramp ? "ramp to" : "at", g->to, m->stages_sessions ? " sessions" : " msg/s",
                rate(st->stage_sent[i], g->duration_s));
        if (m->stages_sessions)
            fprintf(out, ", %.1f sessions open on average (asked %.1f)",
                    g->duration_s > 0 ? (double)st->stage_session_ms[i] / 1e3 / g->duration_s
                                      : 0,
                    mean);
        else
            fprintf(out, " (asked %.1f)", mean);
        fputc('\n', out);
    }
    if (st->imdn_requested > 0)
        fprintf(out, "imdn:       %llu delivery notifications requested, %llu received, %llu "
                     "missing, %llu cut off by the end or a churn ending\n",
                (unsigned long long)st->imdn_requested, (unsigned long long)st->imdn_received,
                (unsigned long long)st->imdn_missing, (unsigned long long)st->imdn_unfinished);
    fprintf(out, "%-18s %10s %10s %10s %10s %10s %10s %10s\n", "latency", "count", "min", "mean",
            "p50", "p99", "p99.9", "max");
    for (int k = 0; k < LAT__COUNT; k++) {
        const struct histogram *h = &st->lat[k];
        if (histogram_count(h) == 0)
            continue;
        fprintf(out, "%-18s %10llu", lat_kind_name((enum lat_kind)k),
                (unsigned long long)histogram_count(h));
        print_us(out, histogram_min(h));
        print_us(out, (uint64_t)histogram_mean(h));
        print_us(out, histogram_percentile(h, 50));
        print_us(out, histogram_percentile(h, 99));
        print_us(out, histogram_percentile(h, 99.9));
        print_us(out, histogram_max(h));
        fputc('\n', out);
    }
    /* The error kinds that happened, most frequent first (a handful at most). */
    bool any = false;
    for (int c = STATS_STATUS_MIN; c <= STATS_STATUS_MAX; c++) {
        uint64_t n = st->status_counts[c - STATS_STATUS_MIN];
        if (c != 200 && n > 0) {
            fprintf(out, "%s %d x%llu", any ? "," : "errors:    ", c, (unsigned long long)n);
            any = true;
        }
    }
    if (st->relay_auth_failed > 0) {
        fprintf(out, "%s relay AUTH failed x%llu", any ? "," : "errors:    ",
                (unsigned long long)st->relay_auth_failed);
        any = true;
    }
    if (st->relay_refresh_failed > 0) {
        fprintf(out, "%s relay re-AUTH failed x%llu", any ? "," : "errors:    ",
                (unsigned long long)st->relay_refresh_failed);
        any = true;
    }
    for (int i = 0; i < STATS_END_KINDS; i++) {
        if ((size_t)i == m->end_closed || st->session_ends[i] == 0 || m->end_names[i] == NULL)
            continue;
        fprintf(out, "%s session %s x%llu", any ? "," : "errors:    ", m->end_names[i],
                (unsigned long long)st->session_ends[i]);
        any = true;
    }
    if (any)
        fputc('\n', out);
    if (m->failures_text != NULL)
        fputs(m->failures_text, out);
    /* "all met" only when nothing failed and something was achieved. */
    const char *first = m->first_error != NULL && m->first_error[0] ? m->first_error
                                                                     : "see summary.json";
    if (st->expect_failures > 0)
        fprintf(out, "expectations: %llu FAILED (%s)\n", (unsigned long long)st->expect_failures,
                first);
    else if (st->sessions_started > 0 && st->sessions_bound == 0)
        fprintf(out, "expectations: NOT MET: no session bound (%s)\n", first);
    else if (st->sessions_failed > 0)
        fprintf(out, "expectations: NOT MET: %llu sessions failed (%s)\n",
                (unsigned long long)st->sessions_failed, first);
    else if (m->no_message_met)
        fprintf(out, "expectations: NOT MET: no message met its expectation (%s)\n", first);
    else
        fprintf(out, "expectations: all met\n");
    if (st->batch_window_max_ns > 0)
        fprintf(out, "batching:   wake-ups up to %.0fus apart, so each latency includes up to that "
                     "much (--batch-window 0: none)\n",
                (double)st->batch_window_max_ns / 1e3);
    if (dir != NULL)
        fprintf(out, "report:     %s/\n", dir);
}
