/*
 * writer.h - builds MSRP chunks as iovecs for writev(), without copying the body.
 *
 * The head (start line and headers) is formatted into a buffer the caller provides; the body is
 * referenced in place; the end-line lives in the returned struct. The writer guarantees that the
 * end-line does not occur in the body (RFC 4975 section 7.1): when the body contains
 * "-------" + tid at its start or after a CRLF, it draws a new transaction id and tries again.
 * w->tid holds the id actually used, which is the caller's own unless it had to change.
 *
 * Thread safety: none needed beyond the idgen, which is per thread.
 */
#ifndef MSRPLOAD_WIRE_WRITER_H
#define MSRPLOAD_WIRE_WRITER_H

#include <sys/uio.h>

#include "wire/idgen.h"
#include "wire/parser.h"
#include "wire/values.h"

#define MSRP_GENERATED_TID_LEN 12

struct msrp_out {
    enum msrp_kind kind;
    struct msrp_span tid;          /* empty: a fresh random id of MSRP_GENERATED_TID_LEN */
    struct msrp_span method;       /* requests: e.g. "SEND" */
    int status;                    /* responses: 100..999 */
    struct msrp_span comment;      /* responses: optional, e.g. "OK" */
    struct msrp_span to_path;      /* formatted URI list, e.g. from msrp_uri_format */
    struct msrp_span from_path;
    struct msrp_span message_id;   /* empty: no header */
    const struct msrp_byte_range *byte_range; /* NULL: no header */
    enum msrp_report success_report; /* ABSENT: no header */
    enum msrp_report failure_report; /* ABSENT: no header */
    struct msrp_span status_value;   /* REPORT Status value, e.g. "000 200 OK"; empty: none */
    const struct msrp_header *extra; /* written as given, after the headers above */
    size_t num_extra;
    struct msrp_span content_type;   /* non-empty: a body follows (it may be empty) */
    struct msrp_span body;           /* only with content_type */
    char flag;                       /* '$', '+' or '#'; 0 means '$' */
};

/* The end-line iovec points into _tail: pass this struct to writev() where it was filled. */
struct msrp_wire_chunk {
    struct iovec iov[3];   /* head, body, end-line (body omitted when empty) */
    int iovcnt;
    size_t total;          /* bytes over all iovecs */
    char tid[MSRP_TID_MAX];
    size_t tid_len;
    char _tail[MSRP_END_LINE_MAX];
};

enum msrp_write_error {
    MSRP_W_OK = 0,
    MSRP_W_E_NOSPACE = -1,   /* head buffer too small: msrp_write_head_size() tells how much */
    /* bad kind, tid, method, status, flag or report value; a body without content type; a
     * response with a body; num_extra without extra; no tid and no ids; or, with ids NULL, a
     * body holding the end-line */
    MSRP_W_E_INVALID = -2,
    MSRP_W_E_RANDOM = -3,    /* the CSPRNG failed, or kept drawing ids that clash with the body */
};

/*
 * Bytes of head buffer that msrp_write() needs for c at most. Exact, except when c->tid is
 * shorter than MSRP_GENERATED_TID_LEN and the body is non-empty: room is kept for a redrawn id.
 * On MSRP_W_E_NOSPACE nothing has been written to head.
 */
size_t msrp_write_head_size(const struct msrp_out *c);

/*
 * Fills *w; head must stay alive (and the body unchanged) until the iovecs are written.
 * ids may be NULL when c->tid is set and the caller accepts MSRP_W_E_INVALID instead of a
 * new id should the body contain the end-line.
 */
int msrp_write(const struct msrp_out *c, struct msrp_idgen *ids, char *head, size_t head_cap,
               struct msrp_wire_chunk *w);

#endif
