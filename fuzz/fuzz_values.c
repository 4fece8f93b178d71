/*
 * fuzz_values.c - libFuzzer target for the structured header values (src/wire/values.c).
 *
 * Every parser in values.h runs on the whole input. Beyond "no crash, no over-read" (ASan sees
 * libFuzzer's exactly-sized buffer), it checks the properties a caller relies on, and aborts
 * when one fails:
 *   - a Byte-Range that parses keeps its arithmetic, and formats to text that parses back to
 *     the same numbers;
 *   - every span a parser returns lies inside the input;
 *   - parameter lists a media type or disposition accepted iterate to the end without error,
 *     and every value unquotes into a buffer of its own length plus one;
 *   - msrp_param_next always makes progress, so a caller's loop ends.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/values.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct msrp_span input;

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_inside(struct msrp_span s)
{
    if (s.ptr == NULL) {
        check(s.len == 0);
        return;
    }
    check(s.ptr >= input.ptr && s.len <= input.len &&
          (size_t)(s.ptr - input.ptr) <= input.len - s.len);
}

static void check_unquote(struct msrp_span s)
{
    char buf[4097];
    if (s.ptr == NULL || s.len >= sizeof buf)
        return;
    int n = msrp_unquote(s, buf, s.len + 1);
    check(n >= 0 && (size_t)n <= s.len && buf[n] == '\0');
    /* One byte short of what it needs must fail, not truncate. */
    if (n > 0)
        check(msrp_unquote(s, buf, (size_t)n) == -1);
}

static void fuzz_byte_range(void)
{
    struct msrp_byte_range r, back;
    char buf[64];

    if (!msrp_byte_range_parse(input, &r))
        return;
    const uint64_t max = UINT64_C(1) << 63;
    check(r.start >= 1 && r.start <= max);
    check(r.end == MSRP_RANGE_UNKNOWN || (r.end <= max && r.end + 1 >= r.start));
    check(r.total == MSRP_RANGE_UNKNOWN || (r.total <= max && r.start <= r.total + 1));
    check(r.end == MSRP_RANGE_UNKNOWN || r.total == MSRP_RANGE_UNKNOWN || r.end <= r.total);

    size_t n = msrp_byte_range_format(&r, buf, sizeof buf);
    check(n < sizeof buf && strlen(buf) == n);
    check(msrp_byte_range_parse(msrp_span_make(buf, n), &back));
    check(back.start == r.start && back.end == r.end && back.total == r.total);
    /* Formatting is canonical: formatting again gives the same text. */
    char again[64];
    check(msrp_byte_range_format(&back, again, sizeof again) == n && memcmp(buf, again, n) == 0);
}

static void fuzz_simple(void)
{
    enum msrp_report rep;
    if (msrp_success_report_parse(input, &rep)) {
        const char *name = msrp_report_name(rep);
        check(name != NULL && rep != MSRP_REPORT_PARTIAL && strlen(name) == input.len &&
              memcmp(name, input.ptr, input.len) == 0);
    }
    if (msrp_failure_report_parse(input, &rep)) {
        const char *name = msrp_report_name(rep);
        check(name != NULL && strlen(name) == input.len && memcmp(name, input.ptr, input.len) == 0);
    }

    struct msrp_status st;
    if (msrp_status_parse(input, &st)) {
        check(st.ns >= 0 && st.ns <= 999 && st.code >= 0 && st.code <= 999);
        check_inside(st.reason);
    }

    uint32_t secs;
    (void)msrp_expires_parse(input, &secs);

    if (msrp_message_id_valid(input))
        check(input.len >= 4 && input.len <= 32);
}

/* Iterates a list to its end; returns the final code. Aborts if an iteration stalls. */
static int walk_params(struct msrp_span rest, char sep)
{
    struct msrp_param p;
    size_t left = rest.len;
    int rc;

    while ((rc = msrp_param_next(&rest, sep, &p)) > 0) {
        check(rest.len < left);
        left = rest.len;
        check_inside(p.name);
        check_inside(p.value);
        check(p.name.len > 0);
        check(p.quoted || p.value.len > 0 || sep == ';');
        if (p.quoted)
            check_unquote(p.value);
    }
    check_inside(rest);
    return rc;
}

static void fuzz_params(void)
{
    struct msrp_media_type mt;
    if (msrp_media_type_parse(input, &mt)) {
        check(mt.type.len > 0 && mt.subtype.len > 0);
        check_inside(mt.type);
        check_inside(mt.subtype);
        check_inside(mt.params);
        check(walk_params(mt.params, ';') == 0);
    }

    struct msrp_disposition disp;
    if (msrp_disposition_parse(input, &disp)) {
        check(disp.type.len > 0);
        check_inside(disp.type);
        check_inside(disp.params);
        check(walk_params(disp.params, ';') == 0);
    }

    /* The raw input as a list, with both separators; the loop must end. */
    (void)walk_params(input, ';');
    (void)walk_params(input, ',');
}

static void check_digest(const struct msrp_digest *d)
{
    const struct msrp_span *all[] = {
        &d->realm,  &d->nonce,  &d->opaque,    &d->stale,   &d->algorithm,
        &d->qop,    &d->domain, &d->username,  &d->uri,     &d->response,
        &d->cnonce, &d->nc,     &d->nextnonce, &d->rspauth,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        check_inside(*all[i]);
        check_unquote(*all[i]);
    }
    check(d->nc.ptr == NULL || d->nc.len == 8);
}

static void fuzz_digest(void)
{
    struct msrp_digest d;

    if (msrp_digest_challenge_parse(input, &d))
        check_digest(&d);
    if (msrp_digest_info_parse(input, &d))
        check_digest(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input = msrp_span_make((const char *)data, size);
    fuzz_byte_range();
    fuzz_simple();
    fuzz_params();
    fuzz_digest();
    return 0;
}
