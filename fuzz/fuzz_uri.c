/*
 * fuzz_uri.c - libFuzzer target for src/wire/uri.c.
 *
 * The input is tried as one URI and as a path header value. For a URI that parses, the
 * canonical text must parse again, compare equal both ways, be no longer than the input and
 * format to itself; formatting into every smaller buffer must keep snprintf's contract. A path
 * value must be walked to its end or its first error, always moving forward, and
 * msrp_uri_list_count must agree with the walk. Any broken promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool inside(struct msrp_span sp, const char *buf, size_t len)
{
    return sp.len == 0 || (sp.ptr >= buf && sp.ptr + sp.len <= buf + len);
}

static void check_uri_inside(const struct msrp_uri *u, const char *buf, size_t len)
{
    check(inside(u->userinfo, buf, len));
    check(inside(u->host, buf, len));
    check(inside(u->session_id, buf, len));
    check(inside(u->transport, buf, len));
    check(inside(u->params, buf, len));
    check(u->transport.len > 0 && u->host.len > 0);
}

static void check_round_trip(const struct msrp_uri *u, size_t input_len)
{
    char text[MSRP_URI_MAX + 1], again[MSRP_URI_MAX + 1];
    struct msrp_uri v;

    size_t n = msrp_uri_format(u, text, sizeof(text));
    /* Canonical text only ever drops or shortens things (an empty "@", leading port zeros). */
    check(n <= input_len && n < sizeof(text));
    check(strlen(text) == n);
    check(msrp_uri_parse(text, n, &v) == MSRP_URI_OK);
    check_uri_inside(&v, text, n);
    check(msrp_uri_equal(u, u) && msrp_uri_equal(&v, &v));
    check(msrp_uri_equal(u, &v) && msrp_uri_equal(&v, u));
    check(u->secure == v.secure && u->host_type == v.host_type && u->has_port == v.has_port &&
          u->port == v.port);
    check(msrp_span_eq(u->host, v.host) && msrp_span_eq(u->session_id, v.session_id));
    check(msrp_span_eq(u->userinfo, v.userinfo) && msrp_span_eq(u->params, v.params));
    check(msrp_span_eq(u->transport, v.transport));
    check(msrp_uri_format(&v, again, sizeof(again)) == n && memcmp(again, text, n + 1) == 0);

    /* Truncated output is a NUL-terminated prefix and reports the full length. */
    check(msrp_uri_format(u, NULL, 0) == n);
    for (size_t cap = 1; cap <= n; cap += 1 + cap / 4) {
        check(msrp_uri_format(u, again, cap) == n);
        check(memcmp(again, text, cap - 1) == 0 && again[cap - 1] == '\0');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct msrp_uri u;

    enum msrp_uri_error e = msrp_uri_parse(s, size, &u);
    check(msrp_uri_error_text(e) != NULL);
    if (e == MSRP_URI_OK) {
        check_uri_inside(&u, s, size);
        check_round_trip(&u, size);
    } else {
        check(e > MSRP_URI_OK && e <= MSRP_URI_E_TOO_LONG);
    }

    struct msrp_span rest = msrp_span_make(s, size);
    int n = 0, r;
    size_t before = rest.len;
    while ((r = msrp_uri_list_next(&rest, &u)) == 1) {
        check_uri_inside(&u, s, size);
        check(rest.len < before && rest.ptr + rest.len == s + size);
        before = rest.len;
        n++;
    }
    check(r == 0 ? rest.len == 0 : (r < 0 && r >= -MSRP_URI_E_TOO_LONG));
    check(msrp_uri_list_count(msrp_span_make(s, size)) == (r < 0 ? r : n));
    return 0;
}
