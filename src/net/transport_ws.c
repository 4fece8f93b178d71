/*
 * transport_ws.c - the WebSocket transport (transport_ws.h): the opening handshake of both
 * roles, frames out (header and one-pass masking copy) and frames in (wire/ws_frame.h's
 * reader, unmasking straight into conn.c's buffer), pings, pongs and the close handshake,
 * over a lower transport kept in its impl.
 *
 * It owns its impl: the lower transport, the frame reader, the handshake buffers, the
 * outgoing frame buffer and the boundary finder's state. It may not touch the socket (the
 * lower transport reads and writes it; conn.c owns it), nor conn.c's buffers, loop or
 * handlers, nor anything MSRP (the boundary finder comes from above, through set-up).
 *
 * Incoming frames: read in place. The lower transport reads straight into the buffer conn.c
 * hands to read(), at most 64 KiB at a time, and one forward pass over it unmasks each payload
 * byte and moves it down over the frame headers before it (ws_frame_mask() allows dst before
 * src): each byte is touched once after the kernel (or OpenSSL) put it there, and a client,
 * whose frames come unmasked, moves only the bytes behind a second header. Measured (median
 * of 7 interleaved e2e_ws_64k runs each, this 2-core machine): in place 2.99 GB/s with reads
 * as large as conn.c's room (up to 256 KiB), 3.15 GB/s with reads capped at 64 KiB (the pass
 * finds the bytes still in cache); a 64 KiB buffer of our own per connection, read into and
 * then unmasked while copied into conn.c's buffer, 3.14 GB/s. So in place with the cap: as
 * fast, no second copy on a client, and 4 KiB per connection (the handshake's) instead of
 * 68 KiB, which counts at 10,000 sessions. A header cut by a read waits inside the frame
 * reader (at most 14 bytes). Before, wslay's wslay_frame_recv() read frames through a 4 KiB
 * buffer of its own and unmasked byte by byte: 84% of the instructions of an e2e_ws_64k run
 * (callgrind) and ~0.83 GB/s.
 *
 * Outgoing frames: our own header and a masking copy into one buffer, one write per frame.
 * Each message is one frame (RFC 7977 5.1 asks for one WebSocket message per chunk, which
 * RFC 6455 5.4 would let be fragmented, from memory; but Kamailio 5.6 drops a connection on a
 * fragmented one: tools/relay/README.md), so a frame is built only once the message's
 * end has been offered: until then writev takes nothing and says NET_IO_WANT_MORE
 * (transport.h), and conn.c waits for the next send. Only a message longer than frame_max is
 * fragmented.
 */
#include "net/transport_ws.h"

#include "net/loop.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "wire/ws_frame.h"

enum ws_phase { WS_LOWER_HANDSHAKE, WS_SEND_UPGRADE, WS_RECV_UPGRADE, WS_OPEN };

#define WS_HS_MAX 4096
/* The most one read takes from the lower transport (see the head comment: the unmasking pass
 * then finds the bytes still in cache). */
#define WS_READ_MAX (64 * 1024)
/* Reads in a row that bring no payload (headers, control frames) before read() gives up
 * until the next readable event: a stream of pings cannot hold the loop. */
#define WS_READS_MAX 16

struct ws_conn {
    struct net_transport lower;
    const struct net_ws *ws;
    enum ws_phase phase;
    char key[32]; /* client: the Sec-WebSocket-Key sent */
    char host[256];

    /* Handshake text out, and the peer's handshake in (at most WS_HS_MAX bytes); after it,
     * in[in_off..in_len) holds frame bytes that came with it, read before the socket's. */
    char out[1024];
    size_t out_len, out_off;
    char in[WS_HS_MAX];
    size_t in_len, in_off;

    /* The frame being sent: obuf[ooff..olen) still to go; it carries the first
     * frame_taken offered bytes, reported taken once it has left. */
    unsigned char *obuf;
    size_t ocap, olen, ooff, frame_taken;
    /* Offered bytes past those taken that the boundary finder has seen without finding the
     * message's end: the next call goes on from there (the bytes are offered again, first). */
    size_t scanned;
    bool in_message; /* a fragment without FIN went out: the next one continues it */
    /* Mask keys drawn 64 at a time: one RAND_bytes() per frame was half of the sending
     * side's instructions (callgrind, 64 KiB frames); keys[keys_used..] are still unused. */
    unsigned char keys[256];
    size_t keys_used;
    bool close_sent;
    unsigned char pong[WS_FRAME_CONTROL_MAX];
    size_t pong_len;
    bool pong_due;

    /* Incoming: the frame reader, the control frame being read, and an end (close frame,
     * broken rule) met behind payload handed up first: read() returns it next. */
    struct ws_frame_reader rd;
    unsigned char ctrl[WS_FRAME_CONTROL_MAX];
    size_t ctrl_len;
    bool end_due;
    struct net_io_end end_saved;
    unsigned peer_close_code; /* of the close frame that made end_due, for conn.c */

    unsigned char scan[]; /* the boundary finder's state */
};

/* RFC 6455 4.2.2 (from memory): the accept value is base64(SHA-1(key + this GUID)). */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void net_ws_accept_key(const char *key, char out[32])
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    char joined[128];
    int n = snprintf(joined, sizeof(joined), "%s%s", key, ws_guid);
    if (n < 0 || (size_t)n >= sizeof(joined))
        n = (int)sizeof(joined) - 1;
    SHA1((const unsigned char *)joined, (size_t)n, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}

static void end_with(struct net_io_end *end, int err, const char *fmt, const char *a, const char *b)
{
    end->err = err;
    snprintf(end->text, sizeof(end->text), fmt, a, b);
    end->why = end->text;
}

/* ---- sending: header and one-pass masked copy into obuf ---- */

static int obuf_reserve(struct ws_conn *w, size_t need)
{
    if (need <= w->ocap)
        return 0;
    size_t cap = w->ocap ? w->ocap : 4096;
    while (cap < need)
        cap *= 2;
    unsigned char *p = realloc(w->obuf, cap);
    if (p == NULL)
        return ENOMEM;
    w->obuf = p;
    w->ocap = cap;
    return 0;
}

/* A frame header for len payload bytes at obuf; the mask key (client) goes to key, which is
 * NULLed on a server (RFC 6455 5.3, from memory: client frames are masked, server ones not). */
static size_t put_header(struct ws_conn *w, unsigned opcode, bool fin, uint64_t len,
                         unsigned char key[4], const unsigned char **mask)
{
    *mask = NULL;
    if (!w->ws->_opts.server) {
        /* RFC 6455 5.3 (from memory): each frame's key is a fresh unpredictable one. */
        if (w->keys_used == 0 || w->keys_used >= sizeof(w->keys)) {
            if (RAND_bytes(w->keys, (int)sizeof(w->keys)) != 1)
                memset(w->keys, 0x5a, sizeof(w->keys));
            w->keys_used = 0;
        }
        memcpy(key, w->keys + w->keys_used, 4);
        w->keys_used += 4;
        *mask = key;
    }
    return ws_frame_head_write(w->obuf, opcode, fin, len, *mask);
}

/* A control frame (pong, close) into the idle obuf; it carries no offered bytes. */
static int build_control(struct ws_conn *w, unsigned opcode, const unsigned char *p, size_t n)
{
    if (obuf_reserve(w, WS_FRAME_HEAD_MAX + n) != 0)
        return ENOMEM;
    unsigned char key[4];
    const unsigned char *mask;
    size_t h = put_header(w, opcode, true, n, key, &mask);
    if (mask != NULL)
        ws_frame_mask(w->obuf + h, p, n, mask, 0);
    else
        memcpy(w->obuf + h, p, n);
    w->olen = h + n;
    w->ooff = 0;
    w->frame_taken = 0;
    return 0;
}

static size_t frame_max(const struct ws_conn *w)
{
    size_t m = w->ws->_opts.frame_max;
    return m ? m : NET_WS_FRAME_MAX_DEFAULT;
}

/*
 * How many offered bytes from skip on (of total) the next data frame carries, and whether it
 * ends its message (*fin): the rest of the message when the boundary finder finds its end
 * within frame_max bytes, else frame_max bytes once that many are offered (a fragment), else 0:
 * the message's end has not been offered yet. The finder sees each offered byte once (across
 * calls: w->scanned). Without a finder each frame is a message of what is offered.
 */
static size_t next_frame_len(struct ws_conn *w, const struct iovec *iov, int iovcnt, size_t skip,
                             size_t total, bool *fin)
{
    size_t max = frame_max(w), avail = total - skip;
    size_t limit = avail < max ? avail : max;
    *fin = true;
    net_ws_find_end_fn find = w->ws->_opts.boundary.find_end;
    if (find == NULL)
        return limit;
    size_t from = skip + w->scanned, to = skip + limit, base = 0;
    for (int i = 0; i < iovcnt && from < to; base += iov[i++].iov_len) {
        size_t seg_end = base + iov[i].iov_len;
        if (from >= seg_end)
            continue;
        size_t piece = (seg_end < to ? seg_end : to) - from;
        size_t k = find(w->scan, (const char *)iov[i].iov_base + (from - base), piece);
        if (k > 0) {
            w->scanned = 0;
            return from + k - skip;
        }
        from += piece;
    }
    w->scanned = limit;
    if (w->ws->_opts.boundary.lost != NULL && w->ws->_opts.boundary.lost(w->scan)) {
        /* No end will come: what is offered is the message, and the finder starts afresh
         * on what follows, so that chunks sent after the garbage are framed one by one. */
        w->scanned = 0;
        memset(w->scan, 0, w->ws->_opts.boundary.state_size);
        return limit;
    }
    if (limit < max)
        return 0;
    w->scanned = 0;
    *fin = false;
    return max;
}

/* The data frame over n offered bytes from skip on into the idle obuf, masked in the copy. */
static int build_data(struct ws_conn *w, const struct iovec *iov, int iovcnt, size_t skip, size_t n,
                      bool fin)
{
    if (obuf_reserve(w, WS_FRAME_HEAD_MAX + n) != 0)
        return ENOMEM;
    unsigned char key[4];
    const unsigned char *mask;
    size_t h = put_header(w, w->in_message ? WS_OP_CONTINUATION : WS_OP_BINARY, fin, n, key, &mask);
    size_t done = 0, base = 0;
    for (int i = 0; i < iovcnt && done < n; base += iov[i++].iov_len) {
        size_t at = skip + done;
        if (at >= base + iov[i].iov_len)
            continue;
        size_t off = at - base, seg = iov[i].iov_len - off;
        seg = seg < n - done ? seg : n - done;
        const unsigned char *src = (const unsigned char *)iov[i].iov_base + off;
        if (mask != NULL)
            ws_frame_mask(w->obuf + h + done, src, seg, mask, done);
        else
            memcpy(w->obuf + h + done, src, seg);
        done += seg;
    }
    w->in_message = !fin;
    w->olen = h + n;
    w->ooff = 0;
    w->frame_taken = n;
    return 0;
}

/* Sends what is left of obuf: 0 when it has all left, else the lower's code. */
static int flush_frame(struct ws_conn *w, struct net_io_end *end)
{
    while (w->ooff < w->olen) {
        struct iovec v = {.iov_base = w->obuf + w->ooff, .iov_len = w->olen - w->ooff};
        ssize_t r = w->lower.ops->writev(&w->lower, &v, 1, end);
        if (r < 0)
            return (int)r;
        w->ooff += (size_t)r;
    }
    w->olen = w->ooff = 0;
    return 0;
}

static ssize_t ws_writev(struct net_transport *t, const struct iovec *iov, int iovcnt,
                         struct net_io_end *end)
{
    struct ws_conn *w = t->impl;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    size_t reported = 0;
    for (;;) {
        if (w->olen == 0) {
            int e = 0;
            if (w->pong_due) {
                w->pong_due = false;
                e = build_control(w, WS_OP_PONG, w->pong, w->pong_len);
            } else if (reported < total) {
                bool fin;
                size_t n = next_frame_len(w, iov, iovcnt, reported, total, &fin);
                if (n == 0) /* the message's end is not offered yet */
                    return reported > 0 ? (ssize_t)reported : NET_IO_WANT_MORE;
                e = build_data(w, iov, iovcnt, reported, n, fin);
            } else {
                break;
            }
            if (e != 0) {
                end->err = e;
                end->why = "WebSocket frame buffer allocation failed";
                return NET_IO_END;
            }
        }
        size_t carried = w->frame_taken;
        int r = flush_frame(w, end);
        if (r == NET_IO_END)
            return r;
        if (r != 0) {
            /* The frame's payload is in obuf: all of it but its last byte is reported taken
             * now, so conn.c need not copy it into its queue; that byte keeps conn.c asking
             * for writability until the frame has left (transport.h). */
            if (carried > 1) {
                reported += carried - 1;
                w->frame_taken = 1;
            }
            return reported > 0 ? (ssize_t)reported : r;
        }
        reported += carried;
        w->frame_taken = 0;
    }
    return (ssize_t)reported;
}

/* One try at a control frame when no data frame is under way (read, shutdown). */
static void try_control(struct ws_conn *w, unsigned opcode, const unsigned char *p, size_t n)
{
    if (w->olen != 0)
        return;
    struct net_io_end ignored = {0};
    if (build_control(w, opcode, p, n) == 0)
        (void)flush_frame(w, &ignored);
}

/* ---- reading frames ---- */

/* The peer's close frame is whole: answer it (RFC 6455 5.5.1, from memory) and end due. */
static void peer_closed(struct ws_conn *w)
{
    unsigned code = w->ctrl_len >= 2 ? (unsigned)w->ctrl[0] << 8 | w->ctrl[1] : 1005;
    w->peer_close_code = code;
    if (!w->close_sent) {
        w->close_sent = true;
        try_control(w, WS_OP_CLOSE, w->ctrl, w->ctrl_len >= 2 ? 2 : 0);
    }
    size_t rl = w->ctrl_len > 2 ? w->ctrl_len - 2 : 0;
    struct net_io_end *end = &w->end_saved;
    end->err = 0;
    snprintf(end->text, sizeof(end->text), "WebSocket closed by peer: close code %u%s%.*s", code,
             rl ? ", " : "", (int)rl, (const char *)w->ctrl + 2);
    end->why = end->text;
    w->end_due = true;
}

/* A control frame is whole: a close ends, a ping is answered (RFC 6455 5.5.2-3, from memory:
 * a pong with the same payload), a pong is dropped. */
static void control_done(struct ws_conn *w, unsigned opcode)
{
    if (opcode == WS_OP_CLOSE) {
        peer_closed(w);
    } else if (opcode == WS_OP_PING) {
        memcpy(w->pong, w->ctrl, w->ctrl_len);
        w->pong_len = w->ctrl_len;
        if (w->olen == 0)
            try_control(w, WS_OP_PONG, w->pong, w->pong_len);
        else
            w->pong_due = true;
    }
}

/*
 * Reads the frames in src[0..n): data payload goes unmasked to dst (at most cap bytes; dst
 * may be src itself, or before it: ws_frame_mask() and memmove go forward), control frames
 * are handled. Stops at the end of src, when dst is full, or at an end (w->end_due: the bytes
 * behind it are dropped). Returns the bytes of src read; *made: the payload bytes put in dst.
 */
static size_t read_frames(struct ws_conn *w, unsigned char *dst, size_t cap,
                          const unsigned char *src, size_t n, size_t *made)
{
    size_t used = 0, out = 0;
    const struct ws_frame_head *h = &w->rd.head;
    while (used < n && !w->end_due) {
        size_t avail = n - used;
        bool data_next = ws_frame_in_payload(&w->rd) && !ws_frame_is_control(h->opcode);
        if (data_next && avail > cap - out)
            avail = cap - out;
        if (avail == 0)
            break;
        struct ws_frame_out ev;
        used += ws_frame_read(&w->rd, src + used, avail, &ev);
        if (ev.event == WS_FRAME_ERROR) {
            /* Failing the connection (RFC 6455 7.1.7, from memory) tells the peer why when
             * it can: a close frame with 1002, protocol error (7.4.1), tried once. */
            if (!w->close_sent) {
                static const unsigned char protocol_error[2] = {0x03, 0xea};
                w->close_sent = true;
                try_control(w, WS_OP_CLOSE, protocol_error, sizeof(protocol_error));
            }
            w->end_saved.err = EPROTO;
            w->end_saved.why = ev.why;
            w->end_due = true;
        } else if (ev.event == WS_FRAME_HEAD && ws_frame_is_control(h->opcode)) {
            w->ctrl_len = 0;
            if (ev.done)
                control_done(w, h->opcode);
        } else if (ev.event == WS_FRAME_PAYLOAD && ws_frame_is_control(h->opcode)) {
            /* The reader caps a control frame at 125 bytes. */
            if (h->masked)
                ws_frame_mask(w->ctrl + w->ctrl_len, ev.data, ev.len, h->key, ev.offset);
            else
                memcpy(w->ctrl + w->ctrl_len, ev.data, ev.len);
            w->ctrl_len += ev.len;
            if (ev.done)
                control_done(w, h->opcode);
        } else if (ev.event == WS_FRAME_PAYLOAD) {
            /* Text and binary alike: RFC 7977 4.2 reads text frames as binary. */
            if (h->masked)
                ws_frame_mask(dst + out, ev.data, ev.len, h->key, ev.offset);
            else if (dst + out != ev.data)
                memmove(dst + out, ev.data, ev.len);
            out += ev.len;
        }
    }
    *made = out;
    return used;
}

/* The end met behind earlier payload, now (and the peer's close code for conn.c). */
static ssize_t end_now(struct net_transport *t, struct ws_conn *w, struct net_io_end *end)
{
    t->peer_close_code = w->peer_close_code;
    *end = w->end_saved;
    if (w->end_saved.why == w->end_saved.text)
        end->why = end->text;
    return NET_IO_END;
}

static ssize_t ws_read(struct net_transport *t, char *buf, size_t len, struct net_io_end *end)
{
    struct ws_conn *w = t->impl;
    unsigned char *dst = (unsigned char *)buf;
    size_t made = 0;
    if (w->end_due)
        return end_now(t, w, end);
    if (w->in_off < w->in_len) { /* frames that came with the handshake */
        w->in_off += read_frames(w, dst, len, (const unsigned char *)w->in + w->in_off,
                                 w->in_len - w->in_off, &made);
        if (made > 0)
            return (ssize_t)made;
        if (w->end_due)
            return end_now(t, w, end);
    }
    for (int reads = 0; reads < WS_READS_MAX; reads++) {
        ssize_t r = w->lower.ops->read(&w->lower, buf, len < WS_READ_MAX ? len : WS_READ_MAX, end);
        if (r < 0)
            return r;
        (void)read_frames(w, dst, len, dst, (size_t)r, &made);
        if (made > 0)
            return (ssize_t)made;
        if (w->end_due)
            return end_now(t, w, end);
    }
    return NET_IO_WANT_READ; /* only headers and control frames came: wait for the socket */
}

static size_t ws_pending(const struct net_transport *t)
{
    const struct ws_conn *w = t->impl;
    if (w->phase != WS_OPEN)
        return 0;
    /* An end due wakes no one either: count it as a byte. */
    size_t n = (w->in_len - w->in_off) + (w->end_due ? 1 : 0);
    if (w->lower.ops->pending != NULL)
        n += w->lower.ops->pending(&w->lower);
    return n;
}

/* ---- the opening handshake (RFC 6455 4, from memory; RFC 7977 4.1) ---- */

/* Does the comma-separated list value hold token (case-insensitive)? */
static bool list_has(const char *value, size_t vlen, const char *token)
{
    size_t tl = strlen(token), i = 0;
    while (i < vlen) {
        while (i < vlen && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t s = i;
        while (i < vlen && value[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(value + s, token, tl) == 0)
            return true;
    }
    return false;
}

struct hs_fields {
    const char *first;
    size_t first_len;
    const char *upgrade, *connection, *key, *version, *protocol, *accept;
    size_t upgrade_len, connection_len, key_len, version_len, protocol_len, accept_len;
};

/* Splits the header block text[0..len) (ending at its blank line) into the fields we use. */
static void parse_fields(const char *text, size_t len, struct hs_fields *f)
{
    memset(f, 0, sizeof(*f));
    const char *p = text, *limit = text + len;
    const char *eol = memchr(p, '\r', (size_t)(limit - p));
    f->first = p;
    f->first_len = eol ? (size_t)(eol - p) : 0;
    p = eol ? eol + 2 : limit;
    static const char *const names[] = {"Upgrade",
                                        "Connection",
                                        "Sec-WebSocket-Key",
                                        "Sec-WebSocket-Version",
                                        "Sec-WebSocket-Protocol",
                                        "Sec-WebSocket-Accept"};
    const char **vals[] = {&f->upgrade, &f->connection, &f->key,
                           &f->version, &f->protocol,   &f->accept};
    size_t *lens[] = {&f->upgrade_len, &f->connection_len, &f->key_len,
                      &f->version_len, &f->protocol_len,   &f->accept_len};
    while (p < limit && (eol = memchr(p, '\r', (size_t)(limit - p))) != NULL && eol > p) {
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL) {
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if ((size_t)(colon - p) == strlen(names[i]) &&
                    strncasecmp(p, names[i], strlen(names[i])) == 0) {
                    *vals[i] = v;
                    *lens[i] = (size_t)(ve - v);
                }
        }
        p = eol + 2;
    }
}

/* The client's check of the server's answer; NULL when it is a good 101. */
static const char *response_refused(struct ws_conn *w, const struct hs_fields *f)
{
    if (f->first_len < 12 || strncmp(f->first, "HTTP/1.1 101", 12) != 0)
        return "no 101 status";
    if (f->upgrade == NULL || !list_has(f->upgrade, f->upgrade_len, "websocket"))
        return "no Upgrade: websocket";
    if (f->connection == NULL || !list_has(f->connection, f->connection_len, "upgrade"))
        return "no Connection: Upgrade";
    char want[32];
    net_ws_accept_key(w->key, want);
    if (f->accept == NULL || f->accept_len != strlen(want) ||
        memcmp(f->accept, want, f->accept_len) != 0)
        return "wrong Sec-WebSocket-Accept";
    /* RFC 7977 4.1: the 101 MUST contain "msrp" in Sec-WebSocket-Protocol. */
    if (f->protocol == NULL || f->protocol_len != 4 || strncasecmp(f->protocol, "msrp", 4) != 0)
        return "no Sec-WebSocket-Protocol: msrp";
    return NULL;
}

/* The server's check of the client's request; NULL when it is a good upgrade. */
static const char *request_refused(const struct hs_fields *f)
{
    if (f->first_len < 4 || strncmp(f->first, "GET ", 4) != 0)
        return "not a GET";
    if (f->upgrade == NULL || !list_has(f->upgrade, f->upgrade_len, "websocket"))
        return "no Upgrade: websocket";
    if (f->connection == NULL || !list_has(f->connection, f->connection_len, "upgrade"))
        return "no Connection: Upgrade";
    if (f->key == NULL || f->key_len != 24) /* base64 of 16 bytes */
        return "no valid Sec-WebSocket-Key";
    if (f->version == NULL || f->version_len != 2 || strncmp(f->version, "13", 2) != 0)
        return "Sec-WebSocket-Version is not 13";
    /* RFC 7977 4.1: the client MUST include "msrp" in Sec-WebSocket-Protocol. */
    if (f->protocol == NULL || !list_has(f->protocol, f->protocol_len, "msrp"))
        return "no msrp in Sec-WebSocket-Protocol";
    return NULL;
}

static void make_request(struct ws_conn *w)
{
    unsigned char nonce[16];
    if (RAND_bytes(nonce, sizeof(nonce)) != 1)
        memset(nonce, 0x42, sizeof(nonce));
    EVP_EncodeBlock((unsigned char *)w->key, nonce, sizeof(nonce));
    const struct net_ws *ws = w->ws;
    int n = snprintf(w->out, sizeof(w->out),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: msrp\r\n\r\n",
                     ws->_path[0] ? ws->_path : "/", w->host, w->key);
    w->out_len = n > 0 && (size_t)n < sizeof(w->out) ? (size_t)n : sizeof(w->out) - 1;
    w->out_off = 0;
}

static void make_response(struct ws_conn *w, const struct hs_fields *f)
{
    char key[32] = {0}, accept[32];
    memcpy(key, f->key, f->key_len < 31 ? f->key_len : 31);
    net_ws_accept_key(key, accept);
    int n = snprintf(w->out, sizeof(w->out),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Protocol: msrp\r\n\r\n",
                     accept);
    w->out_len = (size_t)n;
    w->out_off = 0;
}

/* Reads the peer's handshake up to its blank line and judges it: 0, a want, or END. */
static int recv_upgrade(struct ws_conn *w, struct net_io_end *end)
{
    for (;;) {
        char *blank = memmem(w->in, w->in_len, "\r\n\r\n", 4);
        if (blank != NULL) {
            size_t head = (size_t)(blank - w->in) + 4;
            struct hs_fields f;
            parse_fields(w->in, head, &f);
            w->in_off = head; /* bytes past it are frames, for ws_read */
            if (!w->ws->_opts.server) {
                const char *bad = response_refused(w, &f);
                if (bad == NULL)
                    return 0;
                char status[96];
                snprintf(status, sizeof(status), "%.*s", (int)f.first_len, f.first);
                end_with(end, EPROTO, "WebSocket upgrade refused by %.120s: %s", w->host, bad);
                size_t used = strlen(end->text);
                snprintf(end->text + used, sizeof(end->text) - used, " (%s)", status);
                return NET_IO_END;
            }
            const char *bad = request_refused(&f);
            if (bad != NULL) {
                static const char refusal[] = "HTTP/1.1 400 Bad Request\r\n"
                                              "Sec-WebSocket-Version: 13\r\n"
                                              "Content-Length: 0\r\nConnection: close\r\n\r\n";
                struct iovec v = {.iov_base = (void *)refusal, .iov_len = sizeof(refusal) - 1};
                struct net_io_end ignored = {0};
                (void)w->lower.ops->writev(&w->lower, &v, 1, &ignored);
                end_with(end, EPROTO, "WebSocket upgrade request refused: %s%s", bad, "");
                return NET_IO_END;
            }
            make_response(w, &f);
            return 0;
        }
        if (w->in_len == WS_HS_MAX) {
            end_with(end, EPROTO, "WebSocket handshake from %.120s longer than %s bytes",
                     w->ws->_opts.server ? "client" : w->host, "4096");
            return NET_IO_END;
        }
        ssize_t r =
            w->lower.ops->read(&w->lower, w->in + w->in_len, WS_HS_MAX - w->in_len, end);
        if (r < 0) {
            if (r == NET_IO_END && end->err == 0) {
                end->err = EPROTO;
                end_with(end, EPROTO, "WebSocket handshake cut short by %.120s%s",
                         w->ws->_opts.server ? "the client" : w->host, "");
            }
            return (int)r;
        }
        w->in_len += (size_t)r;
    }
}

static int send_upgrade(struct ws_conn *w, struct net_io_end *end)
{
    while (w->out_off < w->out_len) {
        struct iovec v = {.iov_base = w->out + w->out_off, .iov_len = w->out_len - w->out_off};
        ssize_t r = w->lower.ops->writev(&w->lower, &v, 1, end);
        if (r < 0)
            return (int)r;
        w->out_off += (size_t)r;
    }
    return 0;
}

static int ws_handshake(struct net_transport *t, struct net_io_end *end)
{
    struct ws_conn *w = t->impl;
    int r;
    switch (w->phase) {
    case WS_LOWER_HANDSHAKE:
        if (w->lower.ops->handshake != NULL && (r = w->lower.ops->handshake(&w->lower, end)) != 0)
            return r;
        t->lower_ready_ns = net_now_ns();
        if (w->ws->_opts.server) {
            w->phase = WS_RECV_UPGRADE;
            return ws_handshake(t, end);
        }
        make_request(w);
        w->phase = WS_SEND_UPGRADE;
        /* fall through */
    case WS_SEND_UPGRADE:
        if ((r = send_upgrade(w, end)) != 0)
            return r;
        if (w->ws->_opts.server) {
            w->phase = WS_OPEN;
            return 0;
        }
        w->phase = WS_RECV_UPGRADE;
        /* fall through */
    case WS_RECV_UPGRADE:
        if ((r = recv_upgrade(w, end)) != 0)
            return r;
        if (w->ws->_opts.server) {
            w->phase = WS_SEND_UPGRADE;
            return ws_handshake(t, end);
        }
        w->phase = WS_OPEN;
        return 0;
    case WS_OPEN:
        return 0;
    }
    return 0;
}

/* ---- life ---- */

static void ws_shutdown(struct net_transport *t)
{
    struct ws_conn *w = t->impl;
    if (w->phase == WS_OPEN && !w->close_sent) {
        static const unsigned char normal[2] = {0x03, 0xe8}; /* 1000: normal closure */
        w->close_sent = true;
        try_control(w, WS_OP_CLOSE, normal, sizeof(normal));
    }
    if (w->lower.ops->shutdown != NULL)
        w->lower.ops->shutdown(&w->lower);
}

static void ws_release(struct net_transport *t)
{
    struct ws_conn *w = t->impl;
    if (w == NULL)
        return;
    if (w->lower.ops != NULL && w->lower.ops->release != NULL)
        w->lower.ops->release(&w->lower);
    free(w->obuf);
    free(w);
    t->impl = NULL;
}

static const struct net_transport_ops ws_ops = {
    .name = "WebSocket",
    .handshake = ws_handshake,
    .read = ws_read,
    .writev = ws_writev,
    .pending = ws_pending,
    .shutdown = ws_shutdown,
    .release = ws_release,
};

static int ws_attach(struct net_transport *t, const struct net_transport_setup *s, int fd,
                     const char *server_name)
{
    const struct net_ws *ws = s->arg;
    struct ws_conn *w = calloc(1, sizeof(*w) + ws->_opts.boundary.state_size);
    if (w == NULL)
        return ENOMEM;
    w->ws = ws;
    int e = ws->_below.attach(&w->lower, &ws->_below, fd, server_name);
    if (e != 0) {
        free(w);
        return e;
    }
    /* A server reads a client's frames, which must be masked. */
    ws_frame_reader_init(&w->rd, ws->_opts.server);
    const char *host = ws->_host[0] ? ws->_host : server_name ? server_name : "localhost";
    snprintf(w->host, sizeof(w->host), "%s", host);
    t->ops = &ws_ops;
    t->fd = fd;
    /* Its writev copies every iovec into one frame buffer, so many cost as much as one. */
    t->flags = NET_TRANSPORT_GATHERS | (w->lower.flags & NET_TRANSPORT_ENCRYPTED);
    t->impl = w;
    return 0;
}

struct net_transport_setup net_transport_ws(struct net_ws *ws,
                                            const struct net_transport_setup *below,
                                            const struct net_ws_opts *o)
{
    memset(ws, 0, sizeof(*ws));
    ws->_below = *below;
    ws->_opts = *o;
    snprintf(ws->_path, sizeof(ws->_path), "%s", o->path ? o->path : "");
    snprintf(ws->_host, sizeof(ws->_host), "%s", o->host ? o->host : "");
    ws->_opts.path = ws->_path;
    ws->_opts.host = ws->_host;
    return (struct net_transport_setup){.attach = ws_attach, .arg = ws};
}
