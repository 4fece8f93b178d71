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

void msrp_trace_out(struct msrp_trace *t, const char *head, size_t head_len, size_t total,
                    char flag, uint64_t now_ns)
{
    struct msrp_trace_frame *f = next_slot(t);
    size_t n = head_len < MSRP_TRACE_HEAD ? head_len : MSRP_TRACE_HEAD;
    memcpy(f->head, head, n);
    f->head_len = (uint16_t)n;
    f->at_ns = now_ns;
    f->len = total;
    f->offset = 0;
    f->out = true;
    f->flag = flag;
}

/* Appends a span to the head being rebuilt, as far as it fits. */
static void put(struct msrp_trace_frame *f, const char *p, size_t n)
{
    size_t room = MSRP_TRACE_HEAD - f->head_len;
    if (n > room)
        n = room;
    memcpy(f->head + f->head_len, p, n);
    f->head_len = (uint16_t)(f->head_len + n);
}

void msrp_trace_in_head(struct msrp_trace *t, const struct msrp_chunk *c, uint64_t now_ns)
{
    struct msrp_trace_frame *f = next_slot(t);
    f->head_len = 0;
    f->at_ns = now_ns;
    f->len = 0;
    f->offset = c->offset;
    f->out = false;
    f->flag = 0;
    put(f, "MSRP ", 5);
    put(f, c->tid.ptr, c->tid.len);
    put(f, " ", 1);
    if (c->kind == MSRP_RESPONSE) {
        char code[4] = {(char)('0' + c->status / 100 % 10), (char)('0' + c->status / 10 % 10),
                        (char)('0' + c->status % 10), ' '};
        put(f, code, c->comment.len > 0 ? 4 : 3);
        put(f, c->comment.ptr, c->comment.len);
    } else {
        put(f, c->method.ptr, c->method.len);
    }
    put(f, "\r\n", 2);
    for (size_t i = 0; i < c->num_headers && f->head_len < MSRP_TRACE_HEAD; i++) {
        put(f, c->headers[i].name.ptr, c->headers[i].name.len);
        put(f, ": ", 2);
        put(f, c->headers[i].value.ptr, c->headers[i].value.len);
        put(f, "\r\n", 2);
    }
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
    struct msrp_trace_frame *f = next_slot(t);
    size_t n = len < MSRP_TRACE_HEAD ? len : MSRP_TRACE_HEAD;
    memcpy(f->head, bytes, n);
    f->head_len = (uint16_t)n;
    f->at_ns = now_ns;
    f->len = len;
    f->offset = 0;
    f->out = false;
    f->flag = '?';
}

unsigned msrp_trace_copy(const struct msrp_trace *t, struct msrp_trace_frame *out, unsigned max)
{
    unsigned n = t->count < max ? t->count : max;
    unsigned first = (t->next + MSRP_TRACE_FRAMES - n) % MSRP_TRACE_FRAMES;
    for (unsigned i = 0; i < n; i++)
        out[i] = t->f[(first + i) % MSRP_TRACE_FRAMES];
    return n;
}
