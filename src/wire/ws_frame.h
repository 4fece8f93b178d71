/*
 * ws_frame.h - WebSocket frames (RFC 6455 5.2, from memory of that section): an incremental
 * reader that checks every header rule, a header writer, and the payload mask. Pure: no I/O,
 * no allocation, nothing global, so it can be fuzzed (fuzz/fuzz_ws_frame.c) and tested alone.
 * The WebSocket transport (net/transport_ws.c) reads and writes frames with it.
 *
 * The reader never copies payload: it says where each piece of payload lies in the bytes it
 * was given (and at which offset of the frame's payload, for the mask), so the caller unmasks
 * it straight to where it is wanted with ws_frame_mask(), once. Only a header that arrives in
 * pieces is gathered (at most 14 bytes).
 */
#ifndef MSRPLOAD_WIRE_WS_FRAME_H
#define MSRPLOAD_WIRE_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_FRAME_HEAD_MAX 14 /* 2 + 8 (64-bit length) + 4 (mask key) */
#define WS_FRAME_CONTROL_MAX 125

enum {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
};

/* A frame's header. */
struct ws_frame_head {
    uint64_t len;         /* payload bytes */
    unsigned char key[4]; /* the mask key when masked */
    unsigned opcode;
    bool fin, masked;
};

static inline bool ws_frame_is_control(unsigned opcode)
{
    return (opcode & 0x8u) != 0;
}

/*
 * Parses the header at p[0..n). Returns its size (2..14) when it is whole and keeps every
 * rule, 0 when more bytes are needed (rules readable from the bytes there are checked
 * already), or -1 with *why (static text) when it breaks one:
 *   RSV1-3 set (no extension is ever agreed here), a reserved opcode, a control frame
 *   without FIN or longer than 125 bytes, a length not in its shortest encoding, a 64-bit
 *   length with its top bit set, an unmasked frame when from_client (a server reads it) or a
 *   masked one when not (a client reads it).
 */
int ws_frame_head_parse(const unsigned char *p, size_t n, bool from_client, struct ws_frame_head *h,
                        const char **why);

/* Writes a header into out (room for WS_FRAME_HEAD_MAX) in the shortest length encoding,
 * masked with key unless key is NULL; returns its size. */
size_t ws_frame_head_write(unsigned char *out, unsigned opcode, bool fin, uint64_t len,
                           const unsigned char *key);

/*
 * dst[i] = src[i] ^ key[(offset + i) % 4] for i < n (RFC 6455 5.3, from memory): masks and
 * unmasks alike. 16 bytes at a time with the key turned to the offset; any alignment. dst may
 * be src, or lie before it (each byte is written at or before where it is read, after it is
 * read), so a buffer can be unmasked and compacted in one pass.
 */
void ws_frame_mask(unsigned char *dst, const unsigned char *src, size_t n,
                   const unsigned char key[4], uint64_t offset);

/* The same on 16-byte vectors only, the path of CPUs without AVX2 (so tests check both). */
void ws_frame_mask_v16(unsigned char *dst, const unsigned char *src, size_t n,
                       const unsigned char key[4], uint64_t offset);

/* What ws_frame_read() found. */
enum ws_frame_event {
    WS_FRAME_MORE,    /* every byte given went into a header still incomplete */
    WS_FRAME_HEAD,    /* a header is whole: reader->head; done when its length is 0 */
    WS_FRAME_PAYLOAD, /* data..data+len: payload bytes (still masked), at offset of it */
    WS_FRAME_ERROR,   /* a header broke a rule (why); the reader must not be used again */
};

struct ws_frame_out {
    enum ws_frame_event event;
    const unsigned char *data; /* PAYLOAD: inside the bytes given */
    size_t len;                /* PAYLOAD */
    uint64_t offset;           /* PAYLOAD: where data starts in the frame's payload */
    bool done;                 /* HEAD, PAYLOAD: the frame's last byte has been read */
    const char *why;           /* ERROR: static text */
};

/* An incremental reader of one direction's frames; fill with ws_frame_reader_init(). */
struct ws_frame_reader {
    struct ws_frame_head head; /* the current frame's, from its WS_FRAME_HEAD on */
    bool from_client;
    bool in_payload;
    unsigned hlen;
    uint64_t got; /* payload bytes of the current frame read so far */
    unsigned char hdr[WS_FRAME_HEAD_MAX];
};

void ws_frame_reader_init(struct ws_frame_reader *r, bool from_client);

/* Is the reader inside a frame's payload (the next bytes are payload, not header)? */
static inline bool ws_frame_in_payload(const struct ws_frame_reader *r)
{
    return r->in_payload;
}

/*
 * Reads from in[0..n) up to one event: returns the bytes consumed (all n for MORE; 1..n for
 * HEAD and PAYLOAD; for ERROR, the header bytes read) and fills *out. n 0 gives MORE.
 */
size_t ws_frame_read(struct ws_frame_reader *r, const unsigned char *in, size_t n,
                     struct ws_frame_out *out);

#endif
