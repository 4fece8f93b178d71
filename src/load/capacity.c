/*
 * capacity.c - the pure logic of `msrpload run --find-capacity` (capacity.h): the SLO's
 * grammar, a step's figures and verdict, and the step/bisect search.
 *
 * Owns: what the SLO says and how a step is judged against it; which rate comes next. May not
 * touch: running steps or writing files (cli/run_capacity.c, report/capacity.c).
 */
#include "load/capacity.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CAPACITY_MAX_TERMS == REPORT_CAPACITY_TERMS, "capacity.h files disagree");

/* ---- the SLO ------------------------------------------------------------------------------ */

struct slo_reader {
    const char *opt, *text;
    size_t pos;
    char *err;
    size_t errlen;
};

/* A message naming the option, the 1-based byte at pos and what it is. */
static int slo_fail(struct slo_reader *r, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    unsigned char c = (unsigned char)r->text[r->pos];
    char got[24];
    if (c == '\0')
        snprintf(got, sizeof(got), "the end");
    else if (isprint(c))
        snprintf(got, sizeof(got), "'%c'", c);
    else
        snprintf(got, sizeof(got), "byte 0x%02x", c);
    snprintf(r->err, r->errlen, "%s '%s': at byte %zu (%s): %s", r->opt, r->text, r->pos + 1, got,
             what);
    return -1;
}

static void skip_spaces(struct slo_reader *r)
{
    while (r->text[r->pos] == ' ' || r->text[r->pos] == '\t')
        r->pos++;
}

static bool take(struct slo_reader *r, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(r->text + r->pos, word, n) != 0)
        return false;
    r->pos += n;
    return true;
}

/* A plain decimal number (digits, at most one point); no sign, no exponent, no hex. */
static int read_number(struct slo_reader *r, double *out)
{
    size_t start = r->pos;
    bool digits = false, point = false;
    for (;; r->pos++) {
        char c = r->text[r->pos];
        if (c >= '0' && c <= '9')
            digits = true;
        else if (c == '.' && !point)
            point = true;
        else
            break;
    }
    if (!digits) {
        r->pos = start;
        return slo_fail(r, "expected a number");
    }
    char buf[48];
    size_t n = r->pos - start;
    if (n >= sizeof(buf)) {
        r->pos = start;
        return slo_fail(r, "the number is too long");
    }
    memcpy(buf, r->text + start, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}

/* < or <= (below true), > or >= (below false). */
static int read_op(struct slo_reader *r, bool below, bool *inclusive)
{
    if (!take(r, below ? "<" : ">"))
        return slo_fail(r, below ? "expected < or <=" : "expected > or >=");
    *inclusive = take(r, "=");
    return 0;
}

static int read_percent(struct slo_reader *r, double *fraction)
{
    double v;
    size_t at = r->pos;
    if (read_number(r, &v) != 0)
        return -1;
    if (v > 100) {
        r->pos = at;
        return slo_fail(r, "a percentage is 0 to 100");
    }
    skip_spaces(r);
    if (!take(r, "%"))
        return slo_fail(r, "expected %% after the number");
    *fraction = v / 100;
    return 0;
}

static int read_term(struct slo_reader *r, struct capacity_term *t)
{
    size_t start = r->pos;
    memset(t, 0, sizeof(*t));
    if (take(r, "errors")) {
        t->metric = CAP_ERRORS;
        skip_spaces(r);
        if (read_op(r, true, &t->inclusive) != 0)
            return -1;
        skip_spaces(r);
        if (read_percent(r, &t->bound) != 0)
            return -1;
    } else if (take(r, "achieved")) {
        t->metric = CAP_ACHIEVED;
        skip_spaces(r);
        if (read_op(r, false, &t->inclusive) != 0)
            return -1;
        skip_spaces(r);
        if (read_percent(r, &t->bound) != 0)
            return -1;
    } else if (r->text[r->pos] == 'p') {
        t->metric = CAP_LATENCY;
        r->pos++;
        size_t at = r->pos;
        if (read_number(r, &t->percentile) != 0)
            return -1;
        if (!(t->percentile > 0 && t->percentile < 100)) {
            r->pos = at;
            return slo_fail(r, "a percentile is above 0 and below 100 (p50, p99, p99.9)");
        }
        skip_spaces(r);
        if (read_op(r, true, &t->inclusive) != 0)
            return -1;
        skip_spaces(r);
        at = r->pos;
        double v;
        if (read_number(r, &v) != 0)
            return -1;
        skip_spaces(r);
        double unit = take(r, "us") ? 1 : take(r, "ms") ? 1e3 : take(r, "s") ? 1e6 : 0;
        if (unit == 0)
            return slo_fail(r, "expected a unit: us, ms or s");
        t->bound = v * unit;
        if (!(t->bound > 0) || t->bound > 3600e6) {
            r->pos = at;
            return slo_fail(r, "a latency bound is above 0 and at most 3600 s");
        }
    } else {
        return slo_fail(r, "expected a term: pNN (e.g. p99<50ms), errors<N%% or achieved>=N%%");
    }
    /* The term as written, without spaces, for messages and capacity.json. */
    size_t k = 0;
    for (size_t i = start; i < r->pos && k + 1 < sizeof(t->text); i++)
        if (r->text[i] != ' ' && r->text[i] != '\t')
            t->text[k++] = r->text[i];
    t->text[k] = '\0';
    return 0;
}

static bool same_metric(const struct capacity_term *a, const struct capacity_term *b)
{
    return a->metric == b->metric && (a->metric != CAP_LATENCY || a->percentile == b->percentile);
}

int capacity_slo_parse(const char *opt, const char *text, struct capacity_slo *out, char *err,
                       size_t errlen)
{
    struct slo_reader r = {.opt = opt, .text = text, .err = err, .errlen = errlen};
    memset(out, 0, sizeof(*out));
    bool achieved = false;
    for (;;) {
        skip_spaces(&r);
        if (out->num_terms == CAPACITY_MAX_TERMS - 1) /* room kept for the default achieved */
            return slo_fail(&r, "at most %d terms", CAPACITY_MAX_TERMS - 1);
        size_t at = r.pos;
        struct capacity_term *t = &out->terms[out->num_terms];
        if (read_term(&r, t) != 0)
            return -1;
        for (unsigned i = 0; i < out->num_terms; i++)
            if (same_metric(&out->terms[i], t)) {
                r.pos = at;
                return slo_fail(&r, "%s is already bounded by %s", t->text, out->terms[i].text);
            }
        achieved |= t->metric == CAP_ACHIEVED;
        out->num_terms++;
        skip_spaces(&r);
        if (r.text[r.pos] == '\0')
            break;
        if (!take(&r, ","))
            return slo_fail(&r, "expected , before the next term, or the end");
    }
    if (!achieved) {
        struct capacity_term *t = &out->terms[out->num_terms++];
        *t = (struct capacity_term){.metric = CAP_ACHIEVED, .inclusive = true,
                                    .bound = CAPACITY_ACHIEVED_DEFAULT};
        snprintf(t->text, sizeof(t->text), "achieved>=%g%%", CAPACITY_ACHIEVED_DEFAULT * 100);
        out->achieved_default = true;
    }
    return 0;
}

void capacity_slo_format(const struct capacity_slo *slo, char *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    for (unsigned i = 0; i < slo->num_terms && n < cap; i++) {
        int w = snprintf(out + n, cap - n, "%s%s", i ? "," : "", slo->terms[i].text);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

/* ---- a step's figures and verdict -------------------------------------------------------- */

/* The latency histogram a step is judged on: from the intended send time when it has samples. */
static const struct histogram *judged_histogram(const struct run_stats *st)
{
    const struct histogram *h = &st->lat[LAT_MESSAGE_CORRECTED];
    return histogram_count(h) + h->overflow > 0 ? h : &st->lat[LAT_MESSAGE];
}

/* A percentile counting the values above the histogram's range (overflow) as higher than any:
 * infinity when the percentile falls among them. */
static double percentile_us(const struct histogram *h, double p)
{
    uint64_t n = histogram_count(h), total = n + h->overflow;
    if (total == 0)
        return 0;
    double rank = ceil(p / 100.0 * (double)total);
    if (rank > (double)n)
        return INFINITY;
    /* The rank among the recorded values, as a percentile of them. */
    return (double)histogram_percentile(h, rank / (double)n * 100.0);
}

void capacity_measure(const struct run_stats *st, double requested, double measured_s,
                      double step_s, struct capacity_row *row)
{
    const struct histogram *h = judged_histogram(st);
    row->requested = requested;
    row->step_s = step_s;
    row->measured_s = measured_s;
    row->sent = st->sched_sent;
    row->ok = st->msgs_ok;
    row->failed = st->msgs_failed;
    row->sessions_failed = st->sessions_failed;
    row->samples = histogram_count(h) + h->overflow;
    row->achieved = measured_s > 0 ? (double)st->sched_sent / measured_s : 0;
    row->ok_rate = measured_s > 0 ? (double)st->msgs_ok / measured_s : 0;
    row->achieved_ratio = st->sched_requested > 0 ? (double)st->sched_sent / st->sched_requested
                                                  : 0;
    uint64_t done = st->msgs_ok + st->msgs_failed;
    row->errors = done > 0 ? (double)st->msgs_failed / (double)done : 0;
    row->p50_us = percentile_us(h, 50);
    row->p99_us = percentile_us(h, 99);
}

void capacity_measure_percentiles(const struct capacity_slo *slo, const struct run_stats *st,
                                  struct capacity_row *row)
{
    const struct histogram *h = judged_histogram(st);
    for (unsigned i = 0; i < CAPACITY_MAX_TERMS; i++)
        row->slo_us[i] = i < slo->num_terms && slo->terms[i].metric == CAP_LATENCY
                             ? percentile_us(h, slo->terms[i].percentile)
                             : 0;
}

/* A latency for a message: "73.2 ms", "850 us", "above the histogram's range". */
static void latency_text(double us, char *out, size_t cap)
{
    if (isinf(us))
        snprintf(out, cap, "beyond the latency histogram's range");
    else if (us >= 1e6)
        snprintf(out, cap, "%.3g s", us / 1e6);
    else if (us >= 1e3)
        snprintf(out, cap, "%.3g ms", us / 1e3);
    else
        snprintf(out, cap, "%.0f us", us);
}

static bool within(double v, const struct capacity_term *t, bool below)
{
    if (below)
        return t->inclusive ? v <= t->bound : v < t->bound;
    return t->inclusive ? v >= t->bound : v > t->bound;
}

void capacity_judge(const struct capacity_slo *slo, struct capacity_row *row)
{
    row->met = false;
    if (row->interrupted) {
        snprintf(row->why, sizeof(row->why), "interrupted before the step's end");
        return;
    }
    if (row->measured_s < CAPACITY_FULL_STEP * row->step_s) {
        snprintf(row->why, sizeof(row->why), "measured %.3g s of a %.3g s step", row->measured_s,
                 row->step_s);
        return;
    }
    if (row->samples == 0 || row->ok + row->failed == 0) {
        snprintf(row->why, sizeof(row->why), "no message was measured");
        return;
    }
    for (unsigned i = 0; i < slo->num_terms; i++) {
        const struct capacity_term *t = &slo->terms[i];
        char a[48], b[48];
        switch (t->metric) {
        case CAP_LATENCY:
            if (within(row->slo_us[i], t, true))
                continue;
            latency_text(row->slo_us[i], a, sizeof(a));
            latency_text(t->bound, b, sizeof(b));
            snprintf(row->why, sizeof(row->why), "p%g %s, not %s %s", t->percentile, a,
                     t->inclusive ? "<=" : "<", b);
            return;
        case CAP_ERRORS:
            if (within(row->errors, t, true))
                continue;
            snprintf(row->why, sizeof(row->why), "errors %.3g%% (%llu of %llu), not %s %g%%",
                     row->errors * 100, (unsigned long long)row->failed,
                     (unsigned long long)(row->ok + row->failed), t->inclusive ? "<=" : "<",
                     t->bound * 100);
            return;
        case CAP_ACHIEVED:
            if (within(row->achieved_ratio, t, false))
                continue;
            snprintf(row->why, sizeof(row->why),
                     "achieved %.3g%% of the requested rate, not %s %g%%",
                     row->achieved_ratio * 100, t->inclusive ? ">=" : ">", t->bound * 100);
            return;
        }
    }
    row->met = true;
    snprintf(row->why, sizeof(row->why), "met");
}

/* ---- the search -------------------------------------------------------------------------- */

int capacity_search_init(struct capacity_search *s, double start, double max, double factor,
                         double resolution, unsigned max_steps, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    if (!(start > 0) || !(max >= start))
        snprintf(err, errlen, "the first rate (%g) must be above 0 and at most the highest (%g)",
                 start, max);
    else if (!(factor > 1) || factor > 100)
        snprintf(err, errlen, "the factor (%g) must be above 1 and at most 100", factor);
    else if (!(resolution > 0 && resolution < 1))
        snprintf(err, errlen, "the resolution (%g) must be above 0 and below 1", resolution);
    else if (max_steps < 1 || max_steps > CAPACITY_MAX_STEPS)
        snprintf(err, errlen, "the steps (%u) must be 1 to %d", max_steps, CAPACITY_MAX_STEPS);
    else {
        *s = (struct capacity_search){.start = start, .max = max, .factor = factor,
                                      .resolution = resolution, .max_steps = max_steps};
        return 0;
    }
    return -1;
}

/* Whole messages per second from 10/s up; a tenth below. */
static double tidy(double rate)
{
    return rate >= 10 ? round(rate) : round(rate * 10) / 10;
}

/* The rate to try next, or 0 to stop; no state changes. */
static double next_rate(const struct capacity_search *s)
{
    if (s->steps == 0)
        return s->start;
    if (s->steps >= s->max_steps)
        return 0;
    if (s->best_met == 0)
        return 0; /* the first step failed: nothing lower is tried */
    if (s->lowest_fail == 0) {
        if (s->best_met >= s->max)
            return 0;
        double r = tidy(s->best_met * s->factor);
        if (r <= s->best_met)
            r = s->best_met + (s->best_met >= 10 ? 1 : 0.1);
        return r < s->max ? r : s->max;
    }
    if (s->lowest_fail - s->best_met <= s->resolution * s->best_met)
        return 0;
    double mid = tidy((s->best_met + s->lowest_fail) / 2);
    if (mid <= s->best_met || mid >= s->lowest_fail)
        return 0; /* no rate between them at the rates' precision */
    return mid;
}

double capacity_search_next(struct capacity_search *s)
{
    s->last = next_rate(s);
    return s->last;
}

void capacity_search_record(struct capacity_search *s, double rate, bool met)
{
    s->steps++;
    if (met && rate > s->best_met)
        s->best_met = rate;
    if (!met && (s->lowest_fail == 0 || rate < s->lowest_fail))
        s->lowest_fail = rate;
}

const char *capacity_search_end(const struct capacity_search *s)
{
    if (s->steps == 0 || next_rate(s) != 0)
        return "";
    if (s->best_met == 0)
        return "first-failed";
    if (s->lowest_fail == 0 && s->best_met >= s->max)
        return "max-rate";
    if (s->lowest_fail > 0 && s->lowest_fail - s->best_met <= s->resolution * s->best_met)
        return "resolution";
    if (s->steps >= s->max_steps)
        return "max-steps";
    return "resolution"; /* no rate left between the two at the rates' precision */
}
