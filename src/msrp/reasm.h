/*
 * reasm.h - reassembly of incoming MSRP messages from chunks (RFC 4975 sections 5.1, 7.1, 7.1.1,
 * 7.3.1).
 *
 * A message is identified by its Message-ID; its chunks carry Byte-Range start-end/total and
 * may arrive in any order, overlap, or leave end or total unknown ("*") until the last one.
 * The receiver hashes the contiguous prefix as it grows (SHA-256) and buffers only bytes that
 * arrived ahead of it, so an in-order message of any size needs no buffer at all and memory is
 * bounded by limits.max_buffered across all messages of one reassembler (one session).
 *
 * Bodies may arrive in virtual segments (parser.h): each piece is given with its absolute
 * 1-based position in the message, and the chunk's end (flag, Byte-Range end and total) is
 * given with its last piece.
 *
 * Completion: a message is complete once its total size is known and every byte 1..total has
 * arrived. The total is known from any chunk whose Byte-Range total is a number, or from a
 * chunk ending in "$": its last byte is then the last byte of the message. A chunk ending in
 * "#" aborts the message (RFC 4975 section 7.1): its bytes are dropped and it is reported
 * once as aborted.
 *
 * Details (decided here; RFC 4975 leaves them to the receiver):
 *  - Message-IDs are compared byte for byte. An id that is empty or longer than
 *    MSRP_REASM_ID_MAX is E_RANGE and nothing is looked up or stored.
 *  - A total learned once must not change (E_RANGE), and no byte may lie beyond it (E_RANGE),
 *    whichever of the two arrives first. A "$" chunk's last byte is the last byte its last
 *    piece carried (pos + len - 1, i.e. pos - 1 for an empty piece); if its Byte-Range end or
 *    total is a number, it must equal that byte (E_RANGE otherwise). A "+" chunk may end short
 *    of its Byte-Range end (an interrupted chunk, section 7.1.1) but not beyond it (E_RANGE).
 *  - Bytes received twice count in overlap_bytes and must be equal to what arrived first
 *    (E_CONFLICT otherwise). Bytes still held out of order are compared directly; bytes
 *    already hashed into the prefix are compared with a copy of the prefix's last
 *    limits.overlap_window bytes. A repeat reaching further back cannot be compared any more:
 *    those bytes count in overlap_unchecked too. Without a digest (limits.no_digest) nothing
 *    of the prefix is kept and repeats of it are only counted (overlap_unchecked).
 *  - COMPLETE is reported with the piece that ends a chunk (chunk_flag != 0) once every byte
 *    1..total has arrived; done->chunks counts the chunk ends seen, "#" included.
 *  - "#": done->total is the number of distinct bytes received, the "#" piece's included;
 *    done->sha256 is all zeros. A "#" for a message not in progress is reported the same way
 *    (its own bytes only) and stores nothing.
 *  - Limits: a new message when limits.max_messages are in progress is E_LIMIT and stores
 *    nothing. A piece that would take the bytes held out of order above limits.max_buffered,
 *    or a message above limits.max_extents separate out-of-order ranges, is E_LIMIT. A
 *    total above limits.max_message, or a byte position above it, is E_TOO_LARGE. Allocation
 *    failures are reported as E_LIMIT. Limit values are taken literally (0 means none allowed),
 *    except max_extents and overlap_window, where 0 means the default; out-of-order buffers
 *    may reserve spare room up to twice the bytes they hold, never more than max_buffered
 *    still allows. msrp_reasm_why() says which limit it was.
 *  - Every error status drops the message and frees its memory. After E_LIMIT, E_TOO_LARGE
 *    or E_CONFLICT (which a receiver answers with 413: stop sending this message, RFC 4975
 *    section 10.5) the id is remembered (the last MSRP_REASM_REFUSED_IDS of them), and every
 *    later piece under it is E_REFUSED and stores nothing. Later chunks of a message dropped
 *    for E_RANGE (or completed, or aborted) start a fresh message under the same id, which
 *    then normally stays incomplete: a receiver has already answered the first error.
 *
 * Thread safety: one reassembler per session, used from one thread.
 */
#ifndef MSRPLOAD_MSRP_REASM_H
#define MSRPLOAD_MSRP_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/parser.h"
#include "wire/span.h"

#define MSRP_REASM_ID_MAX MSRP_TID_MAX /* Message-ID is an ident: at most 32 characters */

/* Default of limits.max_extents: separate out-of-order byte ranges one message may hold
 * (touching ones merge into one). Holes, not bytes, make the bookkeeping slow (a piece walks
 * the sorted list), so their number is bounded too. */
#define MSRP_REASM_MAX_EXTENTS 4096
/* Default of limits.overlap_window: bytes of the hashed prefix kept to compare repeats with. */
#define MSRP_REASM_OVERLAP_WINDOW (16 * 1024)
/* Refused Message-IDs remembered per reassembler (oldest forgotten first). */
#define MSRP_REASM_REFUSED_IDS 16

struct msrp_reasm_limits {
    size_t max_buffered;  /* bytes held out of order, all messages together; default 16 MiB */
    size_t max_messages;  /* messages in progress at once; default 64 */
    uint64_t max_message; /* largest total accepted; default 2^40 */
    bool no_digest;       /* skip SHA-256 (done->sha256 is zeros): for throughput runs that
                             do not verify payloads, since hashing costs more than a copy */
    size_t max_extents;   /* separate out-of-order ranges per message; 0: the default 4096 */
    size_t overlap_window; /* prefix bytes kept per message in progress to compare repeats
                             with; 0: the default 16 KiB */
};

enum msrp_reasm_status {
    MSRP_REASM_PROGRESS = 0, /* stored; the message is not complete yet */
    MSRP_REASM_COMPLETE,     /* the message is complete: see *done */
    MSRP_REASM_ABORTED,      /* the message was aborted with "#": see *done */
    MSRP_REASM_E_LIMIT,      /* max_buffered or max_messages would be exceeded: message dropped */
    MSRP_REASM_E_TOO_LARGE,  /* total above max_message (a receiver answers 413) */
    MSRP_REASM_E_RANGE,      /* inconsistent: bytes past the known total, a total that changes:
                                message dropped */
    MSRP_REASM_E_CONFLICT,   /* bytes received again differ from what arrived first: dropped */
    MSRP_REASM_E_REFUSED,    /* the id was refused before (E_LIMIT, E_TOO_LARGE, E_CONFLICT) */
};

struct msrp_reasm_done {
    char message_id[MSRP_REASM_ID_MAX + 1];
    uint64_t total;         /* bytes in the complete message (or received, when aborted) */
    uint64_t chunks;        /* chunks that contributed */
    uint64_t overlap_bytes; /* bytes received more than once */
    uint64_t overlap_unchecked; /* of those, repeats too far back to compare (see above) */
    bool out_of_order;      /* some piece arrived ahead of the prefix */
    unsigned char sha256[32];
};

struct msrp_reasm; /* opaque */

/* limits may be NULL for the defaults. Returns NULL when out of memory. */
struct msrp_reasm *msrp_reasm_create(const struct msrp_reasm_limits *limits);
void msrp_reasm_destroy(struct msrp_reasm *r);

/*
 * Adds len bytes at 1-based position pos of message id. When this piece is the last of its
 * chunk, chunk_flag is '$', '+' or '#' and chunk_end / chunk_total are the chunk's Byte-Range
 * end and total (MSRP_RANGE_UNKNOWN for "*"); otherwise chunk_flag is 0 and both are ignored.
 * An empty piece still gives the position its first byte would have had. On COMPLETE or
 * ABORTED, *done describes the message and its state is released; done is written only then
 * and may be NULL. data is only read during the call (bytes held out of order are copied).
 */
enum msrp_reasm_status msrp_reasm_add(struct msrp_reasm *r, struct msrp_span id, uint64_t pos,
                                      const char *data, size_t len, char chunk_flag,
                                      uint64_t chunk_end, uint64_t chunk_total,
                                      struct msrp_reasm_done *done);

/* Bytes currently held out of order, and messages in progress. */
size_t msrp_reasm_buffered(const struct msrp_reasm *r);
size_t msrp_reasm_in_progress(const struct msrp_reasm *r);

/* Why the last error status was returned, in words naming the limit ("more than 4096
 * separate out-of-order ranges (max_extents)"); "" before any. Valid until the next add. */
const char *msrp_reasm_why(const struct msrp_reasm *r);

/* A name for logs and reports ("complete", "limit", ...). */
const char *msrp_reasm_status_name(enum msrp_reasm_status s);

#endif
