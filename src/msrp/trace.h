/*
 * trace.h - the last frames a session exchanged, for failure forensics.
 *
 * A small ring per traced session holds, for each of the last MSRP_TRACE_FRAMES frames, its
 * direction, its length and the first MSRP_TRACE_HEAD bytes of its start line and headers
 * (never its body). Noting a frame copies at most that many bytes and nothing is formatted:
 * the ring is read only when a failure is recorded (msrp_trace_copy).
 *
 * Thread safety: a ring belongs to its session's loop thread.
 */
#ifndef MSRPLOAD_MSRP_TRACE_H
#define MSRPLOAD_MSRP_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/parser.h"

#define MSRP_TRACE_FRAMES 8
#define MSRP_TRACE_HEAD 128

struct msrp_trace_frame {
    uint64_t at_ns;         /* CLOCK_MONOTONIC: written, or its head read */
    uint64_t len;           /* the whole frame's bytes (incoming: 0 until its end line) */
    uint64_t offset;        /* incoming: the stream offset of its start line */
    bool out;               /* written by us */
    char flag;              /* '$', '+', '#', or 0 (incoming, end line not read yet), or '?'
                               (bytes that could not be framed) */
    uint16_t head_len;
    char head[MSRP_TRACE_HEAD]; /* start line and headers as on the wire (CRLFs kept), cut */
};

struct msrp_trace {
    unsigned next;          /* where the next frame goes */
    unsigned count;         /* frames noted, up to MSRP_TRACE_FRAMES */
    struct msrp_trace_frame f[MSRP_TRACE_FRAMES];
};

/* A frame we wrote: head is its start line and headers, total its length on the wire. */
void msrp_trace_out(struct msrp_trace *t, const char *head, size_t head_len, size_t total,
                    char flag, uint64_t now_ns);
/*
 * The head of an incoming chunk (c->has_head) that msrp_parse read from a buffer starting at
 * head (where that call began: a head is parsed whole or not at all), copied in one piece up
 * to the end of its last header line.
 */
void msrp_trace_in_head(struct msrp_trace *t, const struct msrp_chunk *c, const char *head,
                        uint64_t now_ns);
/* The end of an incoming chunk: stream_end is the parser's offset after its end line. */
void msrp_trace_in_end(struct msrp_trace *t, const struct msrp_chunk *c, uint64_t stream_end);
/* Bytes that could not be framed (the parser's error): their first bytes, as they came. */
void msrp_trace_in_garbage(struct msrp_trace *t, const char *bytes, size_t len,
                           uint64_t now_ns);
/* Copies the frames, oldest first, into out (room for max); returns how many. */
unsigned msrp_trace_copy(const struct msrp_trace *t, struct msrp_trace_frame *out, unsigned max);

#endif
