/*
 * chunk_end.h - finds where each MSRP chunk ends in an outgoing byte stream, one byte at a
 * time across calls: the boundary finder a message-framing transport (WebSocket, RFC 7977
 * 5.1: one chunk per message) is given by the layer above. Pure: no I/O, no allocation.
 *
 * A chunk (RFC 4975 7.1) starts "MSRP <transact-id> ..." and ends with its end-line
 * "-------<transact-id>" followed by one of "$+#" and CRLF; the end-line is always preceded
 * by CRLF (after the headers of a bodiless request, or after the body). The sender picks the
 * transaction id so that the end-line does not occur in the body (RFC 4975 7.1), which is why
 * searching for it is enough.
 */
#ifndef MSRPLOAD_WIRE_CHUNK_END_H
#define MSRPLOAD_WIRE_CHUNK_END_H

#include <stdbool.h>
#include <stddef.h>

/* Zero it before the first byte of a stream (calloc or = {0}). */
struct msrp_chunk_end_scan {
    unsigned char state;   /* _ private */
    unsigned char matched; /* bytes of "\r\n-------<tid>" matched so far */
    unsigned char tid_len;
    unsigned char skip; /* bytes of "MSRP " still to check */
    char tid[32];       /* RFC 4975 9: a transact-id is at most 32 characters */
};

/*
 * Feeds buf[0..len) (the stream's next bytes, each fed exactly once). Returns the count of
 * bytes up to and including the end of the current chunk when it ends inside buf (1..len;
 * the scanner is then ready for the next chunk), or 0 when it does not (all len bytes belong
 * to the chunk). Bytes that are not a chunk (no "MSRP " start, a transaction id longer than
 * 32) make the rest of the stream one long chunk: a malformed stream is the peer's to
 * refuse, not ours to split.
 */
size_t msrp_chunk_end_scan(struct msrp_chunk_end_scan *s, const char *buf, size_t len);

/* The same shape as net/transport_ws.h's boundary finder, for passing as one. */
size_t msrp_chunk_end_find(void *scan_state, const char *buf, size_t len);
/* True once the stream has turned out not to be chunks (the "one long chunk" above): no end
 * will be found in it. net/transport_ws.h's lost function. */
bool msrp_chunk_end_lost(const void *scan_state);

#endif
