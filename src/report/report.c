/* report.c - the run directory's files and the terminal summary. */
#include "report/report.h"

#include <errno.h>
#include <jansson.h>
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

/* Writes text to dir/name through a temporary file and a rename. */
static int write_file(const char *dir, const char *name, const char *text, size_t len,
                      char *err, size_t errlen)
{
    char tmp[1024], final[1024];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(final, sizeof(final), "%s/%s", dir, name);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        int e = errno ? errno : EIO;
        snprintf(err, errlen, "cannot write %s: %s", final, strerror(e));
        return e;
    }
    if (rename(tmp, final) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(e));
        return e;
    }
    return 0;
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

static char *summary_json(const struct run_stats *st, const struct report_meta *m)
{
    json_t *root = json_object();
    json_object_set_new(root, "version", json_integer(1));
    char host[256] = "";
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
                        json_pack("{s:s, s:f, s:f, s:f, s:b}", "started", started, "elapsed_s",
                                  m->elapsed_s, "measured_s", m->measured_s, "warm_up_s",
                                  m->warm_up_s, "incomplete", m->incomplete));
    json_t *ends = json_object();
    for (int i = 0; i < STATS_END_KINDS; i++)
        if (st->session_ends[i] > 0 && m->end_names[i] != NULL)
            json_object_set_new(ends, m->end_names[i],
                                json_integer((json_int_t)st->session_ends[i]));
    json_object_set_new(root, "sessions",
                        json_pack("{s:I, s:I, s:I, s:I, s:o}", "started",
                                  (json_int_t)st->sessions_started, "bound",
                                  (json_int_t)st->sessions_bound, "completed",
                                  (json_int_t)st->sessions_completed, "failed",
                                  (json_int_t)st->sessions_failed, "ends", ends));
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
    json_object_set_new(root, "throughput",
                        json_pack("{s:f, s:f, s:f}", "messages_per_s",
                                  rate(st->msgs_ok, m->measured_s), "chunks_per_s",
                                  rate(st->chunks_sent, m->measured_s), "payload_bytes_per_s",
                                  rate(st->payload_bytes, m->measured_s)));
    json_t *lat = json_object();
    for (int k = 0; k < LAT__COUNT; k++)
        json_object_set_new(lat, lat_kind_name((enum lat_kind)k), latency_json(&st->lat[k]));
    json_object_set_new(root, "latency_us", lat);
    json_object_set_new(root, "expectations",
                        json_pack("{s:I, s:I, s:I}", "failures",
                                  (json_int_t)st->expect_failures, "reports_ok",
                                  (json_int_t)st->reports_ok, "reports_missing",
                                  (json_int_t)st->reports_missing));
    json_object_set_new(root, "first_error", ascii_string(m->first_error));
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
          "sessions_ended,sessions_failed,cum_msgs_ok,cum_msgs_failed,cum_payload_bytes\n",
          f);
    uint64_t ok = 0, failed = 0, bytes = 0;
    for (size_t i = 0; i < st->series_len; i++) {
        const struct stats_second *x = &st->series[i];
        ok += x->msgs_ok;
        failed += x->msgs_failed;
        bytes += x->payload_bytes;
        fprintf(f, "%zu,%d,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu\n", i,
                (double)i < m->warm_up_s, (unsigned long long)x->msgs_ok,
                (unsigned long long)x->msgs_failed, (unsigned long long)x->chunks,
                (unsigned long long)x->payload_bytes, (unsigned long long)x->sessions_started,
                (unsigned long long)x->sessions_ended, (unsigned long long)x->sessions_failed,
                (unsigned long long)ok, (unsigned long long)failed, (unsigned long long)bytes);
    }
    fclose(f);
    return text;
}

static int make_run_dir(const struct report_meta *m, const char *root, const char *out_dir,
                        char *dir, size_t dirlen, char *err, size_t errlen)
{
    if (out_dir != NULL) {
        snprintf(dir, dirlen, "%s", out_dir);
        if (mkdir(dir, 0755) != 0) {
            int e = errno;
            snprintf(err, errlen, "cannot create %s: %s%s", dir, strerror(e),
                     e == EEXIST ? " (a run is never written over another)" : "");
            return e;
        }
        return 0;
    }
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "cannot create %s: %s", root, strerror(e));
        return e;
    }
    time_t t = (time_t)m->started_unix;
    struct tm tm;
    gmtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    for (int n = 1; n < 1000; n++) {
        if (n == 1)
            snprintf(dir, dirlen, "%s/%s-%s", root, m->scenario_name, stamp);
        else
            snprintf(dir, dirlen, "%s/%s-%s-%d", root, m->scenario_name, stamp, n);
        if (mkdir(dir, 0755) == 0)
            return 0;
        if (errno != EEXIST) {
            int e = errno;
            snprintf(err, errlen, "cannot create %s: %s", dir, strerror(e));
            return e;
        }
    }
    snprintf(err, errlen, "too many runs named %s/%s-%s", root, m->scenario_name, stamp);
    return EEXIST;
}

int report_write(const struct run_stats *st, const struct report_meta *meta,
                 const char *results_root, const char *out_dir, char *dir, size_t dirlen,
                 char *err, size_t errlen)
{
    int e = make_run_dir(meta, results_root, out_dir, dir, dirlen, err, errlen);
    if (e != 0)
        return e;
    char *summary = summary_json(st, meta);
    if (summary == NULL) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    size_t slen = strlen(summary);
    summary = realloc(summary, slen + 2);
    summary[slen++] = '\n';
    e = write_file(dir, "summary.json", summary, slen, err, errlen);
    free(summary);
    if (e != 0)
        return e;
    size_t clen = 0;
    char *csv = timeseries_csv(st, meta, &clen);
    if (csv == NULL) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    e = write_file(dir, "timeseries.csv", csv, clen, err, errlen);
    free(csv);
    if (e != 0)
        return e;
    for (int k = 0; k < LAT__COUNT; k++) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f == NULL)
            return ENOMEM;
        histogram_write_hgrm(&st->lat[k], f, 1.0);
        fclose(f);
        char name[64];
        snprintf(name, sizeof(name), "latency-%s.hgrm", lat_kind_name((enum lat_kind)k));
        e = write_file(dir, name, text, len, err, errlen);
        free(text);
        if (e != 0)
            return e;
    }
    return write_file(dir, "scenario.json", meta->scenario_text, meta->scenario_text_len, err,
                      errlen);
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
    fprintf(out, "sessions:   %llu started, %llu bound, %llu completed, %llu failed\n",
            (unsigned long long)st->sessions_started, (unsigned long long)st->sessions_bound,
            (unsigned long long)st->sessions_completed, (unsigned long long)st->sessions_failed);
    fprintf(out,
            "messages:   %llu sent, %llu succeeded, %llu failed (%llu timed out), %llu lost, "
            "%llu unfinished at the end\n",
            (unsigned long long)st->msgs_sent, (unsigned long long)st->msgs_ok,
            (unsigned long long)st->msgs_failed, (unsigned long long)st->timeouts_local_408,
            (unsigned long long)st->msgs_lost, (unsigned long long)st->msgs_unfinished);
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
    for (int i = 0; i < STATS_END_KINDS; i++) {
        if ((size_t)i == m->end_closed || st->session_ends[i] == 0 || m->end_names[i] == NULL)
            continue;
        fprintf(out, "%s session %s x%llu", any ? "," : "errors:    ", m->end_names[i],
                (unsigned long long)st->session_ends[i]);
        any = true;
    }
    if (any)
        fputc('\n', out);
    if (st->expect_failures > 0)
        fprintf(out, "expectations: %llu FAILED (%s)\n", (unsigned long long)st->expect_failures,
                m->first_error != NULL && m->first_error[0] ? m->first_error : "see summary.json");
    else
        fprintf(out, "expectations: all met\n");
    if (dir != NULL)
        fprintf(out, "report:     %s/\n", dir);
}
