/*
 * wsraw.c - conform's own raw WebSocket path, for the RFC 7977 cases that need to control or
 * see single frames: a small client transport (net/transport.h) stacked on TCP or TLS that
 * endpoint a uses instead of msrpload's WebSocket transport when its case says "websocket":
 * "raw", "raw-text" or "raw-fragmented" (scenarios/conformance/README.md).
 *
 * Unlike net/transport_ws.c, which is built to carry load and refuses a bad upgrade, it is built
 * to look: it sends the upgrade by hand, with an Origin header as a browser does, and notes
 * what the 101 lacks instead of giving up (RFC 7977 4.1: the 101 MUST contain "msrp" in
 * Sec-WebSocket-Protocol; 7: SHOULD carry Access-Control-Allow-Origin when the request has
 * Origin); it sends each chunk
 * in a binary frame, a text frame, or as a binary frame and a continuation (one message in two
 * frames), as the case asks; and it reads every frame the relay sends, checking that each
 * message holds exactly one MSRP chunk (RFC 7977 5.1, MUST, on the relay as the sender). What
 * it sees goes to the wire record and, for a case that lists the requirement, into its verdict
 * (cx_ws_raw_judge). Framing facts of RFC 6455 (header layout, masking, opcodes, the accept
 * key) are from memory of its section 5.2 and 4.2.2: that RFC is not in ../shared/rfc.
 *
 * Owns: its struct ws_raw (one per endpoint, freed by cx_ws_raw_free after the connection has
 * gone). Never allocates per frame beyond growing its buffers. Reads of the transport above
 * the lower one are bounded by what the lower one returns; it loops over nothing unbounded.
 */
#include "conform/cx.h"

#include <errno.h>
#include <stdarg.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/transport_ws.h"
#include "wire/chunk_end.h"

#define RAW_IN_CAP (256u << 10) /* received bytes not yet unframed */
#define RAW_HEAD_CAP 8192       /* the 101's head */
#define RAW_FRAME_MAX (1u << 20)
#define RAW_MAX_PROBLEMS 4

enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xA };

struct raw_problem {
    const char *requirement;
    char text[300];
};

struct ws_raw {
    struct cx *x;
    struct ep *e;
    enum case_websocket kind;
    struct net_transport lower;
    bool lower_attached, lower_ready;
    /* the upgrade */
    int hs_state; /* 0 lower handshake, 1 request out, 2 response in, 3 done */
    char req[1024];
    size_t req_len, req_off;
    char key[32];
    char head[RAW_HEAD_CAP];
    size_t head_len;
    /* reading: bytes off the lower transport, frames taken from their front */
    unsigned char *in;
    size_t in_len;
    uint64_t left;      /* payload bytes of the current data frame still to hand up */
    bool frame_fin;     /* the current data frame ends its message */
    bool masked_seen;
    unsigned char mask[4];
    uint64_t mask_pos;
    struct msrp_chunk_end_scan scan_in;
    unsigned chunks_in_msg;
    uint64_t bytes_after_end; /* in the current message, after its last chunk end */
    unsigned long messages, text_messages, binary_messages, fragmented_messages;
    unsigned frames_in_msg;
    bool msg_open_in;
    unsigned msg_opcode_in;
    /* writing: the frame being sent and how many offered bytes it covers */
    unsigned char *out;
    size_t out_cap, out_len, out_off, covers;
    struct msrp_chunk_end_scan scan_out;
    bool msg_open_out;
    bool close_sent;
    unsigned peer_close;
    struct raw_problem problems[RAW_MAX_PROBLEMS];
    unsigned nproblems;
};

static void problem(struct ws_raw *r, const char *requirement, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keeps the first breach per requirement (later ones add nothing to a verdict). */
static void problem(struct ws_raw *r, const char *requirement, const char *fmt, ...)
{
    for (unsigned i = 0; i < r->nproblems; i++)
        if (strcmp(r->problems[i].requirement, requirement) == 0)
            return;
    if (r->nproblems == RAW_MAX_PROBLEMS)
        return;
    struct raw_problem *p = &r->problems[r->nproblems++];
    p->requirement = requirement;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->text, sizeof p->text, fmt, ap);
    va_end(ap);
}

bool cx_ws_raw_wanted(const struct cx *x, const struct ep *e)
{
    return x->k->websocket >= CASE_WS_RAW && e->idx == 0 && x->p->hop[0].ws;
}

/* ---- frames out ---------------------------------------------------------------------------- */

static bool out_reserve(struct ws_raw *r, size_t n)
{
    if (n <= r->out_cap)
        return true;
    unsigned char *nb = realloc(r->out, n);
    if (nb == NULL)
        return false;
    r->out = nb;
    r->out_cap = n;
    return true;
}

/* Appends one masked client frame (RFC 6455 5.2/5.3, from memory: FIN, opcode, MASK bit,
 * 7/16/64-bit length, 4-byte key, payload XORed with it) to r->out. */
static bool put_frame(struct ws_raw *r, bool fin, unsigned opcode, const char *p, size_t n)
{
    if (!out_reserve(r, r->out_len + n + 14))
        return false;
    unsigned char *h = r->out + r->out_len;
    size_t hl = 2;
    h[0] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
    } else if (n <= 0xffff) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    unsigned char key[4];
    if (RAND_bytes(key, sizeof key) != 1)
        return false;
    memcpy(h + hl, key, 4);
    hl += 4;
    for (size_t i = 0; i < n; i++)
        h[hl + i] = (unsigned char)p[i] ^ key[i & 3];
    r->out_len += hl + n;
    return true;
}

/* Sends what r->out holds through the lower transport. 1: all gone, 0: not yet, -1: ended. */
static int out_flush(struct ws_raw *r, struct net_io_end *end)
{
    for (int i = 0; i < 64 && r->out_off < r->out_len; i++) {
        struct iovec v = {r->out + r->out_off, r->out_len - r->out_off};
        ssize_t n = r->lower.ops->writev(&r->lower, &v, 1, end);
        if (n == NET_IO_END)
            return -1;
        if (n < 0)
            return 0;
        r->out_off += (size_t)n;
    }
    if (r->out_off < r->out_len)
        return 0;
    r->out_len = r->out_off = 0;
    return 1;
}

static ssize_t raw_writev(struct net_transport *t, const struct iovec *iov, int iovcnt,
                          struct net_io_end *end)
{
    struct ws_raw *r = t->impl;
    if (r->out_len == 0) {
        /* Gather the offered bytes' front (at most one frame's worth) and frame it. */
        size_t total = 0;
        for (int i = 0; i < iovcnt; i++)
            total += iov[i].iov_len;
        size_t take = total < RAW_FRAME_MAX ? total : RAW_FRAME_MAX;
        char *flat = malloc(take);
        if (flat == NULL) {
            end->err = ENOMEM;
            end->why = "conform's raw WebSocket path: out of memory";
            return NET_IO_END;
        }
        size_t got = 0;
        for (int i = 0; i < iovcnt && got < take; i++) {
            size_t n = iov[i].iov_len < take - got ? iov[i].iov_len : take - got;
            memcpy(flat + got, iov[i].iov_base, n);
            got += n;
        }
        /* One chunk per message (RFC 7977 5.1): a frame ends where the chunk ends; bytes that
         * stop before its end go in a frame without FIN, the message going on in the next. */
        size_t endat = msrp_chunk_end_scan(&r->scan_out, flat, take);
        size_t n = endat > 0 ? endat : take;
        bool fin = endat > 0;
        /* Set-up (AUTH) goes in binary frames, whole: the case's kind is for its own steps,
         * so that a relay refusing it fails the case, not the AUTH before it. */
        bool steps = r->x->in_steps;
        unsigned first = r->msg_open_out                      ? OP_CONT
                         : steps && r->kind == CASE_WS_RAW_TEXT ? OP_TEXT
                                                                : OP_BINARY;
        bool ok;
        if (steps && r->kind == CASE_WS_RAW_FRAGMENTED && fin && !r->msg_open_out && n >= 2) {
            /* One message in two frames: still one chunk in one message (RFC 7977 3 notes
             * that messages can be split into several frames). */
            ok = put_frame(r, false, first, flat, n / 2) &&
                 put_frame(r, true, OP_CONT, flat + n / 2, n - n / 2);
        } else {
            ok = put_frame(r, fin, first, flat, n);
        }
        free(flat);
        if (!ok) {
            end->err = ENOMEM;
            end->why = "conform's raw WebSocket path: cannot build a frame";
            return NET_IO_END;
        }
        r->msg_open_out = !fin;
        r->covers = n;
    }
    int rc = out_flush(r, end);
    if (rc < 0)
        return NET_IO_END;
    if (rc == 0)
        return NET_IO_WANT_WRITE;
    size_t c = r->covers;
    r->covers = 0;
    return (ssize_t)c;
}

/* ---- frames in ----------------------------------------------------------------------------- */

/* Judges a message that just ended: it must have held exactly one chunk (RFC 7977 5.1). */
static void message_ended(struct ws_raw *r)
{
    r->messages++;
    if (r->msg_opcode_in == OP_TEXT)
        r->text_messages++;
    else
        r->binary_messages++;
    if (r->frames_in_msg > 1)
        r->fragmented_messages++;
    if (r->chunks_in_msg == 0)
        problem(r, "7977-5.1/one-chunk-per-message",
                "WebSocket message %lu from the relay ended inside an MSRP chunk (the chunk goes "
                "on in the next message)",
                r->messages);
    else if (r->chunks_in_msg > 1)
        problem(r, "7977-5.1/one-chunk-per-message",
                "WebSocket message %lu from the relay held %u MSRP chunks", r->messages,
                r->chunks_in_msg);
    else if (r->bytes_after_end > 0)
        problem(r, "7977-5.1/one-chunk-per-message",
                "WebSocket message %lu from the relay held a chunk and %llu bytes of the next",
                r->messages, (unsigned long long)r->bytes_after_end);
    r->chunks_in_msg = 0;
    r->bytes_after_end = 0;
    r->frames_in_msg = 0;
    r->msg_open_in = false;
}

/* Payload bytes of a data frame, handed up: counted into the current message's chunks. */
static void scan_payload(struct ws_raw *r, const char *p, size_t n)
{
    while (n > 0) {
        size_t e = msrp_chunk_end_scan(&r->scan_in, p, n);
        if (e == 0) {
            r->bytes_after_end += n;
            return;
        }
        r->chunks_in_msg++;
        r->bytes_after_end = 0;
        p += e;
        n -= e;
    }
}

/* Reads more of the lower transport into r->in. 1: some, 0: wants read, -1: ended. */
static int fill(struct ws_raw *r, struct net_io_end *end)
{
    if (r->in_len == RAW_IN_CAP) {
        end->err = EPROTO;
        end->why = "conform's raw WebSocket path: a frame header or control frame too large";
        return -1;
    }
    ssize_t n = r->lower.ops->read(&r->lower, (char *)r->in + r->in_len, RAW_IN_CAP - r->in_len,
                                   end);
    if (n == NET_IO_END)
        return -1;
    if (n < 0)
        return 0;
    r->in_len += (size_t)n;
    return 1;
}

static void consume(struct ws_raw *r, size_t n)
{
    memmove(r->in, r->in + n, r->in_len - n);
    r->in_len -= n;
}

/* A control frame whole in r->in (header hl bytes, payload n): answers a ping, ends on a close.
 * Returns false when the stream is over (end filled). */
static bool control(struct ws_raw *r, unsigned op, size_t hl, size_t n, struct net_io_end *end)
{
    unsigned char payload[125];
    memcpy(payload, r->in + hl, n);
    if (r->masked_seen)
        for (size_t i = 0; i < n; i++)
            payload[i] ^= r->mask[i & 3];
    consume(r, hl + n);
    if (op == OP_PING && r->out_len == 0) {
        /* Tried once; a pong that does not leave at once is given up (a case is short). */
        if (put_frame(r, true, OP_PONG, (const char *)payload, n))
            out_flush(r, end);
        r->out_len = r->out_off = 0;
    } else if (op == OP_CLOSE) {
        r->peer_close = n >= 2 ? (unsigned)payload[0] << 8 | payload[1] : 1005;
        cx_wire_note(r->x, "%c: the relay sent a WebSocket close frame (code %u)",
                     'a' + (int)r->e->idx, r->peer_close);
        if (!r->close_sent && r->out_len == 0 &&
            put_frame(r, true, OP_CLOSE, (const char *)payload, n >= 2 ? 2 : 0))
            out_flush(r, end);
        r->close_sent = true;
        end->err = 0;
        snprintf(end->text, sizeof end->text, "WebSocket close from the relay, code %u",
                 r->peer_close);
        end->why = end->text;
        return false;
    }
    return true;
}

static ssize_t raw_read(struct net_transport *t, char *buf, size_t len, struct net_io_end *end)
{
    struct ws_raw *r = t->impl;
    size_t put = 0;
    for (int rounds = 0; rounds < 256 && put < len; rounds++) {
        if (r->left > 0) {
            size_t n = r->in_len < r->left ? r->in_len : (size_t)r->left;
            if (n > len - put)
                n = len - put;
            if (n == 0) {
                int f = fill(r, end);
                if (f < 0)
                    return put > 0 ? (ssize_t)put : NET_IO_END;
                if (f == 0)
                    break;
                continue;
            }
            memcpy(buf + put, r->in, n);
            if (r->masked_seen)
                for (size_t i = 0; i < n; i++)
                    buf[put + i] ^= (char)r->mask[(r->mask_pos + i) & 3];
            r->mask_pos += n;
            scan_payload(r, buf + put, n);
            consume(r, n);
            put += n;
            r->left -= n;
            if (r->left == 0 && r->frame_fin)
                message_ended(r);
            continue;
        }
        /* A frame header: 2 bytes, then the extended length and the mask key. */
        if (r->in_len < 2) {
            int f = fill(r, end);
            if (f < 0)
                return put > 0 ? (ssize_t)put : NET_IO_END;
            if (f == 0)
                break;
            continue;
        }
        unsigned op = r->in[0] & 0x0f;
        bool fin = (r->in[0] & 0x80) != 0;
        bool masked = (r->in[1] & 0x80) != 0;
        uint64_t plen = r->in[1] & 0x7f;
        size_t hl = 2 + (plen == 126 ? 2 : plen == 127 ? 8 : 0) + (masked ? 4 : 0);
        if (r->in_len < hl) {
            int f = fill(r, end);
            if (f < 0)
                return put > 0 ? (ssize_t)put : NET_IO_END;
            if (f == 0)
                break;
            continue;
        }
        if (plen == 126)
            plen = (uint64_t)r->in[2] << 8 | r->in[3];
        else if (plen == 127) {
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | r->in[2 + i];
        }
        r->masked_seen = masked;
        if (masked)
            memcpy(r->mask, r->in + hl - 4, 4);
        if (masked)
            cx_wire_note(r->x, "%c: the relay sent a masked frame (RFC 6455 5.1, from memory: a "
                               "server does not mask)", 'a' + (int)r->e->idx);
        if (op >= 0x8) {
            if (plen > 125 || r->in_len < hl + plen) {
                if (plen > 125) {
                    end->err = EPROTO;
                    end->why = "the relay sent a control frame over 125 bytes";
                    return put > 0 ? (ssize_t)put : NET_IO_END;
                }
                int f = fill(r, end);
                if (f < 0)
                    return put > 0 ? (ssize_t)put : NET_IO_END;
                if (f == 0)
                    break;
                continue;
            }
            if (!control(r, op, hl, (size_t)plen, end)) {
                t->peer_close_code = r->peer_close;
                return put > 0 ? (ssize_t)put : NET_IO_END;
            }
            continue;
        }
        if (op != OP_CONT && op != OP_TEXT && op != OP_BINARY) {
            end->err = EPROTO;
            snprintf(end->text, sizeof end->text, "the relay sent a frame with opcode %u", op);
            end->why = end->text;
            return put > 0 ? (ssize_t)put : NET_IO_END;
        }
        if (op != OP_CONT) {
            if (r->msg_open_in)
                cx_wire_note(r->x, "%c: a new WebSocket message began before the last ended",
                             'a' + (int)r->e->idx);
            r->msg_open_in = true;
            r->msg_opcode_in = op;
        }
        r->frames_in_msg++;
        consume(r, hl);
        r->left = plen;
        r->frame_fin = fin;
        r->mask_pos = 0;
        if (plen == 0 && fin)
            message_ended(r);
    }
    if (put > 0)
        return (ssize_t)put;
    return NET_IO_WANT_READ;
}

static size_t raw_pending(const struct net_transport *t)
{
    const struct ws_raw *r = t->impl;
    size_t lower = r->lower.ops->pending != NULL ? r->lower.ops->pending(&r->lower) : 0;
    /* Every byte held counts: it may be the rest of a frame or whole frames behind it, which
     * no socket event would announce; a partial header only costs one read that wants more. */
    return lower + r->in_len;
}

/* ---- the upgrade --------------------------------------------------------------------------- */

/* The value of header name in the response head (case-insensitive name), or NULL. */
static const char *head_value(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            v += strspn(v, " \t");
            size_t n = strcspn(v, "\r\n");
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            snprintf(out, cap, "%.*s", (int)n, v);
            return out;
        }
    }
    return NULL;
}

/* The 101: a status other than 101 or a wrong accept key ends the connection (RFC 6455 4.1,
 * from memory: the client fails the connection); a 101 without "msrp" is a breach of RFC
 * 7977 4.1 the case judges, so the connection goes on. */
static int judge_head(struct ws_raw *r, struct net_io_end *end)
{
    char v[512], want[32];
    cx_wire_bytes(r->x, r->e->idx, false, r->head, r->head_len);
    if (strncmp(r->head, "HTTP/1.1 101", 12) != 0) {
        snprintf(end->text, sizeof end->text, "the WebSocket upgrade was answered %.*s",
                 (int)strcspn(r->head, "\r\n"), r->head);
        end->err = EPROTO;
        end->why = end->text;
        return NET_IO_END;
    }
    net_ws_accept_key(r->key, want);
    if (head_value(r->head, "Sec-WebSocket-Accept", v, sizeof v) == NULL || strcmp(v, want) != 0) {
        end->err = EPROTO;
        end->why = "the 101 has no Sec-WebSocket-Accept for our key";
        return NET_IO_END;
    }
    bool msrp = false;
    if (head_value(r->head, "Sec-WebSocket-Protocol", v, sizeof v) != NULL) {
        for (char *tok = strtok(v, ", \t"); tok != NULL; tok = strtok(NULL, ", \t"))
            msrp = msrp || strcmp(tok, "msrp") == 0;
    }
    if (!msrp)
        problem(r, "7977-4.1/101-has-msrp",
                "the 101 to our upgrade has no \"msrp\" in Sec-WebSocket-Protocol%s",
                head_value(r->head, "Sec-WebSocket-Protocol", v, sizeof v) == NULL
                    ? " (no such header)"
                    : "");
    /* RFC 7977 7 (SHOULD): the upgrade carries Origin, as a browser's does. */
    if (head_value(r->head, "Access-Control-Allow-Origin", v, sizeof v) == NULL)
        problem(r, "7977-7/cors-allow-origin",
                "the 101 to our upgrade (with Origin: http://conform.invalid) has no "
                "Access-Control-Allow-Origin header");
    return 0;
}

static int raw_handshake(struct net_transport *t, struct net_io_end *end)
{
    struct ws_raw *r = t->impl;
    if (r->hs_state == 0) {
        if (r->lower.ops->handshake != NULL) {
            int rc = r->lower.ops->handshake(&r->lower, end);
            if (rc != 0)
                return rc;
        }
        r->hs_state = 1;
        cx_wire_bytes(r->x, r->e->idx, true, r->req, r->req_len);
    }
    if (r->hs_state == 1) {
        while (r->req_off < r->req_len) {
            struct iovec v = {r->req + r->req_off, r->req_len - r->req_off};
            ssize_t n = r->lower.ops->writev(&r->lower, &v, 1, end);
            if (n < 0)
                return (int)n;
            r->req_off += (size_t)n;
        }
        r->hs_state = 2;
    }
    for (int i = 0; i < 64; i++) {
        char *eoh = r->head_len >= 4 ? strstr(r->head, "\r\n\r\n") : NULL;
        if (eoh != NULL) {
            /* Bytes after the head are frames already. */
            size_t hlen = (size_t)(eoh + 4 - r->head);
            size_t extra = r->head_len - hlen;
            memcpy(r->in, r->head + hlen, extra);
            r->in_len = extra;
            r->head_len = hlen;
            r->head[hlen] = '\0';
            r->hs_state = 3;
            return judge_head(r, end);
        }
        if (r->head_len + 1 >= sizeof r->head) {
            end->err = EPROTO;
            end->why = "the answer to the WebSocket upgrade has a head over 8 KiB";
            return NET_IO_END;
        }
        ssize_t n = r->lower.ops->read(&r->lower, r->head + r->head_len,
                                       sizeof r->head - 1 - r->head_len, end);
        if (n < 0)
            return (int)n;
        r->head_len += (size_t)n;
        r->head[r->head_len] = '\0';
    }
    return NET_IO_WANT_READ;
}

static void raw_shutdown(struct net_transport *t)
{
    struct ws_raw *r = t->impl;
    struct net_io_end end = {0};
    if (r->hs_state == 3 && !r->close_sent && r->out_len == 0) {
        static const char normal[2] = {0x03, (char)0xe8}; /* 1000 */
        if (put_frame(r, true, OP_CLOSE, normal, 2))
            out_flush(r, &end);
        r->close_sent = true;
    }
    if (r->lower.ops->shutdown != NULL)
        r->lower.ops->shutdown(&r->lower);
}

static void raw_release(struct net_transport *t)
{
    struct ws_raw *r = t->impl;
    if (r->lower_attached && r->lower.ops->release != NULL)
        r->lower.ops->release(&r->lower);
    r->lower_attached = false;
}

static const struct net_transport_ops raw_ops = {
    .name = "WebSocket (conform raw)",
    .handshake = raw_handshake,
    .read = raw_read,
    .writev = raw_writev,
    .pending = raw_pending,
    .shutdown = raw_shutdown,
    .release = raw_release,
};

static int raw_attach(struct net_transport *t, const struct net_transport_setup *s, int fd,
                      const char *server_name)
{
    struct ws_raw *r = s->arg;
    if (r->lower_attached)
        return EBUSY; /* one connection per endpoint */
    memset(&r->lower, 0, sizeof r->lower);
    int rc = r->e->below.attach(&r->lower, &r->e->below, fd, server_name);
    if (rc != 0)
        return rc;
    r->lower_attached = true;
    t->ops = &raw_ops;
    t->fd = fd;
    t->impl = r;
    t->flags = r->lower.flags & (NET_TRANSPORT_ENCRYPTED | NET_TRANSPORT_READ_AFTER_WRITE_FAIL);
    return 0;
}

struct net_transport_setup cx_ws_raw_setup(struct cx *x, struct ep *e,
                                           const struct net_transport_setup *below)
{
    (void)below; /* e->below, kept in the endpoint */
    struct ws_raw *r = calloc(1, sizeof(*r));
    unsigned char nonce[16];
    if (r == NULL || (r->in = malloc(RAW_IN_CAP)) == NULL || RAND_bytes(nonce, 16) != 1) {
        if (r != NULL)
            free(r->in);
        free(r);
        return (struct net_transport_setup){0};
    }
    r->x = x;
    r->e = e;
    r->kind = x->k->websocket;
    /* base64 of 16 random bytes (RFC 6455 4.1, from memory) */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)nonce[i] << 16 | (i + 1 < 16 ? (uint32_t)nonce[i + 1] << 8 : 0) |
                     (i + 2 < 16 ? nonce[i + 2] : 0);
        r->key[k++] = b64[v >> 18 & 63];
        r->key[k++] = b64[v >> 12 & 63];
        r->key[k++] = i + 1 < 16 ? b64[v >> 6 & 63] : '=';
        r->key[k++] = i + 2 < 16 ? b64[v & 63] : '=';
    }
    r->key[k] = '\0';
    const struct conform_hop *h = &x->p->hop[e->idx];
    int n = snprintf(r->req, sizeof r->req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nOrigin: http://conform.invalid\r\n"
                     "Sec-WebSocket-Protocol: msrp\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     h->ws_path, h->ws_host, r->key);
    r->req_len = n > 0 && (size_t)n < sizeof r->req ? (size_t)n : 0;
    e->raw = r;
    return (struct net_transport_setup){.attach = raw_attach, .arg = r};
}

void cx_ws_raw_free(struct ep *e)
{
    if (e->raw == NULL)
        return;
    free(e->raw->in);
    free(e->raw->out);
    free(e->raw);
    e->raw = NULL;
}

void cx_ws_raw_judge(struct cx *x)
{
    for (unsigned i = 0; i < 2; i++) {
        struct ws_raw *r = x->ep[i].raw;
        if (r == NULL)
            continue;
        cx_wire_note(x,
                     "%c: the relay sent %lu WebSocket messages (%lu text, %lu binary, %lu in "
                     "more than one frame)",
                     'a' + (int)i, r->messages, r->text_messages, r->binary_messages,
                     r->fragmented_messages);
        for (unsigned j = 0; j < r->nproblems; j++) {
            bool listed = false;
            for (unsigned q = 0; q < x->k->num_requirements; q++)
                listed = listed || strcmp(x->k->requirements[q], r->problems[j].requirement) == 0;
            if (listed)
                cx_fail(x, "%s (RFC %s)", r->problems[j].text, r->problems[j].requirement);
            else
                cx_wire_note(x, "rule broken, not what this case checks: %s (%s)",
                             r->problems[j].text, r->problems[j].requirement);
        }
    }
}
