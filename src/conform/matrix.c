/*
 * matrix.c - the matrix of implementations (matrix.h): reads conform --json results files
 * back with jansson, lines their cases up by id (aliases joining the current id's row), and
 * renders the HTML page and the Markdown. It only formats: it runs no case and reads no option.
 */
#include "conform/matrix.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conform/results.h"
#include "report/markup.h"

/* One case: the first file's description of it, and each column's result object. */
struct row {
    json_t *desc;   /* the case object that named it first (borrowed from its file) */
    json_t **cell;  /* per column: the case object, or NULL when the file lacks the case */
};

struct column {
    json_t *root;
    const char *name, *peer, *generator;
};

struct conform_matrix {
    struct column *col;
    size_t ncol;
    struct row *row;
    size_t nrow;
};

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* The row whose id, or one of whose aliases, is id (or whose case had id as an alias). */
static struct row *find_row(struct conform_matrix *m, json_t *kase)
{
    const char *id = str(kase, "id");
    for (size_t i = 0; i < m->nrow; i++) {
        json_t *d = m->row[i].desc;
        if (strcmp(str(d, "id"), id) == 0)
            return &m->row[i];
        size_t a;
        json_t *v;
        json_array_foreach(json_object_get(d, "aliases"), a, v)
            if (strcmp(json_string_value(v) ? json_string_value(v) : "", id) == 0)
                return &m->row[i];
        json_array_foreach(json_object_get(kase, "aliases"), a, v)
            if (strcmp(json_string_value(v) ? json_string_value(v) : "", str(d, "id")) == 0)
                return &m->row[i];
    }
    return NULL;
}

/* Section numbers compared number by number: 7.2 < 7.10, 7.1 < 7.1.1. */
static int section_cmp(const char *a, const char *b)
{
    while (*a != '\0' || *b != '\0') {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            long x = strtol(a, (char **)&a, 10), y = strtol(b, (char **)&b, 10);
            if (x != y)
                return x < y ? -1 : 1;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return 0;
}

static int row_cmp(const void *pa, const void *pb)
{
    json_t *a = ((const struct row *)pa)->desc, *b = ((const struct row *)pb)->desc;
    int c = strcmp(str(a, "rfc"), str(b, "rfc"));
    if (c == 0)
        c = section_cmp(str(a, "section"), str(b, "section"));
    return c != 0 ? c : strcmp(str(a, "id"), str(b, "id"));
}

struct conform_matrix *conform_matrix_load(const char *const *paths, size_t n, char *err,
                                           size_t errlen)
{
    struct conform_matrix *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->col = calloc(n + 1, sizeof(*m->col))) == NULL) {
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t c = 0; c < n; c++) {
        json_error_t je;
        json_t *root = json_load_file(paths[c], 0, &je);
        if (root == NULL) {
            if (je.line > 0)
                snprintf(err, errlen, "%s:%d: %s", paths[c], je.line, je.text);
            else /* not opened or empty: jansson's text names the file already */
                snprintf(err, errlen, "%s", je.text);
            goto fail;
        }
        struct column *col = &m->col[m->ncol++];
        col->root = root;
        col->peer = str(root, "peer");
        col->name = str(root, "name")[0] != '\0' ? str(root, "name") : col->peer;
        col->generator = str(root, "generator");
        json_t *cases = json_object_get(root, "cases");
        if (!json_is_array(cases)) {
            snprintf(err, errlen, "%s:1: not a results file of conform --json (no \"cases\")",
                     paths[c]);
            goto fail;
        }
        size_t i;
        json_t *k;
        json_array_foreach(cases, i, k) {
            if (str(k, "id")[0] == '\0' || str(k, "result")[0] == '\0') {
                snprintf(err, errlen, "%s: cases[%zu]: needs \"id\" and \"result\"", paths[c],
                         i);
                goto fail;
            }
            struct row *r = find_row(m, k);
            if (r == NULL) {
                struct row *nr = realloc(m->row, (m->nrow + 1) * sizeof(*nr));
                if (nr == NULL)
                    goto oom;
                m->row = nr;
                r = &m->row[m->nrow];
                r->desc = k;
                if ((r->cell = calloc(n, sizeof(*r->cell))) == NULL)
                    goto oom;
                m->nrow++;
            }
            if (r->cell[c] != NULL) {
                snprintf(err, errlen, "%s: cases[%zu]: %s is there twice", paths[c], i,
                         str(k, "id"));
                goto fail;
            }
            r->cell[c] = k;
        }
    }
    qsort(m->row, m->nrow, sizeof(*m->row), row_cmp);
    return m;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    conform_matrix_free(m);
    return NULL;
}

void conform_matrix_free(struct conform_matrix *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nrow; i++)
        free(m->row[i].cell);
    free(m->row);
    for (size_t c = 0; c < m->ncol; c++)
        json_decref(m->col[c].root);
    free(m->col);
    free(m);
}

size_t conform_matrix_rows(const struct conform_matrix *m)
{
    return m->nrow;
}

size_t conform_matrix_columns(const struct conform_matrix *m)
{
    return m->ncol;
}

/* ---- counting ----------------------------------------------------------------------------- */

static const char *const counted[] = {"pass", "fail", "non-strict", "info", "unobservable",
                                      "skip"};
#define NCOUNTED (sizeof counted / sizeof counted[0])

/* The verdict word of a cell: its result, "absent" for a case the file lacks. */
static const char *verdict_of(json_t *cell)
{
    return cell == NULL ? "absent" : str(cell, "result");
}

/* Counts a column's verdicts into cnt[NCOUNTED + 1] (skip includes not-run; the last:
 * anything else: unreachable, absent). */
static void count_column(const struct conform_matrix *m, size_t c, size_t *cnt)
{
    memset(cnt, 0, (NCOUNTED + 1) * sizeof(*cnt));
    for (size_t i = 0; i < m->nrow; i++) {
        const char *v = verdict_of(m->row[i].cell[c]);
        if (strcmp(v, "not-run") == 0) /* skipped before it ran (--quick, unreachable) */
            v = "skip";
        size_t k = 0;
        while (k < NCOUNTED && strcmp(v, counted[k]) != 0)
            k++;
        cnt[k]++;
    }
}

/* ---- HTML --------------------------------------------------------------------------------- */


/* A verdict word as a CSS class name: only [a-z-], anything else as '-'. */
static void css_word(FILE *f, const char *s)
{
    for (; *s != '\0'; s++)
        fputc((*s >= 'a' && *s <= 'z') || *s == '-' ? *s : '-', f);
}

static void requirement_ids(FILE *f, json_t *desc, const char *sep, void (*esc)(FILE *, const char *))
{
    size_t a;
    json_t *v;
    json_array_foreach(json_object_get(desc, "requirements"), a, v) {
        if (a > 0)
            fputs(sep, f);
        esc(f, json_string_value(v) != NULL ? json_string_value(v) : "");
    }
}

static const char style[] =
    "body{font:14px/1.35 system-ui,sans-serif;margin:1em;color:#222}"
    "table{border-collapse:collapse}th,td{border:1px solid #bbb;padding:3px 6px;"
    "vertical-align:top;text-align:left}thead th{background:#eee}"
    "tr.section th{background:#dde4ee;font-weight:600}th.id small{color:#555;font-weight:400}"
    "td.cell{min-width:7em}summary{cursor:pointer;font-weight:600}"
    "td.v-pass{background:#c8f0c8}td.v-fail{background:#f5b5b5}"
    "td.v-non-strict{background:#f8d9a8}td.v-info{background:#cfe0f8}"
    "td.v-unobservable{background:#e6dcf5}td.v-skip,td.v-not-run{background:#eee;color:#666}"
    "td.v-unreachable{background:#d88;color:#fff}td.v-absent{background:#fff;color:#999}"
    "pre.wire{max-width:60em;max-height:30em;overflow:auto;background:#fafafa;"
    "border:1px solid #ddd;padding:4px;font-size:12px;white-space:pre-wrap}"
    "tr.summary td,tr.summary th{background:#f4f4f4;font-weight:600}.lvl-MUST{color:#a00}"
    ".lvl-SHOULD{color:#a60}.lvl-MAY{color:#06a}";

static void html_cell(FILE *f, json_t *desc, json_t *cell)
{
    const char *v = verdict_of(cell);
    fputs("<td class=\"cell v-", f);
    css_word(f, v);
    fputs("\">", f);
    if (cell == NULL) {
        fputs("&mdash;</td>", f);
        return;
    }
    fputs("<details><summary>", f);
    markup_text(f, v);
    fputs("</summary><div class=\"detail\"><p><b>expected:</b> ", f);
    markup_text(f, str(desc, "expected"));
    if (str(cell, "observed")[0] != '\0') {
        fputs("</p><p><b>observed:</b> ", f);
        markup_text(f, str(cell, "observed"));
    }
    fputs("</p>", f);
    if (str(cell, "wire")[0] != '\0') {
        fputs("<p><b>wire exchange</b> (a&gt; sent by endpoint a, a&lt; received)</p>"
              "<pre class=\"wire\">",
              f);
        markup_text(f, str(cell, "wire"));
        fputs("</pre>", f);
    }
    fputs("</div></details></td>", f);
}

void conform_matrix_html(const struct conform_matrix *m, FILE *f, const char *generator)
{
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>MSRP conformance matrix</title><style>%s</style></head><body>\n",
            style);
    fputs("<h1>MSRP conformance matrix</h1>\n<p>", f);
    markup_text(f, generator);
    fprintf(f, ": %zu cases, %zu implementations. Cells open the expected and observed "
               "behaviour and the wire exchange.</p>\n",
            m->nrow, m->ncol);
    fputs("<table id=\"matrix\"><thead><tr><th>case</th><th>level</th><th>requirements</th>",
          f);
    for (size_t c = 0; c < m->ncol; c++) {
        fputs("<th class=\"impl\">", f);
        markup_text(f, m->col[c].name);
        if (strcmp(m->col[c].name, m->col[c].peer) != 0) {
            fputs("<br><small>", f);
            markup_text(f, m->col[c].peer);
            fputs("</small>", f);
        }
        fputs("</th>", f);
    }
    fputs("</tr>\n<tr class=\"summary\"><th colspan=\"3\">summary</th>", f);
    for (size_t c = 0; c < m->ncol; c++) {
        size_t cnt[NCOUNTED + 1];
        count_column(m, c, cnt);
        fputs("<td class=\"summary\">", f);
        for (size_t k = 0; k < NCOUNTED; k++)
            fprintf(f, "%s<span class=\"n-%s\">%zu %s</span>", k == 0 ? "" : ", ", counted[k],
                    cnt[k], counted[k]);
        if (cnt[NCOUNTED] > 0)
            fprintf(f, ", <span class=\"n-other\">%zu other</span>", cnt[NCOUNTED]);
        fputs("</td>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    char last[160] = "";
    for (size_t i = 0; i < m->nrow; i++) {
        json_t *d = m->row[i].desc;
        char sec[160];
        snprintf(sec, sizeof sec, "RFC %s section %s", str(d, "rfc"), str(d, "section"));
        if (strcmp(sec, last) != 0) {
            fprintf(f, "<tr class=\"section\"><th colspan=\"%zu\">", m->ncol + 3);
            markup_text(f, sec);
            fputs("</th></tr>\n", f);
            snprintf(last, sizeof last, "%s", sec);
        }
        fputs("<tr class=\"case\"><th class=\"id\">", f);
        markup_text(f, str(d, "id"));
        fputs("<br><small>", f);
        markup_text(f, str(d, "title"));
        fputs("</small></th><td class=\"level lvl-", f);
        css_word(f, str(d, "level"));
        fputs("\">", f);
        markup_text(f, str(d, "level"));
        fputs("</td><td class=\"req\" title=\"", f);
        markup_text(f, str(d, "requirement"));
        fputs("\">", f);
        requirement_ids(f, d, "<br>", markup_text);
        fputs("</td>", f);
        for (size_t c = 0; c < m->ncol; c++)
            html_cell(f, d, m->row[i].cell[c]);
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n</body></html>\n", f);
}

/* ---- Markdown ----------------------------------------------------------------------------- */

/* Text in a Markdown table cell: '|' and markup escaped, line ends as spaces. */
static void md(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|' || *s == '\\' || *s == '*' || *s == '_' || *s == '`' || *s == '[' ||
            *s == ']')
            fputc('\\', f);
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
    }
}

void conform_matrix_markdown(const struct conform_matrix *m, FILE *f, const char *generator)
{
    fputs("# MSRP conformance matrix\n\n", f);
    md(f, generator);
    fprintf(f, ": %zu cases, %zu implementations.\n\n| summary |", m->nrow, m->ncol);
    for (size_t c = 0; c < m->ncol; c++) {
        fputs(" ", f);
        md(f, m->col[c].name);
        fputs(" |", f);
    }
    fputs("\n|---|", f);
    for (size_t c = 0; c < m->ncol; c++)
        fputs("---|", f);
    fputs("\n", f);
    for (size_t k = 0; k <= NCOUNTED; k++) {
        fprintf(f, "| %s |", k < NCOUNTED ? counted[k] : "other");
        for (size_t c = 0; c < m->ncol; c++) {
            size_t cnt[NCOUNTED + 1];
            count_column(m, c, cnt);
            fprintf(f, " %zu |", cnt[k]);
        }
        fputs("\n", f);
    }
    char last[160] = "";
    for (size_t i = 0; i < m->nrow; i++) {
        json_t *d = m->row[i].desc;
        char sec[160];
        snprintf(sec, sizeof sec, "RFC %s section %s", str(d, "rfc"), str(d, "section"));
        if (strcmp(sec, last) != 0) {
            fputs("\n## ", f);
            md(f, sec);
            fputs("\n\n| case | level | requirements |", f);
            for (size_t c = 0; c < m->ncol; c++) {
                fputs(" ", f);
                md(f, m->col[c].name);
                fputs(" |", f);
            }
            fputs("\n|---|---|---|", f);
            for (size_t c = 0; c < m->ncol; c++)
                fputs("---|", f);
            fputs("\n", f);
            snprintf(last, sizeof last, "%s", sec);
        }
        fputs("| ", f);
        md(f, str(d, "id"));
        fputs(" | ", f);
        md(f, str(d, "level"));
        fputs(" | ", f);
        requirement_ids(f, d, ", ", md);
        fputs(" |", f);
        for (size_t c = 0; c < m->ncol; c++) {
            json_t *cell = m->row[i].cell[c];
            fputs(" ", f);
            if (cell == NULL)
                fputs("&mdash;", f);
            else
                md(f, verdict_of(cell));
            fputs(" |", f);
        }
        fputs("\n", f);
    }
}
