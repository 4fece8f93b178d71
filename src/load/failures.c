/*
 * failures.c - the failure log of a run (failures.h): counts and first examples per kind,
 * merged over workers, written as errors.jsonl and summarised for the terminal.
 *
 * Owns: noting, merging and rendering failures. May not touch: the runner's workers or
 * sessions (it is handed copies), files (it returns text; the report writes it).
 */
#include "load/failures.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "load/runner.h"

const char *failure_kind_name(unsigned kind)
{
    if (kind == FAILURE_EXPECTATION)
        return "expectation";
    if (kind == FAILURE_UNBOUND_AT_END)
        return "unbound-at-end";
    return runner_end_name(kind);
}

bool failure_wants_example(const struct failure_log *log, unsigned kind)
{
    return kind < FAILURE_KINDS && log->kinds[kind].n < FAILURE_EXAMPLES;
}

void failure_note(struct failure_log *log, unsigned kind, uint64_t now_ns, const char *session,
                  const char *peer, const char *detail, const struct msrp_trace *trace)
{
    if (kind >= FAILURE_KINDS)
        return;
    struct failure_kind_log *k = &log->kinds[kind];
    k->count++;
    if (k->n >= FAILURE_EXAMPLES)
        return;
    struct failure_example *ex = &k->ex[k->n++];
    ex->t_s = now_ns >= log->t0_ns ? (double)(now_ns - log->t0_ns) / 1e9 : 0;
    snprintf(ex->session, sizeof(ex->session), "%s", session != NULL ? session : "");
    snprintf(ex->peer, sizeof(ex->peer), "%s", peer != NULL ? peer : "");
    snprintf(ex->detail, sizeof(ex->detail), "%s", detail != NULL ? detail : "");
    ex->nframes = trace != NULL ? msrp_trace_copy(trace, ex->frames, MSRP_TRACE_FRAMES) : 0;
    for (unsigned i = 0; i < ex->nframes; i++)
        ex->frames[i].at_ns = ex->frames[i].at_ns >= log->t0_ns ? ex->frames[i].at_ns - log->t0_ns
                                                                : 0;
}

void failure_merge(struct failure_log *dst, const struct failure_log *src)
{
    for (unsigned kind = 0; kind < FAILURE_KINDS; kind++) {
        struct failure_kind_log *d = &dst->kinds[kind];
        const struct failure_kind_log *s = &src->kinds[kind];
        d->count += s->count;
        /* Both lists are in time order: keep the earliest of the two. */
        struct failure_example keep[FAILURE_EXAMPLES];
        unsigned n = 0, i = 0, j = 0;
        while (n < FAILURE_EXAMPLES && (i < d->n || j < s->n))
            keep[n++] = j >= s->n || (i < d->n && d->ex[i].t_s <= s->ex[j].t_s) ? d->ex[i++]
                                                                                 : s->ex[j++];
        memcpy(d->ex, keep, n * sizeof(keep[0]));
        d->n = n;
    }
}

/* Bytes as a JSON string: printable ASCII as is (CR and LF escaped by JSON), others \xNN. */
static json_t *bytes_string(const char *p, size_t n)
{
    char *text = malloc(n * 4 + 1);
    if (text == NULL)
        return json_string("");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c >= 0x20 && c < 0x7f) || c == '\r' || c == '\n' || c == '\t')
            text[o++] = (char)c;
        else
            o += (size_t)snprintf(text + o, 5, "\\x%02x", c);
    }
    json_t *j = json_stringn(text, o);
    free(text);
    return j != NULL ? j : json_string("");
}

static void iso_time(double unix_s, char *out, size_t cap)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", base, (int)((unix_s - (double)t) * 1000) % 1000);
}

static json_t *frame_json(const struct msrp_trace_frame *f)
{
    char flag[2] = {f->flag, '\0'};
    json_t *j = json_pack("{s:s, s:f, s:I}", "dir", f->out ? "out" : "in", "t_s",
                          (double)f->at_ns / 1e9, "len", (json_int_t)f->len);
    /* "?": bytes that could not be framed; "": an incoming frame whose end never came, or
     * raw bytes we wrote */
    json_object_set_new(j, "end", json_string(f->flag == '?' ? "unframed" : flag));
    json_object_set_new(j, "head", bytes_string(f->head, f->head_len));
    json_object_set_new(j, "head_cut", json_boolean(f->head_len == MSRP_TRACE_HEAD));
    return j;
}

char *failure_jsonl(const struct failure_log *log, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f == NULL)
        return NULL;
    for (unsigned kind = 0; kind < FAILURE_KINDS; kind++) {
        const struct failure_kind_log *k = &log->kinds[kind];
        if (k->count == 0)
            continue;
        json_t *examples = json_array();
        for (unsigned i = 0; i < k->n; i++) {
            const struct failure_example *ex = &k->ex[i];
            char when[48];
            iso_time(log->started_unix + ex->t_s, when, sizeof(when));
            json_t *frames = json_array();
            for (unsigned fi = 0; fi < ex->nframes; fi++)
                json_array_append_new(frames, frame_json(&ex->frames[fi]));
            json_t *e = json_pack("{s:f, s:s}", "t_s", ex->t_s, "time", when);
            json_object_set_new(e, "session", bytes_string(ex->session, strlen(ex->session)));
            json_object_set_new(e, "peer", bytes_string(ex->peer, strlen(ex->peer)));
            json_object_set_new(e, "detail", bytes_string(ex->detail, strlen(ex->detail)));
            json_object_set_new(e, "frames", frames);
            json_array_append_new(examples, e);
        }
        json_t *line = json_pack("{s:s, s:I, s:o}", "kind", failure_kind_name(kind), "count",
                                 (json_int_t)k->count, "examples", examples);
        char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        json_decref(line);
        if (s != NULL) {
            fputs(s, f);
            fputc('\n', f);
        }
        free(s);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    *len = size;
    return text;
}

/* A frame's first line, cut at 60 characters, for the terminal. */
static void first_line(const struct msrp_trace_frame *fr, char *out, size_t cap)
{
    size_t n = 0;
    while (n < fr->head_len && fr->head[n] != '\r' && fr->head[n] != '\n' && n < 60)
        n++;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)fr->head[i];
        out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
    }
    out[o] = '\0';
}

char *failure_summary(const struct failure_log *log)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f == NULL)
        return NULL;
    bool any = false;
    for (unsigned kind = 0; kind < FAILURE_KINDS; kind++) {
        const struct failure_kind_log *k = &log->kinds[kind];
        if (k->count == 0)
            continue;
        if (!any)
            fprintf(f, "failures:   by kind, with the first one (errors.jsonl has examples and "
                       "their last frames)\n");
        any = true;
        fprintf(f, "  %s x%llu", failure_kind_name(kind), (unsigned long long)k->count);
        if (k->n == 0) {
            fputc('\n', f);
            continue;
        }
        const struct failure_example *ex = &k->ex[0];
        fprintf(f, ": at %.3fs, %s%s%s: %s\n", ex->t_s, ex->session, ex->peer[0] ? " with " : "",
                ex->peer, ex->detail);
        if (ex->nframes > 0) {
            fprintf(f, "    last frames:");
            unsigned from = ex->nframes > 3 ? ex->nframes - 3 : 0;
            for (unsigned i = from; i < ex->nframes; i++) {
                char line[64];
                first_line(&ex->frames[i], line, sizeof(line));
                fprintf(f, "%s %s %s (%llu B)", i > from ? " |" : "",
                        ex->frames[i].out ? ">" : "<", line,
                        (unsigned long long)ex->frames[i].len);
            }
            fputc('\n', f);
        }
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
