/*
 * readback.c - the report read back (report.h): the .hist format, written and read, and a run
 * directory's summary.json, timeseries.csv and .hist files read into a struct report_run for
 * compare and merge. Owns the readers' checks and their messages; may not touch the writing of
 * the other files (report.c) and, like all of report/, includes nothing from the layers above.
 */
#include "report/report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the .hist format ------------------------------------------------------------------------ */

#define HIST_MAGIC "msrpload-hist 1"

int report_write_hist(const struct histogram *h, const char *unit, FILE *f)
{
    uint64_t total = histogram_count(h);
    size_t nonempty = 0;
    for (size_t i = 0; i < h->counts_len; i++)
        nonempty += h->counts[i] != 0;
    /*
     * The exact extremes are the histogram's internal _min and _max: the query functions round
     * them to their buckets' bounds, and a merge must keep them as recorded.
     */
    fprintf(f,
            HIST_MAGIC "\n"
            "# msrpload latency histogram, raw counts (README \"Reports\")\n"
            "unit %s\nlowest %llu\nhighest %llu\nsigfigs %d\ntotal %llu\nmin %llu\nmax %llu\n"
            "overflow %llu\nbuckets %zu\n",
            unit, (unsigned long long)h->lowest, (unsigned long long)h->highest, h->sigfigs,
            (unsigned long long)total, (unsigned long long)(total ? h->_min : 0),
            (unsigned long long)(total ? h->_max : 0), (unsigned long long)h->overflow,
            nonempty);
    /*
     * The counts array is in value order without gaps (histogram.h), so the lowest value of
     * index i + 1 is one past the highest equivalent value of index i.
     */
    uint64_t v = 0;
    for (size_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i] != 0)
            fprintf(f, "%llu %llu\n", (unsigned long long)v, (unsigned long long)h->counts[i]);
        if (i + 1 < h->counts_len)
            v = histogram_highest_equivalent(h, v) + 1;
    }
    fputs("end\n", f);
    return ferror(f) ? EIO : 0;
}

/* A whole decimal uint64_t, nothing else. */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = n;
    return true;
}

enum hist_key { HK_UNIT, HK_LOWEST, HK_HIGHEST, HK_SIGFIGS, HK_TOTAL, HK_MIN, HK_MAX,
                HK_OVERFLOW, HK__COUNT };
static const char *hist_keys[HK__COUNT] = {"unit", "lowest", "highest", "sigfigs",
                                            "total", "min", "max", "overflow"};

/* "line N: " and the complaint, into err. */
static void line_error(char *err, size_t errlen, unsigned lineno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void line_error(char *err, size_t errlen, unsigned lineno, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "line %u: ", lineno);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

/* The bucket lines of a .hist file read so far. */
struct hist_buckets {
    uint64_t n, seen, sum, prev;
};

/* One "value count" line (line lineno): checked against the header (val) and the lines before
 * it, then recorded into h. False with the complaint in err. */
static bool hist_read_bucket(struct histogram *h, const uint64_t val[HK__COUNT],
                             struct hist_buckets *b, const char *value, const char *count,
                             unsigned lineno, char *err, size_t errlen)
{
#define BUCKET_FAIL(...)                                                                          \
    do {                                                                                          \
        line_error(err, errlen, lineno, __VA_ARGS__);                                             \
        return false;                                                                             \
    } while (0)
    uint64_t v, c;
    if (!parse_u64(value, &v) || !parse_u64(count, &c))
        BUCKET_FAIL("expected \"value count\", got '%s %s'", value, count);
    if (v > h->highest)
        BUCKET_FAIL("value %llu above highest %llu", (unsigned long long)v,
                    (unsigned long long)h->highest);
    if (histogram_lowest_equivalent(h, v) != v)
        BUCKET_FAIL("%llu is not the lowest value of a bucket (that is %llu)",
                    (unsigned long long)v, (unsigned long long)histogram_lowest_equivalent(h, v));
    if (b->seen > 0 && v <= b->prev)
        BUCKET_FAIL("value %llu not above the previous one", (unsigned long long)v);
    if (c == 0 || b->sum + c < b->sum)
        BUCKET_FAIL("count %llu", (unsigned long long)c);
    uint64_t mn = val[HK_MIN], mx = val[HK_MAX];
    bool first = b->seen == 0, last = b->seen + 1 == b->n;
    if (first && histogram_lowest_equivalent(h, mn) != v)
        BUCKET_FAIL("min %llu is not in the first bucket (%llu)", (unsigned long long)mn,
                    (unsigned long long)v);
    if (last && histogram_lowest_equivalent(h, mx) != v)
        BUCKET_FAIL("max %llu is not in the last bucket (%llu)", (unsigned long long)mx,
                    (unsigned long long)v);
    /*
     * The first bucket's values are counted at min and the last bucket's at max: the same
     * buckets, and the histogram's exact extremes come back as they were written.
     */
    if (first && last) {
        if (c == 1 && mn != mx)
            BUCKET_FAIL("one value, but min %llu and max %llu differ", (unsigned long long)mn,
                        (unsigned long long)mx);
        histogram_record_n(h, mn, 1);
        histogram_record_n(h, mx, c - 1);
    } else {
        histogram_record_n(h, first ? mn : last ? mx : v, c);
    }
    b->sum += c;
    b->prev = v;
    if (++b->seen == b->n && b->sum != val[HK_TOTAL])
        BUCKET_FAIL("the counts add up to %llu, total says %llu", (unsigned long long)b->sum,
                    (unsigned long long)val[HK_TOTAL]);
    return true;
#undef BUCKET_FAIL
}

int report_read_hist(FILE *f, struct histogram *h, char unit[16], char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    uint64_t val[HK__COUNT] = {0};
    bool have[HK__COUNT] = {false};
    char unit_buf[16] = "";
    struct hist_buckets b = {0};
    enum { S_MAGIC, S_HEAD, S_BUCKETS, S_END, S_DONE } state = S_MAGIC;
    int e = EINVAL;
#define FAIL(...)                                                                                 \
    do {                                                                                          \
        line_error(err, errlen, lineno, __VA_ARGS__);                                             \
        goto out;                                                                                 \
    } while (0)
    ssize_t n;
    errno = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (state == S_MAGIC) {
            if (strcmp(line, HIST_MAGIC) != 0)
                FAIL("not a .hist file: the first line is not \"" HIST_MAGIC "\"");
            state = S_HEAD;
            continue;
        }
        if (line[0] == '#' || n == 0)
            continue;
        if (state == S_DONE)
            FAIL("text after \"end\"");
        char *sp = strchr(line, ' ');
        if (state == S_END) {
            if (strcmp(line, "end") != 0)
                FAIL("expected \"end\" after %llu buckets", (unsigned long long)b.n);
            state = S_DONE;
            continue;
        }
        if (sp == NULL)
            FAIL("expected \"%s\"", state == S_HEAD ? "key value" : "value count");
        *sp = '\0';
        const char *arg = sp + 1;
        if (state == S_HEAD) {
            if (strcmp(line, "buckets") == 0) {
                for (int k = 0; k < HK__COUNT; k++)
                    if (!have[k])
                        FAIL("\"buckets\" before \"%s\"", hist_keys[k]);
                if (!parse_u64(arg, &b.n))
                    FAIL("buckets: not a count: '%s'", arg);
                int ie = val[HK_SIGFIGS] > 5 ? EINVAL
                                             : histogram_init(h, val[HK_LOWEST], val[HK_HIGHEST],
                                                              (int)val[HK_SIGFIGS]);
                if (ie == ENOMEM) {
                    e = ENOMEM;
                    FAIL("out of memory");
                }
                if (ie != 0)
                    FAIL("no histogram has lowest %llu, highest %llu, sigfigs %llu",
                         (unsigned long long)val[HK_LOWEST], (unsigned long long)val[HK_HIGHEST],
                         (unsigned long long)val[HK_SIGFIGS]);
                uint64_t total = val[HK_TOTAL], mn = val[HK_MIN], mx = val[HK_MAX];
                if (b.n > h->counts_len || (total == 0) != (b.n == 0) || b.n > total)
                    FAIL("%llu buckets for %llu values", (unsigned long long)b.n,
                         (unsigned long long)total);
                if (total == 0 ? (mn != 0 || mx != 0) : (mn > mx || mx > h->highest))
                    FAIL("min %llu and max %llu do not fit %llu values up to %llu",
                         (unsigned long long)mn, (unsigned long long)mx,
                         (unsigned long long)total, (unsigned long long)h->highest);
                if (val[HK_OVERFLOW] > 0) {
                    if (h->highest == UINT64_MAX)
                        FAIL("overflow with a range that covers every value");
                    histogram_record_n(h, h->highest + 1, val[HK_OVERFLOW]);
                }
                state = b.n > 0 ? S_BUCKETS : S_END;
                continue;
            }
            int k = 0;
            while (k < HK__COUNT && strcmp(line, hist_keys[k]) != 0)
                k++;
            if (k == HK__COUNT)
                FAIL("unknown key '%s'", line);
            if (have[k])
                FAIL("'%s' given twice", line);
            have[k] = true;
            if (k == HK_UNIT) {
                if (strlen(arg) == 0 || strlen(arg) >= sizeof(unit_buf))
                    FAIL("unit: 1 to 15 characters, got '%s'", arg);
                snprintf(unit_buf, sizeof(unit_buf), "%s", arg);
            } else if (!parse_u64(arg, &val[k])) {
                FAIL("%s: not a whole number: '%s'", line, arg);
            }
            continue;
        }
        /* S_BUCKETS: "value count". */
        if (!hist_read_bucket(h, val, &b, line, arg, lineno, err, errlen))
            goto out;
        if (b.seen == b.n)
            state = S_END;
    }
    if (ferror(f)) {
        e = EIO;
        snprintf(err, errlen, "read error: %s", strerror(errno ? errno : EIO));
        goto out;
    }
    if (state != S_DONE) {
        lineno++;
        FAIL("the file ends before \"end\"");
    }
#undef FAIL
    if (unit != NULL)
        snprintf(unit, 16, "%s", unit_buf);
    e = 0;
out:
    free(line);
    return e;
}

/* ---- reading a run directory back ------------------------------------------------------------ */

/* The whole file, NUL-terminated; NULL with *e set (errno value) on failure. */
static char *slurp(const char *path, size_t *len, int *e)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *e = errno;
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (p == NULL) {
                free(buf);
                fclose(f);
                *e = ENOMEM;
                return NULL;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        free(buf);
        *e = EIO;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Reading summary.json: the first problem is kept, with the file and the JSON path. */
struct jctx {
    const char *file;
    char *err;
    size_t errlen;
    bool failed;
};

/* The value at a dotted path ("messages.timeouts.local_408"), or NULL. */
static json_t *jpath(json_t *root, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = root;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok != NULL && v != NULL;
         tok = strtok_r(NULL, ".", &save))
        v = json_object_get(v, tok);
    return v;
}

static void jfail(struct jctx *c, const char *path, const char *what)
{
    if (!c->failed)
        snprintf(c->err, c->errlen, "%s: $.%s: %s", c->file, path, what);
    c->failed = true;
}

static uint64_t jcount(struct jctx *c, json_t *root, const char *path)
{
    json_t *v = jpath(root, path);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        jfail(c, path, v == NULL ? "missing" : "not a whole number >= 0");
        return 0;
    }
    return (uint64_t)json_integer_value(v);
}

static double jnumber(struct jctx *c, json_t *root, const char *path)
{
    json_t *v = jpath(root, path);
    if (!json_is_number(v)) {
        jfail(c, path, v == NULL ? "missing" : "not a number");
        return 0;
    }
    return json_number_value(v);
}

/* A copy of the string at path; "" when absent or null and !required. */
static char *jstring(struct jctx *c, json_t *root, const char *path, bool required)
{
    json_t *v = jpath(root, path);
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (required || (v != NULL && !json_is_null(v)))
        jfail(c, path, v == NULL ? "missing" : "not a string");
    return strdup("");
}

/* A count the summary gives directly, or an older summary's rate times the measured time. */
static uint64_t jcount_or_rate(struct jctx *c, json_t *root, const char *count_path,
                               const char *rate_path, double measured_s)
{
    if (jpath(root, count_path) != NULL)
        return jcount(c, root, count_path);
    double r = jnumber(c, root, rate_path);
    return r > 0 && measured_s > 0 ? (uint64_t)llround(r * measured_s) : 0;
}

/* "2026-11-22T12:15:00.123Z" as written by iso_time. */
static bool parse_iso_time(const char *s, double *out)
{
    int y, mo, d, h, mi, sec, ms, used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &sec, &ms, &used) != 7 ||
        used == 0 || s[used] != '\0')
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec};
    *out = (double)timegm(&tm) + ms / 1000.0;
    return true;
}

/* summary.json "stages" (absent before stages existed, or without them). */
static void read_stages(struct jctx *c, json_t *root, struct report_run *run)
{
    json_t *a = jpath(root, "stages");
    if (a == NULL)
        return;
    if (!json_is_array(a) || json_array_size(a) > STATS_MAX_STAGES) {
        jfail(c, "stages", "not an array of at most 64 stages");
        return;
    }
    struct run_stats *st = &run->stats;
    st->num_stages = (unsigned)json_array_size(a);
    run->stages_sessions = json_array_size(a) > 0 &&
                           json_object_get(json_array_get(a, 0), "sessions") != NULL;
    const char *key = run->stages_sessions ? "sessions" : "rate";
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        char p[64];
        struct report_stage *g = &run->stages[i];
        snprintf(p, sizeof(p), "stages[%zu]", i);
        json_t *ramp = json_object_get(o, "ramp");
        if (!json_is_object(o) || !json_is_boolean(ramp)) {
            jfail(c, p, "not a stage with \"ramp\"");
            return;
        }
        g->ramp = json_is_true(ramp);
        /* jpath takes dotted names: read the stage's own object. */
        g->start_s = jnumber(c, o, "start_s");
        g->duration_s = jnumber(c, o, "duration_s");
        g->from = jnumber(c, o, "from");
        g->to = jnumber(c, o, key);
        st->stage_sent[i] = jcount(c, o, "sent");
        st->stage_session_ms[i] = jcount(c, o, "session_ms");
    }
}

static int read_summary(const char *dir, const char *const end_names[STATS_END_KINDS],
                        struct report_run *run, char *err, size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (access(path, R_OK) != 0) {
            int e = errno;
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
            return e == ENOENT ? ENOENT : EIO;
        }
        snprintf(err, errlen, "%s: line %d: %s", path, jerr.line, jerr.text);
        return EINVAL;
    }
    struct jctx c = {.file = path, .err = err, .errlen = errlen};
    struct run_stats *st = &run->stats;
    if (!json_is_object(root))
        jfail(&c, "", "not an object");
    else if (jcount(&c, root, "version") != 1 && !c.failed)
        jfail(&c, "version", "not 1 (a newer msrpload wrote it?)");
    run->scenario_name = jstring(&c, root, "scenario.name", true);
    run->scenario_file = jstring(&c, root, "scenario.file", false);
    run->scenario_description = jstring(&c, root, "scenario.description", false);
    run->host = jstring(&c, root, "generator.host", false);
    run->version = jstring(&c, root, "generator.version", false);
    run->first_error = jstring(&c, root, "first_error", false);
    json_t *config = jpath(root, "config");
    run->config_json = json_dumps(json_is_object(config) ? config : json_object(),
                                  JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (jpath(root, "run.started_unix") != NULL) {
        run->started_unix = jnumber(&c, root, "run.started_unix");
    } else {
        /* Written before started_unix existed: the ISO time has milliseconds. */
        json_t *v = jpath(root, "run.started");
        if (!json_is_string(v) || !parse_iso_time(json_string_value(v), &run->started_unix))
            jfail(&c, "run.started", "missing or not a time like 2026-11-22T12:15:00.000Z");
    }
    run->elapsed_s = jnumber(&c, root, "run.elapsed_s");
    run->measured_s = jnumber(&c, root, "run.measured_s");
    run->warm_up_s = jnumber(&c, root, "run.warm_up_s");
    json_t *inc = jpath(root, "run.incomplete");
    if (!json_is_boolean(inc))
        jfail(&c, "run.incomplete", "missing or not a boolean");
    run->incomplete = json_is_true(inc);

    st->sessions_started = jcount(&c, root, "sessions.started");
    st->sessions_bound = jcount(&c, root, "sessions.bound");
    st->sessions_completed = jcount(&c, root, "sessions.completed");
    st->sessions_failed = jcount(&c, root, "sessions.failed");
    /* Reports from before sessions.unfinished: what was neither completed nor failed. */
    if (jpath(root, "sessions.unfinished") != NULL)
        st->sessions_unfinished = jcount(&c, root, "sessions.unfinished");
    else if (st->sessions_started >= st->sessions_completed + st->sessions_failed)
        st->sessions_unfinished =
            st->sessions_started - st->sessions_completed - st->sessions_failed;
    json_t *ends = jpath(root, "sessions.ends");
    const char *key;
    json_t *v;
    if (!json_is_object(ends))
        jfail(&c, "sessions.ends", "missing or not an object");
    json_object_foreach(json_is_object(ends) ? ends : NULL, key, v) {
        int i = 0;
        while (i < STATS_END_KINDS && (end_names[i] == NULL || strcmp(end_names[i], key) != 0))
            i++;
        char p[128];
        snprintf(p, sizeof(p), "sessions.ends.%s", key);
        if (i == STATS_END_KINDS)
            jfail(&c, p, "not a session end this msrpload knows");
        else
            st->session_ends[i] = jcount(&c, root, p);
    }
    /* Reports from before churn have no sessions.endings: every session ended otherwise. */
    if (jpath(root, "sessions.endings") != NULL) {
        for (int i = 0; i < STATS_ENDINGS; i++) {
            char p[64];
            snprintf(p, sizeof(p), "sessions.endings.%s", stats_ending_names[i]);
            /* an ending newer than the report (no_reauth) was not drawn in it: none */
            st->session_endings[i] = jpath(root, p) != NULL ? jcount(&c, root, p) : 0;
        }
    } else {
        st->session_endings[STATS_ENDINGS - 1] = st->sessions_started;
    }
    /* Reports from before WebSocket transports have no close codes. */
    json_t *codes = jpath(root, "sessions.ws_close_codes");
    if (codes != NULL && !json_is_object(codes))
        jfail(&c, "sessions.ws_close_codes", "not an object");
    json_object_foreach(json_is_object(codes) ? codes : NULL, key, v) {
        char p[128];
        snprintf(p, sizeof(p), "sessions.ws_close_codes.%s", key);
        uint64_t code;
        if (strcmp(key, "other") == 0)
            st->ws_close_other = jcount(&c, root, p);
        else if (!parse_u64(key, &code) || code < 1 || code > 65535)
            jfail(&c, p, "not a close code 1..65535 or \"other\"");
        else
            stats_count_ws_close(st, (unsigned)code, jcount(&c, root, p));
    }
    st->msgs_sent = jcount(&c, root, "messages.sent");
    st->msgs_ok = jcount(&c, root, "messages.ok");
    st->msgs_failed = jcount(&c, root, "messages.failed");
    st->msgs_lost = jcount(&c, root, "messages.lost");
    st->msgs_unfinished = jcount(&c, root, "messages.unfinished");
    st->timeouts_local_408 = jcount(&c, root, "messages.timeouts.local_408");
    st->timeouts_local_200 = jcount(&c, root, "messages.timeouts.local_200");
    st->timeouts_by_fr[0] = jcount(&c, root, "messages.timeouts.by_failure_report.absent");
    st->timeouts_by_fr[1] = jcount(&c, root, "messages.timeouts.by_failure_report.yes");
    st->timeouts_by_fr[2] = jcount(&c, root, "messages.timeouts.by_failure_report.no");
    st->timeouts_by_fr[3] = jcount(&c, root, "messages.timeouts.by_failure_report.partial");
    st->wire_bytes_in = jcount(&c, root, "throughput.wire_bytes_in");
    st->wire_bytes_out = jcount(&c, root, "throughput.wire_bytes_out");
    json_t *by = jpath(root, "messages.by_status");
    if (!json_is_object(by))
        jfail(&c, "messages.by_status", "missing or not an object");
    json_object_foreach(json_is_object(by) ? by : NULL, key, v) {
        char p[128];
        snprintf(p, sizeof(p), "messages.by_status.%s", key);
        uint64_t code;
        if (!parse_u64(key, &code) || code < STATS_STATUS_MIN || code > STATS_STATUS_MAX)
            jfail(&c, p, "not a status code 100..999");
        else
            st->status_counts[code - STATS_STATUS_MIN] = jcount(&c, root, p);
    }
    st->chunks_sent = jcount_or_rate(&c, root, "throughput.chunks", "throughput.chunks_per_s",
                                     run->measured_s);
    st->payload_bytes = jcount_or_rate(&c, root, "throughput.payload_bytes",
                                       "throughput.payload_bytes_per_s", run->measured_s);
    st->expect_failures = jcount(&c, root, "expectations.failures");
    st->reports_ok = jcount(&c, root, "expectations.reports_ok");
    st->reports_missing = jcount(&c, root, "expectations.reports_missing");
    /* Reports from before deliveries were counted have none. */
    if (jpath(root, "messages.delivered") != NULL) {
        st->msgs_delivered = jcount(&c, root, "messages.delivered");
        st->msgs_undelivered = jcount(&c, root, "messages.undelivered");
    }
    if (jpath(root, "messages.checked") != NULL)
        st->msgs_checked = jcount(&c, root, "messages.checked");
    /* send.file's counts (report/files.c), in reports of runs that sent files */
    if (jpath(root, "files") != NULL) {
        st->files.transfers = jcount(&c, root, "files.transfers");
        st->files.completed = jcount(&c, root, "files.completed");
        st->files.failed = jcount(&c, root, "files.failed");
        st->files.abandoned = jcount(&c, root, "files.abandoned");
        st->files.unfinished = jcount(&c, root, "files.unfinished");
        st->files.interrupted = jcount(&c, root, "files.interrupted");
        st->files.resumed = jcount(&c, root, "files.resumed");
        st->files.bytes = jcount(&c, root, "files.bytes");
        st->files.hash_ok = jcount(&c, root, "files.hash_checked.ok");
        st->files.hash_failed = jcount(&c, root, "files.hash_checked.failed");
    }
    /* Reports from before CPIM have no notifications. */
    if (jpath(root, "messages.imdn") != NULL) {
        st->imdn_requested = jcount(&c, root, "messages.imdn.requested");
        st->imdn_received = jcount(&c, root, "messages.imdn.received");
        st->imdn_missing = jcount(&c, root, "messages.imdn.missing");
        st->imdn_unfinished = jcount(&c, root, "messages.imdn.unfinished");
    }
    /* Reports from before batching was reported have no window: none. */
    json_t *window = jpath(root, "run.batch_window_max_us");
    if (json_is_number(window) && json_number_value(window) > 0)
        st->batch_window_max_ns = (uint64_t)(json_number_value(window) * 1e3 + 0.5);
    /* Reports from before relays were measured have no "relay" object: zeros. */
    if (jpath(root, "relay") != NULL) {
        st->relay_auth_ok = jcount(&c, root, "relay.auth_ok");
        st->relay_auth_failed = jcount(&c, root, "relay.auth_failed");
        st->relay_refresh_ok = jcount(&c, root, "relay.refresh_ok");
        st->relay_refresh_failed = jcount(&c, root, "relay.refresh_failed");
    }
    /* Reports of other topologies, or from before SIP was measured: zeros. */
    if (jpath(root, "sip") != NULL) {
        struct stats_sip *p = &st->sip;
        p->register_ok = jcount(&c, root, "sip.register_ok");
        p->register_failed = jcount(&c, root, "sip.register_failed");
        p->topology = 1;
        /* absent from reports before it was counted apart: zero */
        if (jpath(root, "sip.register_unfinished") != NULL)
            p->register_unfinished = jcount(&c, root, "sip.register_unfinished");
        p->calls = jcount(&c, root, "sip.calls");
        p->calls_established = jcount(&c, root, "sip.calls_established");
        p->calls_failed = jcount(&c, root, "sip.calls_failed");
        p->calls_unfinished = jcount(&c, root, "sip.calls_unfinished");
        p->bye_ok = jcount(&c, root, "sip.bye_ok");
        p->bye_failed = jcount(&c, root, "sip.bye_failed");
        p->bye_unfinished = jcount(&c, root, "sip.bye_unfinished");
        if (jpath(root, "sip.bye_remote") != NULL) /* absent from older reports: zero */
            p->bye_remote = jcount(&c, root, "sip.bye_remote");
        /* absent from reports before the sip topology went through relays: zeros */
        if (jpath(root, "sip.relay") != NULL) {
            p->offer_sent_cema = jcount(&c, root, "sip.relay.offers_sent_cema");
            p->offer_cema = jcount(&c, root, "sip.relay.offers_cema");
            p->offer_relay_first = jcount(&c, root, "sip.relay.offers_relay_first");
            p->answer_cema = jcount(&c, root, "sip.relay.answers_cema");
        }
        const char *code_text;
        json_t *n;
        json_object_foreach(jpath(root, "sip.invite_final"), code_text, n)
        {
            int code = atoi(code_text);
            if (code >= STATS_SIP_STATUS_MIN && code <= STATS_SIP_STATUS_MAX && json_is_integer(n) &&
                json_integer_value(n) >= 0)
                p->invite_final[code - STATS_SIP_STATUS_MIN] = (uint64_t)json_integer_value(n);
        }
    }
    /* Reports from before the open loop was measured, or of closed-loop runs: zeros. */
    if (jpath(root, "open_loop") != NULL) {
        st->sched_sent = jcount(&c, root, "open_loop.sent");
        st->sched_requested = jnumber(&c, root, "open_loop.requested_messages");
    }
    /* Reports from before memory was measured: zeros. */
    if (jpath(root, "memory") != NULL) {
        st->mem_rss_start = jcount(&c, root, "memory.rss_start_bytes");
        st->mem_rss_peak_open = jcount(&c, root, "memory.rss_peak_open_bytes");
        st->mem_ends_peak_open = jcount(&c, root, "memory.session_ends_peak_open");
    }
    read_stages(&c, root, run);
    json_decref(root);
    if (!c.failed && (run->scenario_name == NULL || run->config_json == NULL ||
                      run->host == NULL || run->first_error == NULL)) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    return c.failed ? EINVAL : 0;
}

#define SERIES_HEADER                                                                              \
    "second,warm_up,msgs_ok,msgs_failed,chunks,payload_bytes,sessions_started,sessions_ended,"    \
    "sessions_failed"

#define SERIES_ASKED ",msgs_sent,stage,target_rate,target_sessions"
#define SERIES_LATENCY ",msg_latency_sum_us,msg_latency_max_us"

/* "msgs_sent,stage,target_rate,target_sessions": a count, then fields that may be empty;
 * with latency, then the second's message latency sum and maximum. */
static int read_asked(char *tail, struct stats_second *s, bool latency)
{
    char *f[4];
    for (int k = 0; k < 4; k++)
        if ((f[k] = strsep(&tail, ",")) == NULL)
            return -1;
    uint64_t stage = 0;
    if (!parse_u64(f[0], &s->msgs_sent) || (f[1][0] != '\0' && !parse_u64(f[1], &stage)) ||
        stage >= STATS_MAX_STAGES)
        return -1;
    s->stage = f[1][0] != '\0' ? (uint32_t)stage + 1 : 0;
    char *end;
    s->target_rate = f[2][0] != '\0' ? strtod(f[2], &end) : 0;
    if (f[2][0] != '\0' && *end != '\0')
        return -1;
    s->target_sessions = f[3][0] != '\0' ? strtod(f[3], &end) : 0;
    if (f[3][0] != '\0' && *end != '\0')
        return -1;
    if (!latency)
        return 0;
    char *sum = strsep(&tail, ","), *max = strsep(&tail, ",");
    if (sum == NULL || max == NULL || tail != NULL || !parse_u64(sum, &s->msg_latency_sum_us) ||
        !parse_u64(max, &s->msg_latency_max_us))
        return -1;
    return 0;
}

static int read_series(const char *dir, struct report_run *run, char *err, size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
        return e == ENOENT ? ENOENT : EIO;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0, warm_cap = 0;
    bool asked = false, latency = false;
    ssize_t n;
    int e = 0;
    while (e == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (lineno == 1) {
            if (strncmp(line, SERIES_HEADER, strlen(SERIES_HEADER)) != 0) {
                snprintf(err, errlen, "%s: line 1: not msrpload's time series header", path);
                e = EINVAL;
            }
            /* Written before the sends and what was asked for were in the series: zeros. */
            asked = strstr(line, SERIES_ASKED) != NULL;
            latency = asked && strstr(line, SERIES_LATENCY) != NULL;
            continue;
        }
        /* The asked-for columns, after the 12 others (the cumulative counts are not read):
         * kept aside before the line is cut up below. */
        char tail[256] = "";
        const char *t = line;
        for (int k = 0; asked && k < 12 && t != NULL; k++)
            if ((t = strchr(t, ',')) != NULL)
                t++;
        if (asked && t != NULL)
            snprintf(tail, sizeof(tail), "%s", t);
        uint64_t x[9];
        int nf = 0;
        char *save = NULL;
        for (char *tok = strtok_r(line, ",", &save); tok != NULL && nf < 9;
             tok = strtok_r(NULL, ",", &save))
            if (parse_u64(tok, &x[nf]))
                nf++;
            else
                break;
        size_t sec = lineno - 2;
        if (nf < 9 || x[0] != sec || x[1] > 1) {
            snprintf(err, errlen, "%s: line %zu: expected second %zu and 8 counts", path,
                     lineno, sec);
            e = EINVAL;
            break;
        }
        struct stats_second *s = stats_second_at(&run->stats, sec);
        if (s == NULL || sec >= warm_cap) {
            size_t ncap = warm_cap ? warm_cap * 2 : 64;
            unsigned char *p = s != NULL ? realloc(run->warm_up, ncap) : NULL;
            if (p == NULL) {
                snprintf(err, errlen, "out of memory");
                e = ENOMEM;
                break;
            }
            run->warm_up = p;
            warm_cap = ncap;
        }
        run->warm_up[sec] = (unsigned char)x[1];
        *s = (struct stats_second){.msgs_ok = x[2], .msgs_failed = x[3], .chunks = x[4],
                                   .payload_bytes = x[5], .sessions_started = x[6],
                                   .sessions_ended = x[7], .sessions_failed = x[8]};
        if (asked && read_asked(tail, s, latency) != 0) {
            snprintf(err, errlen, "%s: line %zu: expected msgs_sent, stage, target_rate and "
                     "target_sessions (and the latency sum and maximum) after the 12 counts", path, lineno);
            e = EINVAL;
            break;
        }
    }
    if (e == 0 && ferror(f)) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(EIO));
        e = EIO;
    }
    if (e == 0 && lineno == 0) {
        snprintf(err, errlen, "%s: empty", path);
        e = EINVAL;
    }
    free(line);
    fclose(f);
    return e;
}

int report_read_run(const char *dir, const char *const end_names[STATS_END_KINDS],
                    struct report_run *run, char *err, size_t errlen)
{
    memset(run, 0, sizeof(*run));
    int e = stats_init(&run->stats);
    if (e != 0) {
        snprintf(err, errlen, "out of memory");
        return e;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0)
        e = errno;
    else if (!S_ISDIR(sb.st_mode))
        e = ENOTDIR;
    if (e != 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        return e;
    }
    if (report_dir_partial(dir)) {
        snprintf(err, errlen, "%s/" REPORT_PARTIAL_FILE ": the report in this directory was not "
                 "written whole, so it is not read as a run", dir);
        return EINVAL;
    }
    e = read_summary(dir, end_names, run, err, errlen);
    if (e == 0)
        e = read_series(dir, run, err, errlen);
    for (int k = 0; k < LAT__COUNT && e == 0; k++) {
        char path[1024], msg[256], unit[16];
        snprintf(path, sizeof(path), "%s/latency-%s.hist", dir, lat_kind_name((enum lat_kind)k));
        FILE *f = fopen(path, "r");
        /* A kind added later (auth and every kind after it) is empty in a report written
         * before it existed. */
        if (f == NULL && errno == ENOENT && k >= LAT_AUTH)
            continue;
        if (f == NULL) {
            e = errno;
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
            break;
        }
        struct histogram h;
        e = report_read_hist(f, &h, unit, msg, sizeof(msg));
        fclose(f);
        if (e == 0 && strcmp(unit, "us") != 0) {
            snprintf(msg, sizeof(msg), "unit %s, expected us", unit);
            e = EINVAL;
        }
        if (e != 0) {
            snprintf(err, errlen, "%s: %s", path, msg);
            histogram_free(&h);
            break;
        }
        histogram_free(&run->stats.lat[k]);
        run->stats.lat[k] = h;
    }
    if (e == 0) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/scenario.json", dir);
        int se = 0;
        run->scenario_text = slurp(path, &run->scenario_text_len, &se);
        if (run->scenario_text == NULL && se != ENOENT) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(se));
            e = se;
        }
    }
    return e;
}

void report_run_free(struct report_run *run)
{
    stats_free(&run->stats);
    free(run->warm_up);
    free(run->scenario_name);
    free(run->scenario_file);
    free(run->scenario_description);
    free(run->scenario_text);
    free(run->config_json);
    free(run->host);
    free(run->version);
    free(run->first_error);
    memset(run, 0, sizeof(*run));
}
