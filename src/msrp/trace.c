/*
 * trace.c - the ring of a session's last frames (trace.h): noted with a bounded copy per
 * frame, read only when a failure is recorded.
 */
#include "msrp/trace.h"

#include <stdio.h>
#include <string.h>

static struct msrp_trace_frame *next_slot(struct msrp_trace *t)
{
    struct msrp_trace_frame *f = &t->f[t->next];
    t->next = (t->next + 1) % MSRP_TRACE_FRAMES;
    if (t->count < MSRP_TRACE_FRAMES)
        t->count++;
    return f;
}

/* A frame whose first bytes are at hand as one run (ours, or bytes that could not be framed). */
static void note_bytes(struct msrp_trace *t, const char *bytes, size_t len, uint64_t total,
                       bool out, char flag, uint64_t now_ns)
{
    struct msrp_trace_frame *f = next_slot(t);
    size_t n = len < MSRP_TRACE_HEAD ? len : MSRP_TRACE_HEAD;
    memcpy(f->head, bytes, n);
    f->head_len = (uint16_t)n;
    f->at_ns = now_ns;
    f->len = total;
    f->offset = 0;
    f->out = out;
    f->flag = flag;
}

void msrp_trace_out(struct msrp_trace *t, const char *head, size_t head_len, size_t total,
                    char flag, uint64_t now_ns)
{
    note_bytes(t, head, head_len, total, true, flag, now_ns);
}

static const char *span_end(struct msrp_span sp)
{
    return sp.ptr + sp.len;
}

void msrp_trace_in_head(struct msrp_trace *t, const struct msrp_chunk *c, const char *head,
                        uint64_t now_ns)
{
    struct msrp_trace_frame *f = next_slot(t);
    /* The head ends with its last header value, or its start line: "MSRP" SP transact-id SP
     * then a method, or a status code and maybe a comment (RFC 4975 section 9). The id is
     * the parser's own copy, so only its length is read. */
    const char *end;
    if (c->num_headers > 0)
        end = span_end(c->headers[c->num_headers - 1].value);
    else if (c->kind != MSRP_RESPONSE)
        end = span_end(c->method);
    else if (c->comment.len > 0)
        end = span_end(c->comment);
    else
        end = head + 5 + c->tid.len + 4;
    size_t n = (size_t)(end - head);
    if (n + 2 <= MSRP_TRACE_HEAD) {
        memcpy(f->head, head, n);
        memcpy(f->head + n, "\r\n", 2); /* the last line's CRLF, as the other lines keep */
        n += 2;
    } else {
        n = MSRP_TRACE_HEAD;
        memcpy(f->head, head, n);
    }
    f->head_len = (uint16_t)n;
    f->at_ns = now_ns;
    f->len = 0;
    f->offset = c->offset;
    f->out = false;
    f->flag = 0;
}

void msrp_trace_in_end(struct msrp_trace *t, const struct msrp_chunk *c, uint64_t stream_end)
{
    if (t->count == 0)
        return;
    struct msrp_trace_frame *f = &t->f[(t->next + MSRP_TRACE_FRAMES - 1) % MSRP_TRACE_FRAMES];
    if (f->out || f->offset != c->offset || stream_end < c->offset)
        return; /* its head was not noted (it came before tracing began) */
    f->len = stream_end - c->offset;
    f->flag = c->flag;
}

void msrp_trace_in_garbage(struct msrp_trace *t, const char *bytes, size_t len,
                           uint64_t now_ns)
{
    note_bytes(t, bytes, len, len, false, '?', now_ns);
}

unsigned msrp_trace_copy(const struct msrp_trace *t, struct msrp_trace_frame *out, unsigned max)
{
    unsigned n = t->count < max ? t->count : max;
    unsigned first = (t->next + MSRP_TRACE_FRAMES - n) % MSRP_TRACE_FRAMES;
    for (unsigned i = 0; i < n; i++)
        out[i] = t->f[(first + i) % MSRP_TRACE_FRAMES];
    return n;
}
