/*
 * html.c - report.html (html.h): the summary, the per-second series and the latency spectrum
 * drawn as inline SVG, the failures with their first examples, and the configuration, in one
 * file that loads nothing. Owns the page's layout and its charts; what the figures mean is
 * report.c's (summary.json), and the page shows the same numbers from the same counters.
 */
#include "report/html.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/markup.h"

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.2em auto;max-width:1000px;color:#222;"
    "padding:0 1em}h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em;"
    "border-bottom:1px solid #ccc}table{border-collapse:collapse}th,td{border:1px solid #ccc;"
    "padding:2px 7px;text-align:left;vertical-align:top}thead th{background:#eee}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}.meta{color:#555}"
    ".bad{color:#b00;font-weight:600}.good{color:#070;font-weight:600}"
    ".grid{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}"
    "svg{background:#fff;border:1px solid #ddd}svg text{font:11px system-ui,sans-serif;"
    "fill:#444}svg .axis{stroke:#888}svg .gridline{stroke:#eee}svg .warm-up{fill:#f3f3f3}"
    "svg path.series{fill:none;stroke-width:1.6}ul.legend{list-style:none;padding:0;"
    "margin:.2em 0 0}ul.legend li{display:inline-block;margin-right:1.2em}"
    "ul.legend i{display:inline-block;width:1.4em;height:3px;vertical-align:middle;"
    "margin-right:.35em}pre{background:#f8f8f8;border:1px solid #ddd;padding:6px;"
    "max-height:28em;overflow:auto;font-size:12px;white-space:pre-wrap}"
    "summary{cursor:pointer}details.example{margin:.2em 0}";

/* Series colours, distinct in print and for the common kinds of colour blindness. */
static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
#define NPALETTE (sizeof(palette) / sizeof(palette[0]))

static double rate(uint64_t n, double seconds)
{
    return seconds > 0 ? (double)n / seconds : 0;
}

/* A latency in µs for a label: "850µs", "12ms", "1.5s". */
static void fmt_us(char *out, size_t cap, double us)
{
    if (us >= 1e6)
        snprintf(out, cap, "%gs", us / 1e6);
    else if (us >= 1e3)
        snprintf(out, cap, "%gms", us / 1e3);
    else
        snprintf(out, cap, "%gµs", us);
}

/* ---- charts ------------------------------------------------------------------------------- */

enum axis_kind {
    AXIS_SECONDS,    /* linear, seconds from the start */
    AXIS_COUNT,      /* linear from 0, per second */
    AXIS_LATENCY,    /* log10 of µs: the values given are already log10 */
    AXIS_PERCENTILE, /* log10(1 / (1 - p)): 0 is 0%, 1 is 90%, 2 is 99% ... */
};

struct axis {
    double lo, hi;
    enum axis_kind kind;
    double step; /* between ticks, set by axis_fit */
};

/* Rounds the axis out to whole ticks: 1, 2 or 5 times a power of ten on linear axes (about
 * five ticks), whole decades on the log ones. */
static void axis_fit(struct axis *a)
{
    if (a->kind == AXIS_LATENCY || a->kind == AXIS_PERCENTILE) {
        a->lo = floor(a->lo);
        a->hi = ceil(a->hi);
        if (a->hi <= a->lo)
            a->hi = a->lo + 1;
        a->step = 1;
        return;
    }
    if (!(a->hi > a->lo))
        a->hi = a->lo + 1;
    double raw = (a->hi - a->lo) / 5, mag = pow(10, floor(log10(raw)));
    double step = raw / mag <= 1 ? mag : raw / mag <= 2 ? 2 * mag : raw / mag <= 5 ? 5 * mag
                                                                                    : 10 * mag;
    a->step = step;
    a->lo = floor(a->lo / step) * step;
    a->hi = ceil(a->hi / step - 1e-9) * step;
}

static void tick_label(const struct axis *a, double v, char *out, size_t cap)
{
    switch (a->kind) {
    case AXIS_SECONDS:
        snprintf(out, cap, "%gs", v);
        break;
    case AXIS_COUNT:
        snprintf(out, cap, "%g", v);
        break;
    case AXIS_LATENCY:
        fmt_us(out, cap, pow(10, v));
        break;
    case AXIS_PERCENTILE: {
        int k = (int)lround(v);
        if (k <= 0)
            snprintf(out, cap, "0%%");
        else
            snprintf(out, cap, "%.*f%%", k > 2 ? k - 2 : 0, 100 * (1 - pow(10, -k)));
        break;
    }
    }
}

struct series {
    const char *name;  /* data-series */
    const char *label; /* in the legend */
    const double *x, *y;
    size_t n;          /* points; a NAN y breaks the line */
    double width;      /* > 0: each point holds from its x to x + width (a count per
                          second, or per group of seconds); 0: a line through the points */
    bool dashed;       /* what was asked for, beneath what happened */
    const char *color; /* NULL: the palette's, by position */
};

/* The plot area inside the SVG. */
#define CW 960
#define CH 300
#define PL 64
#define PR 16
#define PT 12
#define PB 42

static double px(const struct axis *a, double v)
{
    return PL + (v - a->lo) / (a->hi - a->lo) * (CW - PL - PR);
}

static double py(const struct axis *a, double v)
{
    double t = (v - a->lo) / (a->hi - a->lo);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return CH - PB - t * (CH - PT - PB);
}

/* One chart: axes, grid, the warm-up shaded (seconds 0..shade_to on the x axis; 0: none),
 * each series as a path, and the legend below. */
static void chart(FILE *f, const char *id, const char *title, struct axis x, struct axis y,
                  const char *xlabel, const char *ylabel, const struct series *s, size_t ns,
                  double shade_to)
{
    axis_fit(&x);
    axis_fit(&y);
    fprintf(f, "<figure><svg id=\"%s\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
               "role=\"img\" aria-label=\"",
            id, CW, CH, CW, CH);
    markup_text(f, title);
    fputs("\">\n", f);
    if (shade_to > x.lo)
        fprintf(f, "<rect class=\"warm-up\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>"
                   "<text x=\"%d\" y=\"%d\">warm-up</text>\n",
                PL, PT, px(&x, shade_to < x.hi ? shade_to : x.hi) - PL, CH - PT - PB, PL + 4,
                PT + 12);
    char lab[48];
    for (int i = 0; i <= 400; i++) {
        double v = y.lo + i * y.step;
        if (v > y.hi + 1e-9)
            break;
        tick_label(&y, v, lab, sizeof(lab));
        fprintf(f, "<line class=\"gridline\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">",
                PL, CW - PR, py(&y, v), py(&y, v), PL - 5, py(&y, v) + 4);
        markup_text(f, lab);
        fputs("</text>\n", f);
    }
    for (int i = 0; i <= 400; i++) {
        double v = x.lo + i * x.step;
        if (v > x.hi + 1e-9)
            break;
        tick_label(&x, v, lab, sizeof(lab));
        bool last = v + x.step > x.hi + 1e-9; /* kept inside the picture */
        fprintf(f, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">",
                px(&x, v), px(&x, v), CH - PB, CH - PB + 4, px(&x, v), CH - PB + 16,
                last && i > 0 ? "end" : "middle");
        markup_text(f, lab);
        fputs("</text>\n", f);
    }
    fprintf(f, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>"
               "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>\n",
            PL, CW - PR, CH - PB, CH - PB, PL, PL, PT, CH - PB);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (CW + PL - PR) / 2, CH - 6);
    markup_text(f, xlabel);
    fprintf(f, "</text><text transform=\"translate(14 %d) rotate(-90)\" "
               "text-anchor=\"middle\">",
            (CH - PB + PT) / 2);
    markup_text(f, ylabel);
    fputs("</text>\n", f);
    for (size_t k = 0; k < ns; k++) {
        fprintf(f, "<path class=\"series\" data-series=\"%s\" stroke=\"%s\"%s d=\"",
                s[k].name, s[k].color != NULL ? s[k].color : palette[k % NPALETTE],
                s[k].dashed ? " stroke-dasharray=\"7 4\"" : "");
        bool pen = false, any = false;
        for (size_t i = 0; i < s[k].n; i++) {
            if (isnan(s[k].y[i])) {
                pen = false;
                continue;
            }
            fprintf(f, "%s%c%.1f %.1f", any ? " " : "", pen ? 'L' : 'M', px(&x, s[k].x[i]),
                    py(&y, s[k].y[i]));
            any = true;
            if (s[k].width > 0)
                fprintf(f, " L%.1f %.1f", px(&x, s[k].x[i] + s[k].width), py(&y, s[k].y[i]));
            pen = true;
        }
        fputs("\"/>\n", f);
    }
    fputs("</svg>\n<figcaption><ul class=\"legend\">", f);
    for (size_t k = 0; k < ns; k++) {
        fprintf(f, "<li><i style=\"background:%s%s\"></i>",
                s[k].color != NULL ? s[k].color : palette[k % NPALETTE],
                s[k].dashed ? ";opacity:.6" : "");
        markup_text(f, s[k].label);
        fputs("</li>", f);
    }
    fputs("</ul></figcaption></figure>\n", f);
}

/* ---- sections ----------------------------------------------------------------------------- */

static void row_int(FILE *f, const char *key, const char *label, uint64_t v)
{
    fprintf(f, "<tr data-key=\"%s\"><th>", key);
    markup_text(f, label);
    fprintf(f, "</th><td class=\"num\">%llu</td></tr>\n", (unsigned long long)v);
}

static void row_real(FILE *f, const char *key, const char *label, double v, int decimals)
{
    fprintf(f, "<tr data-key=\"%s\"><th>", key);
    markup_text(f, label);
    fprintf(f, "</th><td class=\"num\">%.*f</td></tr>\n", decimals, v);
}

/* The verdict line, as the terminal summary words it. */
static void verdict(FILE *f, const struct run_stats *st, const struct report_meta *m)
{
    const char *bad = NULL;
    char why[96];
    if (st->expect_failures > 0) {
        snprintf(why, sizeof(why), "%llu expectations FAILED",
                 (unsigned long long)st->expect_failures);
        bad = why;
    } else if (st->sessions_started > 0 && st->sessions_bound == 0)
        bad = "NOT MET: no session bound";
    else if (st->sessions_failed > 0) {
        snprintf(why, sizeof(why), "NOT MET: %llu sessions failed",
                 (unsigned long long)st->sessions_failed);
        bad = why;
    } else if (m->no_message_met)
        bad = "NOT MET: no message met its expectation";
    fputs("<p id=\"verdict\">expectations: ", f);
    if (bad == NULL) {
        fputs("<span class=\"good\">all met</span>", f);
    } else {
        fputs("<span class=\"bad\">", f);
        markup_text(f, bad);
        fputs("</span>", f);
        if (m->first_error != NULL && m->first_error[0] != '\0') {
            fputs(" (first: ", f);
            markup_text(f, m->first_error);
            fputs(")", f);
        }
    }
    if (m->incomplete)
        fputs(" <span class=\"bad\">INCOMPLETE: the run was stopped</span>", f);
    fputs("</p>\n", f);
}

static void header(FILE *f, const struct run_stats *st, const struct report_meta *m)
{
    fputs("<h1>msrpload report: ", f);
    markup_text(f, m->scenario_name != NULL ? m->scenario_name : "");
    fputs("</h1>\n<p id=\"description\">", f);
    markup_text(f, m->scenario_description != NULL ? m->scenario_description : "");
    fputs("</p>\n<p class=\"meta\">", f);
    time_t t = (time_t)m->started_unix;
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    fprintf(f, "started %s, %.2f s in all, %.2f s measured", when, m->elapsed_s, m->measured_s);
    if (m->warm_up_s > 0)
        fprintf(f, " after %.2f s of warm-up", m->warm_up_s);
    fputs("; scenario file ", f);
    markup_text(f, m->scenario_file != NULL ? m->scenario_file : "");
    if (m->host != NULL) {
        fputs("; host ", f);
        markup_text(f, m->host);
    }
    fputs("; msrpload ", f);
    markup_text(f, m->version != NULL ? m->version : "");
    fputs("</p>\n", f);
    if (m->merged_from != NULL) {
        fprintf(f, "<p class=\"meta\" id=\"merged-from\">merged from %zu runs: ",
                m->merged_from_len);
        for (size_t i = 0; i < m->merged_from_len; i++) {
            fputs(i ? ", <code>" : "<code>", f);
            markup_text(f, m->merged_from[i]);
            fputs("</code>", f);
        }
        fputs("</p>\n", f);
    }
    verdict(f, st, m);
}

static void summary_table(FILE *f, const struct run_stats *st, const struct report_meta *m)
{
    double s = m->measured_s;
    fputs("<h2>Summary</h2>\n<div class=\"grid\"><table id=\"summary\"><tbody>\n", f);
    row_real(f, "throughput/messages_per_s", "messages per second", rate(st->msgs_ok, s), 1);
    row_real(f, "throughput/chunks_per_s", "chunks per second", rate(st->chunks_sent, s), 1);
    row_real(f, "throughput/payload_bytes_per_s", "payload bytes per second",
             rate(st->payload_bytes, s), 0);
    row_int(f, "throughput/payload_bytes", "payload bytes", st->payload_bytes);
    row_int(f, "throughput/wire_bytes_out", "wire bytes out", st->wire_bytes_out);
    row_int(f, "throughput/wire_bytes_in", "wire bytes in", st->wire_bytes_in);
    row_real(f, "run/elapsed_s", "seconds in all", m->elapsed_s, 2);
    row_real(f, "run/measured_s", "seconds measured", m->measured_s, 2);
    if (st->sched_requested > 0 || st->sched_sent > 0) {
        row_real(f, "open_loop/requested_per_s", "open loop: requested per second",
                 s > 0 ? st->sched_requested / s : 0, 1);
        row_real(f, "open_loop/achieved_per_s", "open loop: achieved per second",
                 rate(st->sched_sent, s), 1);
    }
    fputs("</tbody></table>\n<table id=\"counts\"><tbody>\n", f);
    row_int(f, "sessions/started", "sessions started", st->sessions_started);
    row_int(f, "sessions/bound", "sessions bound", st->sessions_bound);
    row_int(f, "sessions/completed", "sessions completed", st->sessions_completed);
    row_int(f, "sessions/failed", "sessions failed", st->sessions_failed);
    row_int(f, "sessions/unfinished", "sessions unfinished at the end", st->sessions_unfinished);
    row_int(f, "messages/sent", "messages sent", st->msgs_sent);
    row_int(f, "messages/ok", "messages succeeded", st->msgs_ok);
    row_int(f, "messages/failed", "messages failed", st->msgs_failed);
    row_int(f, "messages/timeouts/local_408", "of them timed out (local 408)",
            st->timeouts_local_408);
    row_int(f, "messages/lost", "messages lost", st->msgs_lost);
    row_int(f, "messages/unfinished", "messages unfinished at the end", st->msgs_unfinished);
    if (st->msgs_delivered > 0 || st->relay_auth_ok > 0)
        row_int(f, "messages/delivered", "messages delivered to our answering ends",
                st->msgs_delivered);
    if (st->imdn_requested > 0)
        row_int(f, "messages/imdn/received", "delivery notifications received",
                st->imdn_received);
    row_int(f, "expectations/failures", "expectation failures", st->expect_failures);
    fputs("</tbody></table></div>\n", f);
}

static const double table_pct[] = {50, 90, 99, 99.9, 99.99};
static const char *const table_pct_names[] = {"p50", "p90", "p99", "p99.9", "p99.99"};
#define NTABLE_PCT (sizeof(table_pct) / sizeof(table_pct[0]))

static void latency_table(FILE *f, const struct run_stats *st)
{
    fputs("<h2>Latency</h2>\n<table id=\"latency\"><thead><tr><th>µs</th><th>count</th>"
          "<th>min</th><th>mean</th>",
          f);
    for (size_t i = 0; i < NTABLE_PCT; i++)
        fprintf(f, "<th>%s</th>", table_pct_names[i]);
    fputs("<th>max</th></tr></thead><tbody>\n", f);
    for (int k = 0; k < LAT__COUNT; k++) {
        const struct histogram *h = &st->lat[k];
        if (histogram_count(h) == 0)
            continue;
        const char *name = lat_kind_name((enum lat_kind)k);
        fprintf(f, "<tr data-kind=\"%s\"><th>%s</th>", name, name);
        fprintf(f, "<td class=\"num\" data-key=\"latency_us/%s/count\">%llu</td>", name,
                (unsigned long long)histogram_count(h));
        fprintf(f, "<td class=\"num\" data-key=\"latency_us/%s/min\">%llu</td>", name,
                (unsigned long long)histogram_min(h));
        fprintf(f, "<td class=\"num\" data-key=\"latency_us/%s/mean\">%.1f</td>", name,
                histogram_mean(h));
        for (size_t i = 0; i < NTABLE_PCT; i++)
            fprintf(f, "<td class=\"num\" data-key=\"latency_us/%s/%s\">%llu</td>", name,
                    table_pct_names[i], (unsigned long long)histogram_percentile(h, table_pct[i]));
        fprintf(f, "<td class=\"num\" data-key=\"latency_us/%s/max\">%llu</td></tr>\n", name,
                (unsigned long long)histogram_max(h));
    }
    fputs("</tbody></table>\n", f);
}

static bool warm_second(const struct report_meta *m, size_t i)
{
    return m->series_warm_up != NULL ? m->series_warm_up[i] != 0 : (double)i < m->warm_up_s;
}

/* Where the warm-up shading ends: the first measured second (0: no warm-up). */
static double warm_end(const struct run_stats *st, const struct report_meta *m)
{
    size_t i = 0;
    while (i < st->series_len && warm_second(m, i))
        i++;
    return (double)i;
}

/* At most this many points per series over time: a longer run is drawn in groups of whole
 * seconds (rates averaged over the group, the latency as its messages' mean and the largest),
 * so that the page of a day-long run stays small enough to open at once. */
#define TIME_POINTS 1500

/* Throughput and latency per second (or per group of seconds). Returns false when out of
 * memory. */
static bool time_charts(FILE *f, const struct run_stats *st, const struct report_meta *m)
{
    size_t n = st->series_len;
    fputs("<h2>Over time</h2>\n", f);
    if (n == 0) {
        fputs("<p id=\"no-series\">The time series is empty.</p>\n", f);
        return true;
    }
    size_t g = (n + TIME_POINTS - 1) / TIME_POINTS, np = (n + g - 1) / g;
    double *v = calloc(7 * np, sizeof(double));
    if (v == NULL)
        return false;
    double *x = v, *ok = v + np, *failed = v + 2 * np, *sent = v + 3 * np;
    double *target = v + 4 * np, *mean = v + 5 * np, *max = v + 6 * np;
    double top = 0, lat_lo = INFINITY, lat_hi = -INFINITY;
    bool any_target = false;
    for (size_t p = 0; p < np; p++) {
        size_t a = p * g, b = a + g < n ? a + g : n;
        uint64_t n_ok = 0, n_failed = 0, n_sent = 0, lat_sum = 0, lat_max = 0;
        double asked = 0, secs = (double)(b - a);
        for (size_t i = a; i < b; i++) {
            const struct stats_second *s = &st->series[i];
            n_ok += s->msgs_ok;
            n_failed += s->msgs_failed;
            n_sent += s->msgs_sent;
            asked += s->target_rate;
            lat_sum += s->msg_latency_sum_us;
            lat_max = s->msg_latency_max_us > lat_max ? s->msg_latency_max_us : lat_max;
        }
        x[p] = (double)a;
        ok[p] = (double)n_ok / secs;
        failed[p] = (double)n_failed / secs;
        sent[p] = (double)n_sent / secs;
        target[p] = asked > 0 ? asked / secs : NAN;
        any_target = any_target || asked > 0;
        top = fmax(top, fmax(fmax(ok[p], failed[p]), fmax(sent[p], asked / secs)));
        mean[p] = max[p] = NAN;
        if (n_ok > 0) {
            /* log10 of µs; under 1 µs counts as 1 µs (the axis starts at 1) */
            mean[p] = log10(fmax(1, (double)lat_sum / (double)n_ok));
            max[p] = log10(fmax(1, (double)lat_max));
            lat_lo = fmin(lat_lo, mean[p]);
            lat_hi = fmax(lat_hi, max[p]);
        }
    }
    if (g > 1)
        fprintf(f, "<p id=\"series-grouped\">Each point covers %zu seconds of the %zu: the rates "
                   "are averaged over them, the latency is their messages' mean and the "
                   "largest.</p>\n",
                g, n);
    double w = (double)g;
    /* The target (when there is one) first, so that what happened is drawn over it. */
    struct series tp[] = {
        {"target_rate", "open loop target", x, target, np, w, true, "#ff7f0e"},
        {"msgs_sent", "messages sent", x, sent, np, w, false, "#2ca02c"},
        {"msgs_ok", "messages succeeded", x, ok, np, w, false, "#1f77b4"},
        {"msgs_failed", "messages failed", x, failed, np, w, false, "#d62728"},
    };
    struct axis xa = {0, (double)(np * g), AXIS_SECONDS, 0};
    double shade = warm_end(st, m);
    chart(f, "throughput", "messages per second over the run", xa,
          (struct axis){0, top, AXIS_COUNT, 0}, "seconds from the start", "messages per second",
          any_target ? tp : tp + 1, any_target ? 4 : 3, shade);
    if (isinf(lat_lo)) {
        fputs("<p id=\"no-latency-series\">No message succeeded: there is no latency over time "
              "to show.</p>\n",
              f);
    } else {
        struct series lat[] = {
            {"latency_mean", "mean message latency", x, mean, np, w, false, NULL},
            {"latency_max", "largest message latency", x, max, np, w, false, NULL},
        };
        chart(f, "latency-over-time", "message latency per second", xa,
              (struct axis){lat_lo, lat_hi, AXIS_LATENCY, 0}, "seconds from the start",
              "message latency", lat, 2, shade);
    }
    free(v);
    return true;
}

/* Points of the spectrum: every 1/20 of a decade of 1/(1-p), up to where the histogram runs
 * out of values (1/(1-p) = count), then its maximum. */
#define SPECTRUM_STEPS 20
#define SPECTRUM_MAX_POINTS (6 * SPECTRUM_STEPS + 2)

static bool spectrum(FILE *f, const struct run_stats *st)
{
    struct series s[LAT__COUNT];
    double *v = calloc((size_t)LAT__COUNT * 2 * SPECTRUM_MAX_POINTS, sizeof(double));
    if (v == NULL)
        return false;
    size_t ns = 0;
    double xhi = 1, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < LAT__COUNT; k++) {
        const struct histogram *h = &st->lat[k];
        uint64_t count = histogram_count(h);
        if (count == 0)
            continue;
        double *x = v + (size_t)ns * 2 * SPECTRUM_MAX_POINTS, *y = x + SPECTRUM_MAX_POINTS;
        double last = fmin(6, log10((double)count)); /* beyond: one value per step or none */
        size_t n = 0;
        for (int i = 0; i <= 6 * SPECTRUM_STEPS && (double)i / SPECTRUM_STEPS <= last; i++) {
            x[n] = (double)i / SPECTRUM_STEPS;
            double p = 100 * (1 - pow(10, -x[n]));
            y[n++] = log10(fmax(1, (double)histogram_percentile(h, p)));
        }
        x[n] = fmax(last, x[n - 1]);
        y[n++] = log10(fmax(1, (double)histogram_max(h)));
        for (size_t i = 0; i < n; i++) {
            ylo = fmin(ylo, y[i]);
            yhi = fmax(yhi, y[i]);
        }
        xhi = fmax(xhi, x[n - 1]);
        s[ns++] = (struct series){lat_kind_name((enum lat_kind)k),
                                  lat_kind_name((enum lat_kind)k), x, y, n, 0, false,
                                  NULL};
    }
    fputs("<h2>Latency percentile spectrum</h2>\n", f);
    if (ns == 0)
        fputs("<p id=\"no-spectrum\">No latency was recorded.</p>\n", f);
    else
        chart(f, "spectrum", "latency by percentile", (struct axis){0, xhi, AXIS_PERCENTILE, 0},
              (struct axis){ylo, yhi, AXIS_LATENCY, 0}, "percentile", "latency", s, ns, 0);
    free(v);
    return true;
}

/* Outcomes other than 200, and the session ends that are not an orderly close. */
static void status_table(FILE *f, const struct run_stats *st, const struct report_meta *m)
{
    fputs("<h2>Errors</h2>\n", f);
    bool any = false;
    for (int c = STATS_STATUS_MIN; c <= STATS_STATUS_MAX; c++) {
        uint64_t n = st->status_counts[c - STATS_STATUS_MIN];
        if (c == 200 || n == 0)
            continue;
        if (!any)
            fputs("<table id=\"status\"><thead><tr><th>message outcome</th><th>count</th></tr>"
                  "</thead><tbody>\n",
                  f);
        any = true;
        fprintf(f, "<tr data-status=\"%d\"><th>status %d</th><td class=\"num\">%llu</td></tr>\n",
                c, c, (unsigned long long)n);
    }
    if (any)
        fputs("</tbody></table>\n", f);
    any = false;
    for (int i = 0; i < STATS_END_KINDS; i++) {
        if ((size_t)i == m->end_closed || st->session_ends[i] == 0 || m->end_names[i] == NULL)
            continue;
        if (!any)
            fputs("<table id=\"session-ends\"><thead><tr><th>session ended</th><th>count</th>"
                  "</tr></thead><tbody>\n",
                  f);
        any = true;
        fputs("<tr data-end=\"", f);
        markup_text(f, m->end_names[i]);
        fputs("\"><th>", f);
        markup_text(f, m->end_names[i]);
        fprintf(f, "</th><td class=\"num\">%llu</td></tr>\n",
                (unsigned long long)st->session_ends[i]);
    }
    if (any)
        fputs("</tbody></table>\n", f);
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* One example of a failure: when, which session and peer, what was said; its frames open. */
static void example(FILE *f, json_t *e)
{
    fputs("<details class=\"example\"><summary>", f);
    fprintf(f, "%.3f s: ", json_number_value(json_object_get(e, "t_s")));
    markup_text(f, jstr(e, "detail"));
    fputs("</summary><p class=\"meta\">session <code>", f);
    markup_text(f, jstr(e, "session"));
    fputs("</code>, peer <code>", f);
    markup_text(f, jstr(e, "peer"));
    fputs("</code>, ", f);
    markup_text(f, jstr(e, "time"));
    fputs("</p><pre class=\"frames\">", f);
    size_t i;
    json_t *fr;
    json_array_foreach(json_object_get(e, "frames"), i, fr) {
        fprintf(f, "%s%.6f s %s, %lld bytes", i ? "\n" : "",
                json_number_value(json_object_get(fr, "t_s")),
                strcmp(jstr(fr, "dir"), "out") == 0 ? "sent" : "received",
                (long long)json_integer_value(json_object_get(fr, "len")));
        if (jstr(fr, "end")[0] != '\0') {
            fputs(", end ", f);
            markup_text(f, jstr(fr, "end"));
        }
        fputs(json_is_true(json_object_get(fr, "head_cut")) ? " (head cut)\n" : "\n", f);
        markup_text(f, jstr(fr, "head"));
    }
    if (i == 0)
        fputs("(no frames: the connection never carried any)", f);
    fputs("</pre></details>\n", f);
}

/* errors.jsonl: one row per line (kind, count, first examples). */
static void failures_table(FILE *f, const struct report_meta *m)
{
    fputs("<h3>Failures by kind, with the first examples</h3>\n", f);
    const char *p = m->errors_jsonl != NULL ? m->errors_jsonl : "";
    const char *end = p + (m->errors_jsonl != NULL ? m->errors_jsonl_len : 0);
    bool any = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        json_t *line = len > 0 ? json_loadb(p, len, 0, NULL) : NULL;
        p += len + 1;
        if (!json_is_object(line)) {
            json_decref(line);
            continue;
        }
        if (!any)
            fputs("<table id=\"failures\"><thead><tr><th>kind</th><th>count</th>"
                  "<th>first examples</th></tr></thead><tbody>\n",
                  f);
        any = true;
        fputs("<tr class=\"failure\" data-kind=\"", f);
        markup_text(f, jstr(line, "kind"));
        fputs("\"><th>", f);
        markup_text(f, jstr(line, "kind"));
        if (jstr(line, "from")[0] != '\0') {
            fputs("<br><small>from ", f);
            markup_text(f, jstr(line, "from"));
            fputs("</small>", f);
        }
        fprintf(f, "</th><td class=\"num\">%lld</td><td>\n",
                (long long)json_integer_value(json_object_get(line, "count")));
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(line, "examples"), i, e)
            example(f, e);
        fputs("</td></tr>\n", f);
        json_decref(line);
    }
    if (any)
        fputs("</tbody></table>\n", f);
    else
        fputs("<p id=\"no-failures\">No failures were recorded.</p>\n", f);
}

static void stages_table(FILE *f, const struct run_stats *st, const struct report_meta *m)
{
    if (m->num_stages == 0)
        return;
    fprintf(f, "<h2>Stages</h2>\n<table id=\"stages\"><thead><tr><th>stage</th><th>start</th>"
               "<th>duration</th><th>target (%s)</th><th>asked on average</th>"
               "<th>messages sent per second</th></tr></thead><tbody>\n",
            m->stages_sessions ? "sessions" : "messages per second");
    for (size_t i = 0; i < m->num_stages && i < STATS_MAX_STAGES; i++) {
        const struct report_stage *g = &m->stages[i];
        fprintf(f, "<tr><th>%zu</th><td class=\"num\">%g s</td><td class=\"num\">%g s</td>"
                   "<td>%s %g</td><td class=\"num\">%.1f</td><td class=\"num\">%.1f</td></tr>\n",
                i, g->start_s, g->duration_s, g->ramp ? "ramp to" : "at", g->to,
                g->ramp ? (g->from + g->to) / 2 : g->to, rate(st->stage_sent[i], g->duration_s));
    }
    fputs("</tbody></table>\n", f);
}

/* run --relay-state: the verdict line and the series (summary.json relay_state): sessions,
 * and the values judged for growth in MB. Names are [A-Za-z0-9_.-] (report/relaystate.h).
 * No warm-up is shaded: the samples start before the load (-INFINITY). */
static void relay_state_section(FILE *f, const struct report_meta *m)
{
    json_t *rs = m->relay_state_json != NULL ? json_loads(m->relay_state_json, 0, NULL) : NULL;
    if (rs == NULL)
        return;
    json_t *samples = json_object_get(rs, "samples");
    json_t *verdict = json_object_get(rs, "verdict");
    json_t *growth = json_object_get(verdict, "growth");
    fputs("<h2>Relay state</h2>\n<p id=\"relay-state-verdict\">", f);
    markup_text(f, jstr(verdict, "text"));
    fputs("</p>\n", f);
    size_t n = json_array_size(samples), ng = json_object_size(growth);
    double *x = calloc(n + 1, sizeof(double)), *ys = calloc((n + 1) * (ng + 1), sizeof(double));
    struct series *sr = calloc(ng + 1, sizeof(*sr));
    if (x == NULL || ys == NULL || sr == NULL || n == 0)
        goto out;
    struct axis ax = {.lo = 0, .hi = 1, .kind = AXIS_SECONDS};
    struct axis as = {.lo = 0, .hi = 1, .kind = AXIS_COUNT}, am = as;
    bool any_sessions = false;
    for (size_t i = 0; i < n; i++) {
        json_t *smp = json_array_get(samples, i);
        x[i] = json_number_value(json_object_get(smp, "t_s"));
        ax.lo = x[i] < ax.lo ? x[i] : ax.lo;
        ax.hi = x[i] > ax.hi ? x[i] : ax.hi;
        json_t *vals = json_object_get(smp, "values");
        json_t *v = json_object_get(vals, "sessions");
        ys[i] = json_is_number(v) ? json_number_value(v) : NAN;
        any_sessions |= json_is_number(v);
        as.hi = ys[i] > as.hi ? ys[i] : as.hi;
        const char *name;
        json_t *g;
        size_t k = 0;
        json_object_foreach(growth, name, g) {
            v = json_object_get(vals, name);
            double mb = json_is_number(v) ? json_number_value(v) / 1e6 : NAN;
            ys[(k + 1) * n + i] = mb;
            am.hi = mb > am.hi ? mb : am.hi;
            sr[k] = (struct series){.name = name, .label = name, .x = x,
                                    .y = &ys[(k + 1) * n], .n = n};
            k++;
        }
    }
    if (any_sessions) {
        struct series ss = {.name = "sessions", .label = "relay sessions", .x = x, .y = ys,
                            .n = n};
        chart(f, "relay-state-sessions", "relay sessions over the run", ax, as,
              "seconds from the load's start", "sessions", &ss, 1, -INFINITY);
    }
    if (ng > 0)
        chart(f, "relay-state-memory", "relay memory over the run (values judged for growth)",
              ax, am, "seconds from the load's start", "MB", sr, ng, -INFINITY);
out:
    free(x);
    free(ys);
    free(sr);
    json_decref(rs);
}

static void configuration(FILE *f, const struct report_meta *m)
{
    fputs("<h2>Configuration</h2>\n<pre id=\"config\">", f);
    json_t *cfg = m->config_json != NULL ? json_loads(m->config_json, 0, NULL) : NULL;
    char *text = cfg != NULL ? json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    markup_text(f, text != NULL ? text : m->config_json != NULL ? m->config_json : "");
    free(text);
    json_decref(cfg);
    fputs("</pre>\n", f);
    if (m->scenario_text == NULL)
        return;
    /* The scenario's text as given: it may hold a NUL, which ends what is shown. */
    char *sc = strndup(m->scenario_text, m->scenario_text_len);
    if (sc == NULL)
        return;
    fputs("<details><summary>the scenario as run (scenario.json)</summary><pre id=\"scenario\">",
          f);
    markup_text(f, sc);
    fputs("</pre></details>\n", f);
    free(sc);
}

char *report_html(const struct run_stats *st, const struct report_meta *m, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (f == NULL)
        return NULL;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width\"><title>msrpload report: ",
          f);
    markup_text(f, m->scenario_name != NULL ? m->scenario_name : "");
    fprintf(f, "</title><style>%s</style></head><body>\n", style);
    header(f, st, m);
    summary_table(f, st, m);
    bool ok = time_charts(f, st, m);
    latency_table(f, st);
    ok = ok && spectrum(f, st);
    status_table(f, st, m);
    failures_table(f, m);
    stages_table(f, st, m);
    relay_state_section(f, m);
    configuration(f, m);
    fputs("<p class=\"meta\">Written by msrpload ", f);
    markup_text(f, m->version != NULL ? m->version : "");
    fputs(" with the other files of this directory (summary.json has every figure; README "
          "\"Reports\" defines them).</p>\n</body></html>\n",
          f);
    if (fclose(f) != 0 || !ok) {
        free(text);
        return NULL;
    }
    return text;
}
