/*
 * transport_ws.c - the WebSocket transport (transport_ws.h): the opening handshake of both
 * roles, frames out (our own header and one-pass masking copy) and frames in (wslay's frame
 * parser), pings, pongs and the close handshake, over a lower transport kept in its impl.
 *
 * It owns its impl: the lower transport, wslay's frame context, the handshake buffers, the
 * outgoing frame buffer and the boundary finder's state. It may not touch the socket (the
 * lower transport reads and writes it; conn.c owns it), nor conn.c's buffers, loop or
 * handlers, nor anything MSRP (the boundary finder comes from above, through set-up).
 *
 * Why wslay only for incoming frames: wslay_frame_send() masks byte by byte into a 4 KiB
 * stack buffer and hands each 4 KiB to its send callback, so a client frame would cost one
 * write per 4 KiB or, to avoid that, a second copy into a buffer of ours. Writing the header
 * ourselves (a few bytes, RFC 6455 5.2 from memory of its layout) lets the payload be masked
 * as it is copied into the outgoing buffer: one pass, 16 bytes at a time, one write per
 * frame. wslay_frame_recv() parses and unmasks incoming frames and checks their header rules.
 *
 * Measured (64 KiB frames, from memory, this machine): our masking copy runs at memcpy's speed
 * (~40 GB/s), wslay_frame_send's masked path at ~2-3 GB/s; wslay_frame_recv passes unmasked
 * frames (what a client receives) at ~11 GB/s but unmasks at ~1.5-1.9 GB/s, byte by byte, and
 * on a server that is the main cost left: an MSRP transfer over loopback WebSocket runs at
 * about 40-45% of plain TCP's rate, with wslay_frame_recv the largest user-space item in the
 * profile. A parser of our own that unmasks in 16-byte steps (as copy_masked does) straight
 * into conn.c's buffer is the next step if the 80% is to be met.
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
#include <wslay/wslay.h>

enum ws_phase { WS_LOWER_HANDSHAKE, WS_SEND_UPGRADE, WS_RECV_UPGRADE, WS_OPEN };

#define WS_HS_MAX 4096
/*
 * Received bytes wait here for wslay, which asks for at most its own 4 KiB buffer's room at a
 * time: reading the socket in such small pieces cost a read() per 4 KiB (measured: a third of
 * plain TCP's rate). One lower read fills this instead, and wslay's reads are copies from it.
 */
#define WS_IN_SIZE (64 * 1024)
#define WS_FRAME_MAX_DEFAULT (1u << 20)
#define WS_HEADER_MAX 14 /* 2 + 8 (64-bit length) + 4 (mask key) */

enum {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
};

struct ws_conn {
    struct net_transport lower;
    const struct net_ws *ws;
    wslay_frame_context_ptr frames;
    enum ws_phase phase;
    char key[32]; /* client: the Sec-WebSocket-Key sent */
    char host[256];

    /* Handshake text out, and the peer's handshake in (at most WS_HS_MAX bytes); after it,
     * in[in_off..in_len) holds received bytes not yet handed to wslay. */
    char out[1024];
    size_t out_len, out_off;
    char in[WS_IN_SIZE];
    size_t in_len, in_off;

    /* What the lower read said when wslay's receive callback got no bytes. */
    int lower_code;
    struct net_io_end lower_end;

    /* The frame being sent: obuf[ooff..olen) still to go; it carries the first
     * frame_taken offered bytes, reported taken once it has left. */
    unsigned char *obuf;
    size_t ocap, olen, ooff, frame_taken;
    bool in_message; /* a data frame without FIN went out: the next one continues it */
    bool close_sent;
    unsigned char pong[125];
    size_t pong_len;
    bool pong_due;

    /* Incoming: the rest of a data frame's piece (in wslay's buffer), the frame so far. */
    const unsigned char *in_data;
    size_t in_data_len;
    /* Bytes handed to wslay and bytes of frames it has given back (headers and payload):
     * the difference waits in wslay's buffer, where no socket event announces it. */
    uint64_t fed, parsed;
    uint64_t frame_got;
    unsigned char ctrl[125];
    size_t ctrl_len;

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

/* ---- receiving: wslay reads through the lower transport ---- */

static ssize_t ws_recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    struct ws_conn *w = user;
    if (w->in_off == w->in_len) {
        ssize_t r = w->lower.ops->read(&w->lower, w->in, sizeof(w->in), &w->lower_end);
        if (r <= 0) {
            w->lower_code = (int)r;
            return -1; /* wslay turns this into WSLAY_ERR_WANT_READ */
        }
        w->in_off = 0;
        w->in_len = (size_t)r;
    }
    size_t n = w->in_len - w->in_off;
    n = n < len ? n : len;
    memcpy(buf, w->in + w->in_off, n);
    w->in_off += n;
    w->fed += n;
    return (ssize_t)n;
}

static ssize_t ws_send_cb(const uint8_t *data, size_t len, int flags, void *user)
{
    (void)data, (void)len, (void)flags, (void)user;
    return -1; /* frames go out through ws_writev, never through wslay */
}

static int ws_genmask_cb(uint8_t *buf, size_t len, void *user)
{
    (void)user;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
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

/* Writes a frame header for len payload bytes; the mask key (client) goes to *key. */
static size_t put_header(struct ws_conn *w, unsigned char *h, unsigned opcode, bool fin,
                         uint64_t len, unsigned char key[4])
{
    bool mask = !w->ws->_opts.server; /* RFC 6455 5.3 (from memory): client frames masked */
    size_t n = 0;
    h[n++] = (unsigned char)((fin ? 0x80u : 0) | opcode);
    unsigned char m = mask ? 0x80u : 0;
    if (len < 126) {
        h[n++] = (unsigned char)(m | len);
    } else if (len < 65536) {
        h[n++] = m | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (unsigned char)(len >> (8 * i));
    }
    if (mask) {
        if (RAND_bytes(key, 4) != 1) /* RFC 6455 5.3 (from memory): unpredictable keys */
            memset(key, 0x5a, 4);
        memcpy(h + n, key, 4);
        n += 4;
    }
    return n;
}

/*
 * Copies n bytes, masked with key from payload offset pos on (RFC 6455 5.3, from memory:
 * byte i is XORed with key[i % 4]), 32 bytes at a time in two 16-byte vectors (GCC's vector
 * extension, which compiles to SSE2 here and to plain words elsewhere); key NULL copies.
 */
typedef unsigned char ws_v16 __attribute__((vector_size(16)));

static void copy_masked(unsigned char *dst, const unsigned char *src, size_t n,
                        const unsigned char *key, uint64_t pos)
{
    if (key == NULL) {
        memcpy(dst, src, n);
        return;
    }
    unsigned char k16[16];
    for (int j = 0; j < 16; j++)
        k16[j] = key[(pos + (uint64_t)j) % 4];
    ws_v16 k;
    memcpy(&k, k16, 16);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        ws_v16 a, b;
        memcpy(&a, src + i, 16);
        memcpy(&b, src + i + 16, 16);
        a ^= k;
        b ^= k;
        memcpy(dst + i, &a, 16);
        memcpy(dst + i + 16, &b, 16);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ k16[i % 16];
}

/* A control frame (pong, close) into the idle obuf; it carries no offered bytes. */
static int build_control(struct ws_conn *w, unsigned opcode, const unsigned char *p, size_t n)
{
    if (obuf_reserve(w, WS_HEADER_MAX + n) != 0)
        return ENOMEM;
    unsigned char key[4];
    size_t h = put_header(w, w->obuf, opcode, true, n, key);
    copy_masked(w->obuf + h, p, n, w->ws->_opts.server ? NULL : key, 0);
    w->olen = h + n;
    w->ooff = 0;
    w->frame_taken = 0;
    return 0;
}

/*
 * The next data frame over the offered bytes past skip: up to the message's end as the
 * boundary finder sees it, at most frame_max. The finder sees each byte once: the bytes it
 * is fed are exactly the ones framed.
 */
static int build_data(struct ws_conn *w, const struct iovec *iov, int iovcnt, size_t skip)
{
    const struct net_ws_opts *o = &w->ws->_opts;
    size_t max = o->frame_max ? o->frame_max : WS_FRAME_MAX_DEFAULT;
    size_t n = 0;
    bool fin = o->boundary.find_end == NULL;
    int first = 0;
    size_t first_off = skip;
    while (first < iovcnt && first_off >= iov[first].iov_len)
        first_off -= iov[first++].iov_len;
    size_t off = first_off;
    for (int i = first; i < iovcnt && n < max; i++, off = 0) {
        size_t seg = iov[i].iov_len - off;
        seg = seg < max - n ? seg : max - n;
        if (seg == 0)
            continue;
        if (o->boundary.find_end != NULL) {
            size_t k = o->boundary.find_end(w->scan, (const char *)iov[i].iov_base + off, seg);
            if (k > 0) {
                n += k;
                fin = true;
                break;
            }
        }
        n += seg;
    }
    if (obuf_reserve(w, WS_HEADER_MAX + n) != 0)
        return ENOMEM;
    unsigned char key[4];
    size_t h =
        put_header(w, w->obuf, w->in_message ? WS_OP_CONTINUATION : WS_OP_BINARY, fin, n, key);
    const unsigned char *mask = o->server ? NULL : key;
    size_t done = 0;
    off = first_off;
    for (int i = first; i < iovcnt && done < n; i++, off = 0) {
        size_t seg = iov[i].iov_len - off;
        seg = seg < n - done ? seg : n - done;
        copy_masked(w->obuf + h + done, (const unsigned char *)iov[i].iov_base + off, seg, mask,
                    done);
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
                e = build_data(w, iov, iovcnt, reported);
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
        if (r != 0)
            return reported > 0 && r != NET_IO_END ? (ssize_t)reported : r;
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

/* A frame's first piece: the header rules wslay leaves to us. */
static const char *frame_refused(const struct ws_conn *w, const struct wslay_frame_iocb *io)
{
    if (io->rsv != 0)
        return "WebSocket frame with reserved bits set (no extension was agreed)";
    /* RFC 6455 5.1 (from memory): a server closes on an unmasked client frame, a client
     * on a masked server frame. */
    if (w->ws->_opts.server && !io->mask)
        return "WebSocket client sent an unmasked frame";
    if (!w->ws->_opts.server && io->mask)
        return "WebSocket server sent a masked frame";
    switch (io->opcode) {
    case WS_OP_CONTINUATION:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        return NULL;
    default:
        return "WebSocket frame with an unknown opcode";
    }
}

/* The peer's close frame is complete: answer it and end (RFC 6455 5.5.1, from memory). */
static ssize_t peer_closed(struct net_transport *t, struct ws_conn *w, struct net_io_end *end)
{
    unsigned code = w->ctrl_len >= 2 ? (unsigned)w->ctrl[0] << 8 | w->ctrl[1] : 1005;
    t->peer_close_code = code;
    if (!w->close_sent) {
        w->close_sent = true;
        try_control(w, WS_OP_CLOSE, w->ctrl, w->ctrl_len >= 2 ? 2 : 0);
    }
    char reason[124];
    size_t rl = w->ctrl_len > 2 ? w->ctrl_len - 2 : 0;
    memcpy(reason, w->ctrl + 2, rl);
    reason[rl] = '\0';
    end->err = 0;
    snprintf(end->text, sizeof(end->text), "WebSocket closed by peer: close code %u%s%.*s", code,
             rl ? ", " : "", (int)rl, reason);
    end->why = end->text;
    return NET_IO_END;
}

/* The lower transport gave wslay nothing: pass on why. */
static ssize_t lower_said(struct ws_conn *w, struct net_io_end *end)
{
    int code = w->lower_code;
    w->lower_code = 0;
    if (code == NET_IO_END) {
        *end = w->lower_end;
        if (w->lower_end.why == w->lower_end.text)
            end->why = end->text;
        return NET_IO_END;
    }
    return code == NET_IO_WANT_WRITE ? NET_IO_WANT_WRITE : NET_IO_WANT_READ;
}

static ssize_t ws_read(struct net_transport *t, char *buf, size_t len, struct net_io_end *end)
{
    struct ws_conn *w = t->impl;
    /* At most this many frames per call, so a stream of pings cannot hold the loop. */
    for (int frames = 0; frames < 64; frames++) {
        if (w->in_data_len > 0) {
            size_t n = w->in_data_len < len ? w->in_data_len : len;
            memcpy(buf, w->in_data, n);
            w->in_data += n;
            w->in_data_len -= n;
            return (ssize_t)n;
        }
        struct wslay_frame_iocb io;
        memset(&io, 0, sizeof(io));
        w->lower_code = 0;
        ssize_t r = wslay_frame_recv(w->frames, &io);
        if (r == WSLAY_ERR_WANT_READ)
            return lower_said(w, end);
        if (r < 0) {
            end->err = EPROTO;
            end->why = "WebSocket frame malformed";
            return NET_IO_END;
        }
        if (w->frame_got == 0) {
            const char *bad = frame_refused(w, &io);
            if (bad != NULL) {
                end->err = EPROTO;
                end->why = bad;
                return NET_IO_END;
            }
            w->ctrl_len = 0;
            /* wslay accepts only the shortest length encoding, so the header's size is
             * known from the length (RFC 6455 5.2, from memory). */
            w->parsed += 2 +
                         (io.payload_length >= 65536 ? 8
                          : io.payload_length >= 126 ? 2
                                                     : 0) +
                         (io.mask ? 4 : 0);
        }
        w->parsed += io.data_length;
        w->frame_got += io.data_length;
        bool frame_done = w->frame_got == io.payload_length;
        if (frame_done)
            w->frame_got = 0;
        if (!wslay_is_ctrl_frame(io.opcode)) {
            w->in_data = io.data; /* valid until the next wslay_frame_recv() */
            w->in_data_len = io.data_length;
            continue;
        }
        memcpy(w->ctrl + w->ctrl_len, io.data, io.data_length); /* wslay caps it at 125 */
        w->ctrl_len += io.data_length;
        if (!frame_done)
            continue;
        if (io.opcode == WS_OP_CLOSE)
            return peer_closed(t, w, end);
        if (io.opcode == WS_OP_PING) { /* RFC 6455 5.5.2-3, from memory: pong, same payload */
            memcpy(w->pong, w->ctrl, w->ctrl_len);
            w->pong_len = w->ctrl_len;
            if (w->olen == 0)
                try_control(w, WS_OP_PONG, w->pong, w->pong_len);
            else
                w->pong_due = true;
        }
    }
    return NET_IO_WANT_READ; /* pending() is non-zero: conn.c reads again */
}

static size_t ws_pending(const struct net_transport *t)
{
    const struct ws_conn *w = t->impl;
    if (w->phase != WS_OPEN)
        return 0;
    size_t n = w->in_data_len + (w->in_len - w->in_off) + (size_t)(w->fed - w->parsed);
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
            w->in_off = head; /* bytes past it are frames, for wslay */
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
    if (w->frames != NULL)
        wslay_frame_context_free(w->frames);
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
    static const struct wslay_frame_callbacks cbs = {.send_callback = ws_send_cb,
                                                     .recv_callback = ws_recv_cb,
                                                     .genmask_callback = ws_genmask_cb};
    if (wslay_frame_context_init(&w->frames, &cbs, w) != 0) {
        t->impl = w;
        ws_release(t);
        return ENOMEM;
    }
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
