/*
 * chunk_end.c - the streaming chunk end finder (chunk_end.h). Owns only its scanner state;
 * touches no buffer it is given (read-only) and nothing outside src/wire/.
 *
 * The search is memchr for CR (vectorised in libc) and a byte compare from there: CR occurs
 * in the pattern "\r\n-------<tid>" only at its start (a transact-id is alphanumeric plus a
 * few marks, RFC 4975 9), so a mismatch restarts at this byte without backtracking.
 */
#include "wire/chunk_end.h"

#include <string.h>

enum { SCAN_START, SCAN_TID, SCAN_FIRST_LINE, SCAN_BODY, SCAN_FLAG, SCAN_CR, SCAN_LF, SCAN_LOST };

static const char dashes_prefix[] = "\r\n-------"; /* 9 bytes, then the tid */

static unsigned char pattern_byte(const struct msrp_chunk_end_scan *s, unsigned i)
{
    return i < 9 ? (unsigned char)dashes_prefix[i] : (unsigned char)s->tid[i - 9];
}

size_t msrp_chunk_end_scan(struct msrp_chunk_end_scan *s, const char *buf, size_t len)
{
    static const char start[] = "MSRP ";
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)buf[i];
        switch (s->state) {
        case SCAN_START:
            if (c != (unsigned char)start[s->skip]) {
                s->state = SCAN_LOST;
                break;
            }
            if (++s->skip == 5) {
                s->state = SCAN_TID;
                s->tid_len = 0;
            }
            i++;
            break;
        case SCAN_TID:
            if (c == ' ' && s->tid_len > 0) {
                s->state = SCAN_FIRST_LINE;
            } else if (s->tid_len == sizeof(s->tid) || c == '\r' || c == '\n' || c == ' ') {
                s->state = SCAN_LOST;
                break;
            } else {
                s->tid[s->tid_len++] = (char)c;
            }
            i++;
            break;
        case SCAN_FIRST_LINE:
        case SCAN_BODY: {
            /* The end-line's leading CRLF may be the first line's own: a bodiless chunk
             * with no headers is not valid MSRP, but matching from the first line's CR
             * costs nothing and never ends a chunk early. */
            unsigned total = 9u + s->tid_len;
            if (s->matched == 0) {
                const char *cr = memchr(buf + i, '\r', len - i);
                if (cr == NULL)
                    return 0;
                i = (size_t)(cr - buf);
                c = '\r';
            }
            if (c == pattern_byte(s, s->matched)) {
                if (++s->matched == total)
                    s->state = SCAN_FLAG;
                i++;
            } else if (s->matched > 0) {
                s->matched = 0; /* retry this byte as a pattern start (it may be CR) */
            } else {
                i++;
            }
            break;
        }
        case SCAN_FLAG:
            s->matched = 0;
            s->state = (c == '$' || c == '+' || c == '#') ? SCAN_CR : SCAN_BODY;
            if (s->state == SCAN_CR)
                i++;
            break;
        case SCAN_CR:
            s->state = c == '\r' ? SCAN_LF : SCAN_BODY;
            if (s->state == SCAN_LF)
                i++;
            break;
        case SCAN_LF:
            if (c != '\n') {
                s->state = SCAN_BODY;
                break;
            }
            memset(s, 0, sizeof(*s));
            return i + 1;
        default: /* SCAN_LOST */
            return 0;
        }
    }
    return 0;
}

size_t msrp_chunk_end_find(void *scan_state, const char *buf, size_t len)
{
    return msrp_chunk_end_scan(scan_state, buf, len);
}

bool msrp_chunk_end_lost(const void *scan_state)
{
    return ((const struct msrp_chunk_end_scan *)scan_state)->state == SCAN_LOST;
}
