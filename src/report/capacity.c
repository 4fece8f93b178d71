/*
 * capacity.c - capacity.json and capacity.svg of a capacity search (capacity.h).
 *
 * Owns: the two files' text. May not touch: the figures' meaning (load/capacity.c).
 *
 * The plot is one self-contained SVG (no script, no external resource): the upper panel the
 * judged latency (p50 and p99) of each step against its requested rate, the SLO's bound
 * dashed and the capacity marked; the lower panel the achieved rate against the requested
 * one, with the line where they are equal. Steps that met the SLO are filled green, the
 * others red. The x axis is logarithmic when the rates span more than a factor of 20.
 */
#include "report/capacity.h"
#include "report/markup.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A number for JSON: null when it is not finite (a percentile beyond the histogram). */
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

char *capacity_json_text(const struct capacity_doc *d, size_t *len)
{
    json_t *rows = json_array();
    for (unsigned i = 0; i < d->num_rows; i++) {
        const struct capacity_row *r = &d->rows[i];
        json_t *o = json_pack(
            "{s:I, s:s, s:f, s:o, s:o, s:o, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, "
            "s:b, s:b, s:s}",
            "step", (json_int_t)r->index, "report", r->dir, "requested_rate", r->requested,
            "achieved_rate", jnum(r->achieved), "ok_rate", jnum(r->ok_rate), "achieved_ratio",
            jnum(r->achieved_ratio), "step_s", r->step_s, "measured_s", r->measured_s,
            "messages_sent", (json_int_t)r->sent, "messages_ok", (json_int_t)r->ok,
            "messages_failed", (json_int_t)r->failed, "sessions_failed",
            (json_int_t)r->sessions_failed, "latency_samples", (json_int_t)r->samples,
            "p50_ms", jnum(r->p50_us / 1e3), "p99_ms", jnum(r->p99_us / 1e3), "errors_ratio",
            jnum(r->errors), "met", r->met, "interrupted", r->interrupted, "verdict", r->why);
        if (o == NULL) {
            json_decref(rows);
            return NULL;
        }
        json_array_append_new(rows, o);
    }
    json_t *root = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:f, s:o, s:o, s:s, "
        "s:{s:f, s:f, s:f, s:f, s:f, s:f, s:I}, s:o}",
        "scenario", d->scenario, "version", d->version, "slo", d->slo, "topology", d->topology,
        "latency", d->latency_kind, "started_unix", d->started_unix, "capacity_rate",
        d->capacity > 0 ? json_real(d->capacity) : json_null(), "first_failed_rate",
        d->first_failed > 0 ? json_real(d->first_failed) : json_null(), "ended", d->end,
        "search", "start_rate", d->start, "max_rate", d->max, "factor", d->factor, "resolution",
        d->resolution, "step_s", d->step_s, "warm_up_s", d->warm_up_s, "max_steps",
        (json_int_t)d->max_steps, "steps", rows);
    if (root == NULL)
        return NULL;
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (text != NULL) {
        size_t n = strlen(text);
        char *t = realloc(text, n + 2); /* a final line end */
        if (t == NULL) {
            free(text);
            return NULL;
        }
        t[n] = '\n';
        t[n + 1] = '\0';
        text = t;
        *len = n + 1;
    }
    return text;
}

/* ---- the plot ---------------------------------------------------------------------------- */

#define W 860
#define PANEL_H 260
#define LEFT 80
#define RIGHT 30
#define TOP1 60
#define TOP2 (TOP1 + PANEL_H + 70)
#define H (TOP2 + PANEL_H + 50)

struct axis {
    double lo, hi;
    bool log;
    int from, to; /* pixels */
};

static double ax(const struct axis *a, double v)
{
    if (a->hi <= a->lo)
        return (a->from + a->to) / 2.0;
    double t = a->log ? (log(v) - log(a->lo)) / (log(a->hi) - log(a->lo))
                      : (v - a->lo) / (a->hi - a->lo);
    return a->from + t * (a->to - a->from);
}

/* A round step for about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / n, mag = pow(10, floor(log10(raw)));
    double m = raw / mag;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * mag;
}

static void x_ticks(FILE *f, const struct axis *x, int y0, int y1)
{
    if (x->log) {
        double dec = pow(10, floor(log10(x->lo)));
        for (int k = 0; k < 12 && dec <= x->hi * 1.0001; k++, dec *= 10)
            for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) { /* 1, 2, 5 */
                double v = dec * m;
                if (v < x->lo * 0.9999 || v > x->hi * 1.0001)
                    continue;
                double px = ax(x, v);
                fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#e4e4e4'/>\n", px,
                        y0, px, y1);
                fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle'>%g</text>\n", px, y1 + 16,
                        v);
            }
        return;
    }
    double st = nice_step(x->hi - x->lo, 8);
    double v = ceil(x->lo / st) * st;
    for (int k = 0; k < 20 && v <= x->hi + st * 1e-6; k++, v += st) {
        double px = ax(x, v);
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#e4e4e4'/>\n", px, y0, px,
                y1);
        fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle'>%g</text>\n", px, y1 + 16, v);
    }
}

static void y_ticks(FILE *f, const struct axis *y)
{
    double st = nice_step(y->hi - y->lo, 5);
    double v = 0;
    for (int k = 0; k < 20 && v <= y->hi + st * 1e-6; k++, v += st) {
        double py = ax(y, v);
        fprintf(f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#e4e4e4'/>\n", LEFT, py,
                W - RIGHT, py);
        fprintf(f, "<text x='%d' y='%.1f' text-anchor='end'>%g</text>\n", LEFT - 6, py + 4, v);
    }
}

/* The rows' indexes by requested rate, for lines drawn left to right. */
static void by_rate(const struct capacity_doc *d, unsigned *order)
{
    for (unsigned i = 0; i < d->num_rows; i++)
        order[i] = i;
    for (unsigned i = 1; i < d->num_rows; i++)
        for (unsigned j = i; j > 0 && d->rows[order[j]].requested < d->rows[order[j - 1]].requested;
             j--) {
            unsigned t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

static void polyline(FILE *f, const struct capacity_doc *d, const unsigned *order,
                     const struct axis *x, const struct axis *y, double (*get)(const struct capacity_row *),
                     const char *style)
{
    fprintf(f, "<polyline fill='none' %s points='", style);
    for (unsigned k = 0; k < d->num_rows; k++) {
        const struct capacity_row *r = &d->rows[order[k]];
        double v = get(r);
        if (isfinite(v))
            fprintf(f, "%.1f,%.1f ", ax(x, r->requested), ax(y, v < y->hi ? v : y->hi));
    }
    fputs("'/>\n", f);
}

static double p50_ms(const struct capacity_row *r) { return r->p50_us / 1e3; }
static double p99_ms(const struct capacity_row *r) { return r->p99_us / 1e3; }
static double achieved(const struct capacity_row *r) { return r->achieved; }

static void points(FILE *f, const struct capacity_doc *d, const struct axis *x,
                   const struct axis *y, double (*get)(const struct capacity_row *), int radius)
{
    for (unsigned i = 0; i < d->num_rows; i++) {
        const struct capacity_row *r = &d->rows[i];
        double v = get(r);
        bool off = !isfinite(v) || v > y->hi; /* drawn at the top, hollow */
        fprintf(f,
                "<circle cx='%.1f' cy='%.1f' r='%d' fill='%s' stroke='%s' stroke-width='1.5'>"
                "<title>step %u: %g msg/s requested, %s</title></circle>\n",
                ax(x, r->requested), ax(y, off ? y->hi : v), radius,
                off ? "white" : r->met ? "#2ca02c" : "#d62728", r->met ? "#1a661a" : "#8b1a1a",
                r->index, r->requested, r->met ? "met" : "failed");
    }
}

static void frame(FILE *f, int top, const char *ylabel)
{
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n", LEFT,
            top, W - LEFT - RIGHT, PANEL_H);
    fprintf(f,
            "<text transform='translate(%d,%d) rotate(-90)' text-anchor='middle'>%s</text>\n",
            22, top + PANEL_H / 2, ylabel);
    fprintf(f, "<text x='%d' y='%d' text-anchor='middle'>requested rate (messages/s)</text>\n",
            (LEFT + W - RIGHT) / 2, top + PANEL_H + 36);
}

char *capacity_svg_text(const struct capacity_doc *d, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (f == NULL)
        return NULL;
    unsigned *order = calloc(d->num_rows ? d->num_rows : 1, sizeof(*order));
    if (order == NULL) {
        fclose(f);
        free(buf);
        return NULL;
    }
    by_rate(d, order);
    double rlo = INFINITY, rhi = 0, lat_hi = d->slo_latency_us / 1e3, ach_hi = 0;
    for (unsigned i = 0; i < d->num_rows; i++) {
        const struct capacity_row *r = &d->rows[i];
        rlo = fmin(rlo, r->requested);
        rhi = fmax(rhi, r->requested);
        if (isfinite(r->p99_us))
            lat_hi = fmax(lat_hi, r->p99_us / 1e3);
        ach_hi = fmax(ach_hi, fmax(r->achieved, r->requested));
    }
    if (d->num_rows == 0)
        rlo = 1, rhi = 10;
    /* Latency well above the SLO squeezes the steps that met it: cut at 4 times the bound. */
    if (d->slo_latency_us > 0 && lat_hi > 4 * d->slo_latency_us / 1e3)
        lat_hi = 4 * d->slo_latency_us / 1e3;
    bool logx = rhi > 20 * rlo;
    /* A margin of 5% of the span each side, and at least 10% of the highest rate in all (one
     * step alone, or steps close together). */
    double pad = fmax((rhi - rlo) * 0.05, rhi * 0.05);
    struct axis x = {logx ? rlo / 1.15 : fmax(0, rlo - pad), logx ? rhi * 1.15 : rhi + pad,
                     logx, LEFT, W - RIGHT};
    struct axis y1 = {0, lat_hi > 0 ? lat_hi * 1.1 : 1, false, TOP1 + PANEL_H, TOP1};
    struct axis y2 = {0, ach_hi > 0 ? ach_hi * 1.1 : 1, false, TOP2 + PANEL_H, TOP2};

    fprintf(f,
            "<?xml version='1.0' encoding='UTF-8'?>\n"
            "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d' "
            "font-family='DejaVu Sans, Arial, sans-serif' font-size='12'>\n"
            "<rect width='100%%' height='100%%' fill='white'/>\n",
            W, H, W, H);
    fputs("<text x='20' y='24' font-size='15' font-weight='bold'>", f);
    markup_text(f, d->scenario);
    fputs(": capacity search, SLO ", f);
    markup_text(f, d->slo);
    fputs("</text>\n<text x='20' y='42'>", f);
    if (d->capacity > 0)
        fprintf(f, "capacity %g messages/s", d->capacity);
    else
        fputs("no step met the SLO", f);
    if (d->first_failed > 0)
        fprintf(f, "; lowest rate that failed %g messages/s", d->first_failed);
    fprintf(f, "; %u steps of %g s (after %g s warm-up each); search ended: ", d->num_rows,
            d->step_s, d->warm_up_s);
    markup_text(f, d->end);
    fputs("</text>\n", f);

    /* Upper panel: latency. */
    x_ticks(f, &x, TOP1, TOP1 + PANEL_H);
    y_ticks(f, &y1);
    char label[96];
    snprintf(label, sizeof(label), "latency (ms, %s)", d->latency_kind);
    frame(f, TOP1, label);
    if (d->slo_latency_us > 0) {
        double py = ax(&y1, d->slo_latency_us / 1e3);
        fprintf(f,
                "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#d62728' "
                "stroke-dasharray='6,4'/>\n<text x='%d' y='%.1f' fill='#d62728' "
                "text-anchor='end'>SLO %g ms</text>\n",
                LEFT, py, W - RIGHT, py, W - RIGHT - 4, py - 4, d->slo_latency_us / 1e3);
    }
    if (d->capacity > 0) {
        double px = ax(&x, d->capacity);
        for (int k = 0; k < 2; k++)
            fprintf(f,
                    "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#1f77b4' "
                    "stroke-dasharray='3,3'/>\n",
                    px, k ? TOP2 : TOP1, px, (k ? TOP2 : TOP1) + PANEL_H);
        fprintf(f, "<text x='%.1f' y='%d' fill='#1f77b4' text-anchor='middle'>capacity %g"
                   "</text>\n", px, TOP1 - 4, d->capacity);
    }
    polyline(f, d, order, &x, &y1, p99_ms, "stroke='#555' stroke-width='1.5'");
    polyline(f, d, order, &x, &y1, p50_ms, "stroke='#aaa' stroke-width='1.5' stroke-dasharray='4,3'");
    points(f, d, &x, &y1, p99_ms, 5);
    points(f, d, &x, &y1, p50_ms, 3);
    fprintf(f, "<text x='%d' y='%d'>p99: solid line, large dots; p50: dashed line, small dots; "
               "green met the SLO, red did not; hollow: above the panel</text>\n",
            LEFT + 8, TOP1 + 16);

    /* Lower panel: achieved against requested. */
    x_ticks(f, &x, TOP2, TOP2 + PANEL_H);
    y_ticks(f, &y2);
    frame(f, TOP2, "achieved rate (messages sent/s)");
    fputs("<polyline fill='none' stroke='#bbb' stroke-dasharray='2,3' points='", f);
    for (int k = 0; k <= 40; k++) {
        double v = x.log ? x.lo * pow(x.hi / x.lo, k / 40.0) : x.lo + (x.hi - x.lo) * k / 40.0;
        if (v <= y2.hi)
            fprintf(f, "%.1f,%.1f ", ax(&x, v), ax(&y2, v));
    }
    fputs("'/>\n", f);
    polyline(f, d, order, &x, &y2, achieved, "stroke='#555' stroke-width='1.5'");
    points(f, d, &x, &y2, achieved, 5);
    fprintf(f, "<text x='%d' y='%d'>dotted: achieved = requested</text>\n", LEFT + 8, TOP2 + 16);
    fputs("</svg>\n", f);
    free(order);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}
