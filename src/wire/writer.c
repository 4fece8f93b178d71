/*
 * writer.c - MSRP chunks as iovecs (RFC 4975 section 9 syntax, section 7.1 end-line rule).
 *
 * The writer runs once per chunk sent, millions of times a second in load mode, so it works in
 * three cheap passes: validate the fields, add up the exact head length (so that formatting
 * needs no bounds checks of its own), then copy spans and literals with memcpy and print the
 * few numbers with a hand-written decimal routine. Nothing here calls snprintf or allocates.
 */
#include "wire/writer.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "wire/scan.h"

/* How many fresh ids to try before deciding the entropy source is not random at all. */
#define WRITER_MAX_REDRAWS 8

#define DASHES "-------"
#define DASHES_LEN (sizeof(DASHES) - 1)

/* Copies a string literal (without its NUL) and yields the position after it. */
#define PUT_LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

static char *put_bytes(char *p, const char *s, size_t len)
{
    /* An empty span may be {NULL, 0}; memcpy must not see a null pointer even for 0 bytes. */
    if (len != 0)
        memcpy(p, s, len);
    return p + len;
}

static char *put_span(char *p, struct msrp_span s)
{
    return put_bytes(p, s.ptr, s.len);
}

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (unsigned char)((c | 0x20) - 'a') < 26;
}

/* RFC 4975 section 9: ident = ALPHANUM 3*31ident-char; ident-char = ALPHANUM . - + % = */
static bool is_ident(const char *s, size_t len)
{
    if (len < MSRP_TID_MIN || len > MSRP_TID_MAX || !is_alnum((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '.' && c != '-' && c != '+' && c != '%' && c != '=')
            return false;
    }
    return true;
}

/* RFC 4975 section 9: method = mSEND / mREPORT / other-method; other-method = 1*UPALPHA. */
static bool is_method(struct msrp_span m)
{
    if (m.len == 0)
        return false;
    for (size_t i = 0; i < m.len; i++) {
        if (m.ptr[i] < 'A' || m.ptr[i] > 'Z')
            return false;
    }
    return true;
}

static size_t dec_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 100) {
        v /= 100;
        n += 2;
    }
    return n + (v >= 10);
}

/* Writes v in exactly n = dec_len(v) digits, last digit first. */
static char *put_dec(char *p, uint64_t v, size_t n)
{
    char *q = p + n;
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p + n;
}

static size_t range_part_len(uint64_t v)
{
    return v == MSRP_RANGE_UNKNOWN ? 1 : dec_len(v);
}

static char *put_range_part(char *p, uint64_t v)
{
    if (v == MSRP_RANGE_UNKNOWN) {
        *p = '*';
        return p + 1;
    }
    return put_dec(p, v, dec_len(v));
}

/* Success-Report takes yes / no, Failure-Report also partial (RFC 4975 section 9). */
static const struct msrp_span report_text[] = {
    [MSRP_REPORT_ABSENT] = {"", 0},
    [MSRP_REPORT_YES] = {"yes", 3},
    [MSRP_REPORT_NO] = {"no", 2},
    [MSRP_REPORT_PARTIAL] = {"partial", 7},
};

/* Bounded, since msrp_write_head_size() may see values validate() would reject. */
static size_t report_len(enum msrp_report r)
{
    return (unsigned)r <= MSRP_REPORT_PARTIAL ? report_text[r].len : 0;
}

static int validate(const struct msrp_out *c)
{
    if (c->kind == MSRP_REQUEST) {
        if (!is_method(c->method))
            return MSRP_W_E_INVALID;
    } else if (c->kind == MSRP_RESPONSE) {
        /* Responses never carry a body (RFC 4975 section 9: msrp-response has no content-stuff). */
        if (c->status < 100 || c->status > 999 || c->content_type.len != 0 || c->body.len != 0)
            return MSRP_W_E_INVALID;
    } else {
        return MSRP_W_E_INVALID;
    }
    if (c->flag != 0 && c->flag != '$' && c->flag != '+' && c->flag != '#')
        return MSRP_W_E_INVALID;
    if ((unsigned)c->success_report > MSRP_REPORT_NO ||
        (unsigned)c->failure_report > MSRP_REPORT_PARTIAL)
        return MSRP_W_E_INVALID;
    if (c->body.len != 0 && c->content_type.len == 0)
        return MSRP_W_E_INVALID;
    if (c->num_extra != 0 && c->extra == NULL)
        return MSRP_W_E_INVALID;
    if (c->tid.len != 0 && !is_ident(c->tid.ptr, c->tid.len))
        return MSRP_W_E_INVALID;
    return MSRP_W_OK;
}

/* The exact number of head bytes format_head() writes for c with a tid of tid_len. */
static size_t head_len(const struct msrp_out *c, size_t tid_len)
{
    size_t n = sizeof("MSRP ") - 1 + tid_len + 1 + 2;

    if (c->kind == MSRP_REQUEST)
        n += c->method.len;
    else
        n += 3 + (c->comment.len != 0 ? 1 + c->comment.len : 0);
    n += sizeof("To-Path: \r\n") - 1 + c->to_path.len;
    n += sizeof("From-Path: \r\n") - 1 + c->from_path.len;
    if (c->message_id.len != 0)
        n += sizeof("Message-ID: \r\n") - 1 + c->message_id.len;
    if (c->byte_range != NULL) {
        const struct msrp_byte_range *r = c->byte_range;
        n += sizeof("Byte-Range: -/\r\n") - 1 + dec_len(r->start) + range_part_len(r->end) +
             range_part_len(r->total);
    }
    if (c->success_report != MSRP_REPORT_ABSENT)
        n += sizeof("Success-Report: \r\n") - 1 + report_len(c->success_report);
    if (c->failure_report != MSRP_REPORT_ABSENT)
        n += sizeof("Failure-Report: \r\n") - 1 + report_len(c->failure_report);
    if (c->status_value.len != 0)
        n += sizeof("Status: \r\n") - 1 + c->status_value.len;
    for (size_t i = 0; i < c->num_extra; i++)
        n += c->extra[i].name.len + c->extra[i].value.len + 4;
    if (c->content_type.len != 0)
        n += sizeof("Content-Type: \r\n\r\n") - 1 + c->content_type.len;
    return n;
}

/*
 * RFC 4975 section 9 order: start line, To-Path, From-Path, the other headers, and the MIME
 * headers ending in the blank line before the body.
 */
static char *format_head(const struct msrp_out *c, const char *tid, size_t tid_len, char *p)
{
    p = PUT_LIT(p, "MSRP ");
    p = put_bytes(p, tid, tid_len);
    *p++ = ' ';
    if (c->kind == MSRP_REQUEST) {
        p = put_span(p, c->method);
    } else {
        unsigned s = (unsigned)c->status;
        p[0] = (char)('0' + s / 100);
        p[1] = (char)('0' + s / 10 % 10);
        p[2] = (char)('0' + s % 10);
        p += 3;
        if (c->comment.len != 0) {
            *p++ = ' ';
            p = put_span(p, c->comment);
        }
    }
    p = PUT_LIT(p, "\r\nTo-Path: ");
    p = put_span(p, c->to_path);
    p = PUT_LIT(p, "\r\nFrom-Path: ");
    p = put_span(p, c->from_path);
    p = PUT_LIT(p, "\r\n");
    if (c->message_id.len != 0) {
        p = PUT_LIT(p, "Message-ID: ");
        p = put_span(p, c->message_id);
        p = PUT_LIT(p, "\r\n");
    }
    if (c->byte_range != NULL) {
        const struct msrp_byte_range *r = c->byte_range;
        p = PUT_LIT(p, "Byte-Range: ");
        p = put_dec(p, r->start, dec_len(r->start));
        *p++ = '-';
        p = put_range_part(p, r->end);
        *p++ = '/';
        p = put_range_part(p, r->total);
        p = PUT_LIT(p, "\r\n");
    }
    if (c->success_report != MSRP_REPORT_ABSENT) {
        p = PUT_LIT(p, "Success-Report: ");
        p = put_span(p, report_text[c->success_report]);
        p = PUT_LIT(p, "\r\n");
    }
    if (c->failure_report != MSRP_REPORT_ABSENT) {
        p = PUT_LIT(p, "Failure-Report: ");
        p = put_span(p, report_text[c->failure_report]);
        p = PUT_LIT(p, "\r\n");
    }
    if (c->status_value.len != 0) {
        p = PUT_LIT(p, "Status: ");
        p = put_span(p, c->status_value);
        p = PUT_LIT(p, "\r\n");
    }
    for (size_t i = 0; i < c->num_extra; i++) {
        p = put_span(p, c->extra[i].name);
        p = PUT_LIT(p, ": ");
        p = put_span(p, c->extra[i].value);
        p = PUT_LIT(p, "\r\n");
    }
    if (c->content_type.len != 0) {
        p = PUT_LIT(p, "Content-Type: ");
        p = put_span(p, c->content_type);
        p = PUT_LIT(p, "\r\n\r\n");
    }
    return p;
}

/*
 * RFC 4975 section 7.1: the end-line must not occur in the body. The body follows the blank
 * line's CRLF, so "-------" tid at its very start counts as well as CRLF "-------" tid inside.
 * The check ignores the flag character: "-------" tid followed by anything would at best
 * confuse a receiver. An occurrence cannot straddle the body and the end-line, since the only
 * CR in the pattern is its first byte.
 */
static bool body_has_end_line(struct msrp_span body, const char *tid, size_t tid_len)
{
    if (body.len >= DASHES_LEN + tid_len && memcmp(body.ptr, DASHES, DASHES_LEN) == 0 &&
        memcmp(body.ptr + DASHES_LEN, tid, tid_len) == 0)
        return true;
    return msrp__find_end_line(body.ptr, body.len, tid, tid_len) != body.len;
}

size_t msrp_write_head_size(const struct msrp_out *c)
{
    size_t tid_len = c->tid.len;

    /* A caller's tid that clashes with the body is replaced by a generated, maybe longer, one. */
    if (tid_len == 0 || (c->body.len != 0 && tid_len < MSRP_GENERATED_TID_LEN))
        tid_len = MSRP_GENERATED_TID_LEN;
    return head_len(c, tid_len);
}

int msrp_write(const struct msrp_out *c, struct msrp_idgen *ids, char *head, size_t head_cap,
               struct msrp_wire_chunk *w)
{
    w->iovcnt = 0;
    w->total = 0;
    w->tid_len = 0;

    int rc = validate(c);
    if (rc != MSRP_W_OK)
        return rc;

    if (c->tid.len != 0) {
        memcpy(w->tid, c->tid.ptr, c->tid.len);
        w->tid_len = c->tid.len;
    } else {
        if (ids == NULL)
            return MSRP_W_E_INVALID;
        if (msrp_idgen_ident(ids, w->tid, MSRP_GENERATED_TID_LEN) != 0)
            return MSRP_W_E_RANDOM;
        w->tid_len = MSRP_GENERATED_TID_LEN;
    }

    /*
     * The id is settled before anything is formatted, so a redraw costs one more scan of the
     * body and no second formatting pass. A fresh random id meets the body again with odds of
     * about len / 62^12, so running out of redraws means the entropy source is stuck.
     */
    if (c->body.len != 0) {
        int redraws = 0;
        while (body_has_end_line(c->body, w->tid, w->tid_len)) {
            if (ids == NULL)
                return MSRP_W_E_INVALID;
            if (++redraws > WRITER_MAX_REDRAWS)
                return MSRP_W_E_RANDOM;
            if (msrp_idgen_ident(ids, w->tid, MSRP_GENERATED_TID_LEN) != 0)
                return MSRP_W_E_RANDOM;
            w->tid_len = MSRP_GENERATED_TID_LEN;
        }
    }

    size_t need = head_len(c, w->tid_len);
    if (need > head_cap)
        return MSRP_W_E_NOSPACE;
    char *end = format_head(c, w->tid, w->tid_len, head);
    assert(end == head + need); /* head_len() and format_head() walk the same fields */
    (void)end;

    /* With content-stuff the body (maybe empty) is followed by CRLF before the end-line. */
    char *t = w->_tail;
    if (c->content_type.len != 0)
        t = PUT_LIT(t, "\r\n");
    t = PUT_LIT(t, DASHES);
    t = put_bytes(t, w->tid, w->tid_len);
    *t++ = c->flag != 0 ? c->flag : '$';
    t = PUT_LIT(t, "\r\n");
    size_t tail_len = (size_t)(t - w->_tail);

    w->iov[0].iov_base = head;
    w->iov[0].iov_len = need;
    if (c->body.len != 0) {
        /* iov_base is not const, but writev() only reads through it. */
        w->iov[1].iov_base = (void *)(uintptr_t)c->body.ptr;
        w->iov[1].iov_len = c->body.len;
        w->iov[2].iov_base = w->_tail;
        w->iov[2].iov_len = tail_len;
        w->iovcnt = 3;
    } else {
        w->iov[1].iov_base = w->_tail;
        w->iov[1].iov_len = tail_len;
        w->iov[2].iov_base = NULL;
        w->iov[2].iov_len = 0;
        w->iovcnt = 2;
    }
    w->total = need + c->body.len + tail_len;
    return MSRP_W_OK;
}
