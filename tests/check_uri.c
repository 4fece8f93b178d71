/*
 * check_uri.c - MSRP URIs (src/wire/uri.c): parsing, errors, canonical text, RFC 4975 section
 * 6.1 comparison, and path values.
 *
 * Every input is parsed from a guarded copy (testutil.h), whose last byte sits right before a
 * PROT_NONE page, so reading one byte past the given length crashes the test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "testutil.h"
#include "wire/uri.h"

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define NO_PORT (-1)

/* ---- helpers ---- */

static void assert_span_is(struct msrp_span got, const char *want, const char *what,
                           const char *uri)
{
    size_t n = strlen(want);
    ck_assert_msg(got.len == n && (n == 0 || memcmp(got.ptr, want, n) == 0),
                  "%s: %s is \"%.*s\", want \"%s\"", uri, what, (int)got.len,
                  got.len > 0 ? got.ptr : "", want);
}

/* Zero-copy: a non-empty span must point into the bytes that were parsed. */
static void assert_span_inside(struct msrp_span sp, const char *buf, size_t len, const char *what)
{
    if (sp.len == 0)
        return;
    ck_assert_msg(sp.ptr >= buf && sp.ptr + sp.len <= buf + len, "%s points outside the input",
                  what);
}

static void assert_uri_inside(const struct msrp_uri *u, const char *buf, size_t len)
{
    assert_span_inside(u->userinfo, buf, len, "userinfo");
    assert_span_inside(u->host, buf, len, "host");
    assert_span_inside(u->session_id, buf, len, "session-id");
    assert_span_inside(u->transport, buf, len, "transport");
    assert_span_inside(u->params, buf, len, "params");
}

/* Parses text from a guarded copy; the caller frees the copy with guarded_free(*copy, len). */
static enum msrp_uri_error parse_guarded(const char *text, struct msrp_uri *u, char **copy)
{
    size_t len = strlen(text);
    *copy = guarded_copy(text, len);
    enum msrp_uri_error e = msrp_uri_parse(*copy, len, u);
    if (e == MSRP_URI_OK)
        assert_uri_inside(u, *copy, len);
    return e;
}

/* Field-by-field equality, stricter than msrp_uri_equal: used for round trips. */
static void assert_same_fields(const struct msrp_uri *a, const struct msrp_uri *b, const char *uri)
{
    ck_assert_msg(a->secure == b->secure, "%s: secure differs", uri);
    ck_assert_msg(msrp_span_eq(a->userinfo, b->userinfo), "%s: userinfo differs", uri);
    ck_assert_msg(msrp_span_eq(a->host, b->host), "%s: host differs", uri);
    ck_assert_msg(a->host_type == b->host_type, "%s: host type differs", uri);
    ck_assert_msg(a->has_port == b->has_port, "%s: has_port differs", uri);
    ck_assert_msg(a->port == b->port, "%s: port differs", uri);
    ck_assert_msg(msrp_span_eq(a->session_id, b->session_id), "%s: session-id differs", uri);
    ck_assert_msg(msrp_span_eq(a->transport, b->transport), "%s: transport differs", uri);
    ck_assert_msg(msrp_span_eq(a->params, b->params), "%s: params differ", uri);
}

/* ---- Parse: valid URIs, every field checked ---- */

struct parse_vec {
    const char *text;
    bool secure;
    const char *userinfo;
    const char *host;
    enum msrp_host_type type;
    int port; /* NO_PORT when absent */
    const char *session_id;
    const char *transport;
    const char *params;
};

static const struct parse_vec parse_vecs[] = {
    /* RFC 4975 section 7.1.1 and section 10 examples */
    {"msrp://atlanta.example.com:7654/jshA7weztas;tcp", false, "", "atlanta.example.com",
     MSRP_HOST_NAME, 7654, "jshA7weztas", "tcp", ""},
    {"msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp", false, "", "biloxi.example.com",
     MSRP_HOST_NAME, 12763, "kjhd37s2s20w2a", "tcp", ""},
    {"msrp://alicepc.example.com:7777/iau39soe2843z;tcp", false, "", "alicepc.example.com",
     MSRP_HOST_NAME, 7777, "iau39soe2843z", "tcp", ""},
    {"msrp://bob.example.com:8888/9di4eae923wzd;tcp", false, "", "bob.example.com", MSRP_HOST_NAME,
     8888, "9di4eae923wzd", "tcp", ""},
    /* RFC 4976 section 7.1 (AUTH): a relay URI with userinfo, no port, no session-id */
    {"msrps://alice@intra.example.com;tcp", true, "alice", "intra.example.com", MSRP_HOST_NAME,
     NO_PORT, "", "tcp", ""},
    {"msrps://alice.example.com:9892/98cjs;tcp", true, "", "alice.example.com", MSRP_HOST_NAME,
     9892, "98cjs", "tcp", ""},
    /* IP literals */
    {"msrp://[2001:db8::1]:2855/s1;tcp", false, "", "2001:db8::1", MSRP_HOST_IPV6, 2855, "s1",
     "tcp", ""},
    {"msrp://[0:0:0:0:0:0:0:1]/x;tcp", false, "", "0:0:0:0:0:0:0:1", MSRP_HOST_IPV6, NO_PORT, "x",
     "tcp", ""},
    {"msrp://[::ffff:192.0.2.1];tcp", false, "", "::ffff:192.0.2.1", MSRP_HOST_IPV6, NO_PORT, "",
     "tcp", ""},
    {"msrp://u@[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:1;tcp", false, "u",
     "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", MSRP_HOST_IPV6, 1, "", "tcp", ""},
    /* the longest IPv6 text there is (45 characters) */
    {"msrp://[0000:0000:0000:0000:0000:ffff:255.255.255.255];tcp", false, "",
     "0000:0000:0000:0000:0000:ffff:255.255.255.255", MSRP_HOST_IPV6, NO_PORT, "", "tcp", ""},
    {"msrp://192.0.2.1:2855/abc;tcp", false, "", "192.0.2.1", MSRP_HOST_IPV4, 2855, "abc", "tcp",
     ""},
    {"msrp://255.255.255.255;tcp", false, "", "255.255.255.255", MSRP_HOST_IPV4, NO_PORT, "", "tcp",
     ""},
    {"msrp://0.0.0.0:0;tcp", false, "", "0.0.0.0", MSRP_HOST_IPV4, 0, "", "tcp", ""},
    /* a name that only starts like an address */
    {"msrp://1.2.3.4.example;tcp", false, "", "1.2.3.4.example", MSRP_HOST_NAME, NO_PORT, "", "tcp",
     ""},
    /* scheme and transport keep the case they were given; comparison ignores it */
    {"MSRPS://Host.Example.COM:1/a;TCP", true, "", "Host.Example.COM", MSRP_HOST_NAME, 1, "a",
     "TCP", ""},
    {"MsRp://h;tcp", false, "", "h", MSRP_HOST_NAME, NO_PORT, "", "tcp", ""},
    /* userinfo may hold ":", ";", "=" and percent-escapes (RFC 3986 section 3.2.1) */
    {"msrp://user:pw;x=1@h.example/s;tcp", false, "user:pw;x=1", "h.example", MSRP_HOST_NAME,
     NO_PORT, "s", "tcp", ""},
    {"msrp://%20a%7e@h;tcp", false, "%20a%7e", "h", MSRP_HOST_NAME, NO_PORT, "", "tcp", ""},
    {"msrp://@h;tcp", false, "", "h", MSRP_HOST_NAME, NO_PORT, "", "tcp", ""},
    /* reg-name: unreserved, pct-encoded, sub-delims */
    {"msrp://%61tlanta.example.com/s;tcp", false, "", "%61tlanta.example.com", MSRP_HOST_NAME,
     NO_PORT, "s", "tcp", ""},
    {"msrp://h-1.example_x~;tcp", false, "", "h-1.example_x~", MSRP_HOST_NAME, NO_PORT, "", "tcp",
     ""},
    {"msrp://a!$&'()*+,=b;tcp", false, "", "a!$&'()*+,=b", MSRP_HOST_NAME, NO_PORT, "", "tcp", ""},
    /* session-id may hold "/", "+", "=" and unreserved punctuation */
    {"msrp://h.example:65535/a/b/c+d=e;tcp", false, "", "h.example", MSRP_HOST_NAME, 65535,
     "a/b/c+d=e", "tcp", ""},
    {"msrp://h:1/-._~//;tcp", false, "", "h", MSRP_HOST_NAME, 1, "-._~//", "tcp", ""},
    /* leading zeros in the port are digits like any other */
    {"msrp://h:00080/s;tcp", false, "", "h", MSRP_HOST_NAME, 80, "s", "tcp", ""},
    {"msrp://h:0000000065535;tcp", false, "", "h", MSRP_HOST_NAME, 65535, "", "tcp", ""},
    /* other transports and URI parameters */
    {"msrp://h.example;ws", false, "", "h.example", MSRP_HOST_NAME, NO_PORT, "", "ws", ""},
    {"msrp://h/s;tcp;foo=bar;baz", false, "", "h", MSRP_HOST_NAME, NO_PORT, "s", "tcp",
     ";foo=bar;baz"},
    {"msrp://h;tcp;a-.!%*_+`'~=b", false, "", "h", MSRP_HOST_NAME, NO_PORT, "", "tcp",
     ";a-.!%*_+`'~=b"},
    {"msrp://h:2/s;t1;x", false, "", "h", MSRP_HOST_NAME, 2, "s", "t1", ";x"},
};

START_TEST(parse_valid)
{
    const struct parse_vec *v = &parse_vecs[_i];
    struct msrp_uri u;
    char *copy;
    enum msrp_uri_error e = parse_guarded(v->text, &u, &copy);

    ck_assert_msg(e == MSRP_URI_OK, "%s: error %d (%s)", v->text, e, msrp_uri_error_text(e));
    ck_assert_msg(u.secure == v->secure, "%s: secure", v->text);
    assert_span_is(u.userinfo, v->userinfo, "userinfo", v->text);
    assert_span_is(u.host, v->host, "host", v->text);
    ck_assert_msg(u.host_type == v->type, "%s: host type %d, want %d", v->text, u.host_type,
                  v->type);
    if (v->port == NO_PORT) {
        ck_assert_msg(!u.has_port, "%s: has a port", v->text);
    } else {
        ck_assert_msg(u.has_port, "%s: no port", v->text);
        ck_assert_int_eq(u.port, v->port);
    }
    assert_span_is(u.session_id, v->session_id, "session-id", v->text);
    assert_span_is(u.transport, v->transport, "transport", v->text);
    assert_span_is(u.params, v->params, "params", v->text);
    ck_assert_msg(msrp_uri_equal(&u, &u), "%s: not equal to itself", v->text);
    guarded_free(copy, strlen(v->text));
}
END_TEST

/*
 * Every prefix of a valid URI, each from its own guarded copy: the end of the input moves
 * through every state of the parser, and none may read past it.
 */
START_TEST(parse_prefixes)
{
    const char *text = parse_vecs[_i].text;
    size_t len = strlen(text);
    for (size_t n = 0; n <= len; n++) {
        char *copy = guarded_copy(text, n);
        struct msrp_uri u;
        enum msrp_uri_error e = msrp_uri_parse(copy, n, &u);
        ck_assert_int_ge(e, MSRP_URI_OK);
        ck_assert_int_le(e, MSRP_URI_E_TOO_LONG);
        if (e == MSRP_URI_OK)
            assert_uri_inside(&u, copy, n);
        guarded_free(copy, n);
    }
}
END_TEST

START_TEST(parse_null_empty)
{
    struct msrp_uri u;
    ck_assert_int_eq(msrp_uri_parse(NULL, 0, &u), MSRP_URI_E_SCHEME);
}
END_TEST

/* ---- Malformed: at least two vectors per error code ---- */

struct bad_vec {
    const char *text;
    enum msrp_uri_error want;
    size_t len; /* 0: strlen(text); set for the vectors with a NUL inside */
};

static const struct bad_vec bad_vecs[] = {
    {"", MSRP_URI_E_SCHEME},
    {"msrp:", MSRP_URI_E_SCHEME},
    {"http://h;tcp", MSRP_URI_E_SCHEME},
    {"msrp:/h;tcp", MSRP_URI_E_SCHEME},
    {"msrp//h;tcp", MSRP_URI_E_SCHEME},
    {"msrpx://h;tcp", MSRP_URI_E_SCHEME},
    {" msrp://h;tcp", MSRP_URI_E_SCHEME},
    {"msrp\0//h;tcp", MSRP_URI_E_SCHEME, sizeof("msrp\0//h;tcp") - 1},

    {"msrp://a b@h;tcp", MSRP_URI_E_USERINFO},
    {"msrp://%zz@h;tcp", MSRP_URI_E_USERINFO},
    {"msrp://a%4@h;tcp", MSRP_URI_E_USERINFO},
    {"msrp://a[@h;tcp", MSRP_URI_E_USERINFO},
    {"msrp://a\"@h;tcp", MSRP_URI_E_USERINFO},

    {"msrp://", MSRP_URI_E_HOST},
    {"msrp://;tcp", MSRP_URI_E_HOST},
    {"msrp://:80;tcp", MSRP_URI_E_HOST},
    {"msrp:///s;tcp", MSRP_URI_E_HOST},
    {"msrp://u@;tcp", MSRP_URI_E_HOST},
    {"msrp://a@b@c;tcp", MSRP_URI_E_HOST},
    {"msrp://h^;tcp", MSRP_URI_E_HOST},
    {"msrp://h\0;tcp", MSRP_URI_E_HOST, sizeof("msrp://h\0;tcp") - 1},
    {"msrp://h%2;tcp", MSRP_URI_E_HOST},
    {"msrp://h%;tcp", MSRP_URI_E_HOST},
    {"msrp://h?q;tcp", MSRP_URI_E_HOST},
    {"msrp://1.2.3.256;tcp", MSRP_URI_E_HOST},
    {"msrp://01.2.3.4;tcp", MSRP_URI_E_HOST},
    {"msrp://1.2.3;tcp", MSRP_URI_E_HOST},
    {"msrp://1.2.3.4.;tcp", MSRP_URI_E_HOST},
    {"msrp://1234;tcp", MSRP_URI_E_HOST},
    {"msrp://[2001:db8::1;tcp", MSRP_URI_E_HOST},
    {"msrp://[2001:db8::g]:1;tcp", MSRP_URI_E_HOST},
    {"msrp://[]:1;tcp", MSRP_URI_E_HOST},
    {"msrp://[192.0.2.1];tcp", MSRP_URI_E_HOST},
    {"msrp://[::1]x;tcp", MSRP_URI_E_HOST},
    {"msrp://[v1.x];tcp", MSRP_URI_E_HOST},
    {"msrp://[fe80::1%25eth0];tcp", MSRP_URI_E_HOST},
    {"msrp://[1:2:3:4:5:6:7:8:9];tcp", MSRP_URI_E_HOST},
    {"msrp://[::1\0:2];tcp", MSRP_URI_E_HOST, sizeof("msrp://[::1\0:2];tcp") - 1},
    {"msrp://[::1 ];tcp", MSRP_URI_E_HOST},
    {"msrp://[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000];tcp", MSRP_URI_E_HOST},

    {"msrp://h:;tcp", MSRP_URI_E_PORT},
    {"msrp://h:/s;tcp", MSRP_URI_E_PORT},
    {"msrp://h:65536;tcp", MSRP_URI_E_PORT},
    {"msrp://h:0000065536;tcp", MSRP_URI_E_PORT},
    {"msrp://h:99999999999999999999999;tcp", MSRP_URI_E_PORT},
    {"msrp://h:8x;tcp", MSRP_URI_E_PORT},
    {"msrp://h:-1;tcp", MSRP_URI_E_PORT},
    {"msrp://h:1:2;tcp", MSRP_URI_E_PORT},
    {"msrp://[::1]:;tcp", MSRP_URI_E_PORT},
    {"msrp://h:", MSRP_URI_E_PORT},

    {"msrp://h:1/;tcp", MSRP_URI_E_SESSION_ID},
    {"msrp://h/", MSRP_URI_E_SESSION_ID},
    {"msrp://h/a b;tcp", MSRP_URI_E_SESSION_ID},
    {"msrp://h/a%41;tcp", MSRP_URI_E_SESSION_ID},
    {"msrp://h/a@b;tcp", MSRP_URI_E_SESSION_ID},
    {"msrp://h/a?b;tcp", MSRP_URI_E_SESSION_ID},
    {"msrp://h/a:b;tcp", MSRP_URI_E_SESSION_ID},

    {"msrp://h", MSRP_URI_E_TRANSPORT},
    {"msrp://h:1/abc", MSRP_URI_E_TRANSPORT},
    {"msrp://[::1]:2855", MSRP_URI_E_TRANSPORT},
    {"msrp://h;", MSRP_URI_E_TRANSPORT},
    {"msrp://h:1/abc;", MSRP_URI_E_TRANSPORT},
    {"msrp://h;;tcp", MSRP_URI_E_TRANSPORT},
    {"msrp://h;t-cp", MSRP_URI_E_TRANSPORT},
    {"msrp://h;tcp=1", MSRP_URI_E_TRANSPORT},
    {"msrp://h;tcp msrp://i;tcp", MSRP_URI_E_TRANSPORT},

    {"msrp://h;tcp;", MSRP_URI_E_PARAM},
    {"msrp://h;tcp;a=", MSRP_URI_E_PARAM},
    {"msrp://h;tcp;=b", MSRP_URI_E_PARAM},
    {"msrp://h;tcp;a=b=c", MSRP_URI_E_PARAM},
    {"msrp://h;tcp;a b", MSRP_URI_E_PARAM},
    {"msrp://h;tcp;;a", MSRP_URI_E_PARAM},
    {"msrp://h/s;tcp;a@b", MSRP_URI_E_PARAM},
    {"msrp://h;tcp;a=\"b\"", MSRP_URI_E_PARAM},
};

START_TEST(malformed)
{
    const struct bad_vec *v = &bad_vecs[_i];
    size_t len = v->len > 0 ? v->len : strlen(v->text);
    char *copy = guarded_copy(v->text, len);
    struct msrp_uri u, before;

    /* *out is left alone on error. */
    memset(&u, 0xa5, sizeof(u));
    memcpy(&before, &u, sizeof(u));
    enum msrp_uri_error e = msrp_uri_parse(copy, len, &u);
    ck_assert_msg(e == v->want, "\"%s\": error %d (%s), want %d (%s)", v->text, e,
                  msrp_uri_error_text(e), v->want, msrp_uri_error_text(v->want));
    ck_assert_msg(memcmp(&u, &before, sizeof(u)) == 0, "\"%s\": *out changed on error", v->text);
    guarded_free(copy, len);
}
END_TEST

/* MSRP_URI_MAX bytes pass; one more fails, whatever the bytes are. */
static const struct {
    size_t len;
    bool valid_shape;
    enum msrp_uri_error want;
} long_vecs[] = {
    {MSRP_URI_MAX, true, MSRP_URI_OK},
    {MSRP_URI_MAX + 1, true, MSRP_URI_E_TOO_LONG},
    {MSRP_URI_MAX + 1, false, MSRP_URI_E_TOO_LONG},
    {4 * MSRP_URI_MAX, true, MSRP_URI_E_TOO_LONG},
};

/* "msrp://h/aaaa...;tcp" of exactly len bytes, or len bytes of "x" when !valid_shape. */
static char *make_long_uri(size_t len, bool valid_shape)
{
    char *s = malloc(len + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, valid_shape ? 'a' : 'x', len);
    if (valid_shape) {
        memcpy(s, "msrp://h/", 9);
        memcpy(s + len - 4, ";tcp", 4);
    }
    s[len] = '\0';
    return s;
}

START_TEST(too_long)
{
    size_t len = long_vecs[_i].len;
    char *text = make_long_uri(len, long_vecs[_i].valid_shape);
    char *copy = guarded_copy(text, len);
    struct msrp_uri u;
    ck_assert_int_eq(msrp_uri_parse(copy, len, &u), long_vecs[_i].want);

    /* The same URI as the only element of a path value. */
    struct msrp_span rest = msrp_span_make(copy, len);
    int r = msrp_uri_list_next(&rest, &u);
    ck_assert_int_eq(r, long_vecs[_i].want == MSRP_URI_OK ? 1 : -(int)long_vecs[_i].want);
    guarded_free(copy, len);
    free(text);
}
END_TEST

START_TEST(error_texts)
{
    for (int e = MSRP_URI_OK; e <= MSRP_URI_E_TOO_LONG; e++) {
        const char *t = msrp_uri_error_text((enum msrp_uri_error)e);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_gt(strlen(t), 0);
        for (int f = MSRP_URI_OK; f < e; f++)
            ck_assert_str_ne(t, msrp_uri_error_text((enum msrp_uri_error)f));
    }
    ck_assert_ptr_nonnull(msrp_uri_error_text((enum msrp_uri_error)99));
}
END_TEST

/* ---- Format: canonical text and round trips ---- */

static const struct {
    const char *in;
    const char *canonical;
} format_vecs[] = {
    {"msrp://atlanta.example.com:7654/jshA7weztas;tcp",
     "msrp://atlanta.example.com:7654/jshA7weztas;tcp"},
    {"msrps://alice@intra.example.com;tcp", "msrps://alice@intra.example.com;tcp"},
    {"MSRPS://alice@Intra.Example.COM;TCP", "msrps://alice@Intra.Example.COM;TCP"},
    {"MsRp://h;tcp", "msrp://h;tcp"},
    {"msrp://[2001:DB8::1]:2855/s1;tcp;x=y", "msrp://[2001:DB8::1]:2855/s1;tcp;x=y"},
    {"msrp://[::ffff:192.0.2.1];tcp", "msrp://[::ffff:192.0.2.1];tcp"},
    {"msrp://192.0.2.1:0/a/b;tcp", "msrp://192.0.2.1:0/a/b;tcp"},
    {"msrp://h:00080/s;tcp", "msrp://h:80/s;tcp"},
    {"msrp://h:65535;tcp", "msrp://h:65535;tcp"},
    {"msrp://@h;tcp", "msrp://h;tcp"},
    {"msrp://user:pw;x=1@%61b!c/s+=;ws;a;b=c", "msrp://user:pw;x=1@%61b!c/s+=;ws;a;b=c"},
};

START_TEST(format_canonical)
{
    const char *in = format_vecs[_i].in, *want = format_vecs[_i].canonical;
    struct msrp_uri u, v;
    char *copy, *copy2;
    char buf[MSRP_URI_MAX + 1];

    ck_assert_int_eq(parse_guarded(in, &u, &copy), MSRP_URI_OK);
    size_t n = msrp_uri_format(&u, buf, sizeof(buf));
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_str_eq(buf, want);

    /* parse -> format -> parse gives the same fields, and the same text again. */
    ck_assert_int_eq(parse_guarded(buf, &v, &copy2), MSRP_URI_OK);
    ck_assert_int_eq(v.secure, u.secure);
    ck_assert_msg(msrp_span_eq(v.userinfo, u.userinfo), "%s: userinfo", in);
    ck_assert_msg(msrp_span_eq(v.host, u.host), "%s: host", in);
    ck_assert_int_eq(v.host_type, u.host_type);
    ck_assert_int_eq(v.has_port, u.has_port);
    ck_assert_int_eq(v.port, u.port);
    ck_assert_msg(msrp_span_eq(v.session_id, u.session_id), "%s: session-id", in);
    ck_assert_msg(msrp_span_eq(v.transport, u.transport), "%s: transport", in);
    ck_assert_msg(msrp_span_eq(v.params, u.params), "%s: params", in);
    ck_assert_msg(msrp_uri_equal(&u, &v) && msrp_uri_equal(&v, &u), "%s: not equal", in);
    char again[MSRP_URI_MAX + 1];
    ck_assert_uint_eq(msrp_uri_format(&v, again, sizeof(again)), n);
    ck_assert_str_eq(again, buf);

    guarded_free(copy2, n);
    guarded_free(copy, strlen(in));
}
END_TEST

/* Every field of every Parse vector survives parse -> format -> parse. */
START_TEST(format_roundtrip)
{
    const char *in = parse_vecs[_i].text;
    struct msrp_uri u, v;
    char *copy, *copy2;
    char buf[MSRP_URI_MAX + 1];

    ck_assert_int_eq(parse_guarded(in, &u, &copy), MSRP_URI_OK);
    size_t n = msrp_uri_format(&u, buf, sizeof(buf));
    ck_assert_uint_lt(n, sizeof(buf));
    ck_assert_int_eq(parse_guarded(buf, &v, &copy2), MSRP_URI_OK);
    assert_same_fields(&u, &v, in);
    ck_assert(msrp_uri_equal(&u, &v));
    guarded_free(copy2, n);
    guarded_free(copy, strlen(in));
}
END_TEST

/* snprintf semantics at every capacity: the full length back, a NUL, nothing past cap. */
START_TEST(format_truncation)
{
    const char *want = format_vecs[_i].canonical;
    size_t full = strlen(want);
    struct msrp_uri u;
    char *copy;

    ck_assert_int_eq(parse_guarded(format_vecs[_i].in, &u, &copy), MSRP_URI_OK);
    ck_assert_uint_eq(msrp_uri_format(&u, NULL, 0), full);
    for (size_t cap = 0; cap <= full + 2; cap++) {
        char buf[MSRP_URI_MAX + 8];
        memset(buf, '#', sizeof(buf));
        ck_assert_uint_eq(msrp_uri_format(&u, buf, cap), full);
        if (cap > 0) {
            size_t kept = full < cap ? full : cap - 1;
            ck_assert_msg(memcmp(buf, want, kept) == 0, "cap %zu: wrong prefix", cap);
            ck_assert_int_eq(buf[kept], '\0');
        }
        for (size_t k = cap; k < sizeof(buf); k++)
            ck_assert_msg(buf[k] == '#', "cap %zu: byte %zu written", cap, k);
    }
    guarded_free(copy, strlen(format_vecs[_i].in));
}
END_TEST

/* ---- Compare: RFC 4975 section 6.1 ---- */

static const struct {
    const char *a, *b;
    bool equal;
} compare_vecs[] = {
    /* identical */
    {"msrp://atlanta.example.com:7654/jshA7weztas;tcp",
     "msrp://atlanta.example.com:7654/jshA7weztas;tcp", true},
    /* scheme: must match, compared case-insensitively */
    {"msrp://h:1/s;tcp", "msrps://h:1/s;tcp", false},
    {"MSRP://h:1/s;tcp", "msrp://h:1/s;tcp", true},
    {"msrps://h:1/s;tcp", "mSrPs://h:1/s;tcp", true},
    /* host: case-insensitive */
    {"msrp://Atlanta.Example.COM:7654/s;tcp", "msrp://atlanta.example.com:7654/s;tcp", true},
    {"msrp://atlanta.example.com:7654/s;tcp", "msrp://biloxi.example.com:7654/s;tcp", false},
    {"msrp://h:1/s;tcp", "msrp://hh:1/s;tcp", false},
    {"msrp://example.com;tcp", "msrp://example.co;tcp", false},
    /* host: percent-encoded unreserved characters are decoded first */
    {"msrp://%61tlanta.example.com/s;tcp", "msrp://atlanta.example.com/s;tcp", true},
    {"msrp://%41TLANTA.example.com/s;tcp", "msrp://atlanta.example.com/s;tcp", true},
    {"msrp://a%2Db;tcp", "msrp://a-b;tcp", true},
    {"msrp://a%7eb;tcp", "msrp://a~b;tcp", true},
    {"msrp://a%2fb;tcp", "msrp://a%2Fb;tcp", true},
    {"msrp://a%21b;tcp", "msrp://a!b;tcp", false},
    {"msrp://a%2fb;tcp", "msrp://a%2eb;tcp", false},
    {"msrp://%31.2.3.4;tcp", "msrp://1.2.3.4;tcp", true},
    /* host: IP literals compare by address */
    {"msrp://[2001:db8::1]:2855/s1;tcp", "msrp://[2001:0db8:0:0:0:0:0:1]:2855/s1;tcp", true},
    {"msrp://[2001:DB8::1]/s;tcp", "msrp://[2001:db8::1]/s;tcp", true},
    {"msrp://[::ffff:192.0.2.1];tcp", "msrp://[::ffff:c000:201];tcp", true},
    {"msrp://[::1];tcp", "msrp://[::2];tcp", false},
    {"msrp://[::ffff:192.0.2.1];tcp", "msrp://192.0.2.1;tcp", false},
    {"msrp://[::1];tcp", "msrp://localhost;tcp", false},
    {"msrp://192.0.2.1;tcp", "msrp://192.0.2.10;tcp", false},
    {"msrp://192.0.2.1:9;tcp", "msrp://192.0.2.1:9;tcp", true},
    /* userinfo is not significant */
    {"msrps://alice@intra.example.com;tcp", "msrps://bob@intra.example.com;tcp", true},
    {"msrps://alice@intra.example.com;tcp", "msrps://intra.example.com;tcp", true},
    /* port: must match; a URI with a port never equals one without, even 2855 */
    {"msrp://h:2855/s;tcp", "msrp://h/s;tcp", false},
    {"msrp://h:1/s;tcp", "msrp://h:2/s;tcp", false},
    {"msrp://h:080/s;tcp", "msrp://h:80/s;tcp", true},
    {"msrp://[::1]:2855;tcp", "msrp://[::1];tcp", false},
    /* session-id: case-sensitive; absent never equals present */
    {"msrp://h/abc;tcp", "msrp://h/ABC;tcp", false},
    {"msrp://h/abc;tcp", "msrp://h;tcp", false},
    {"msrp://h/abc;tcp", "msrp://h/abc/;tcp", false},
    {"msrp://h/a/b;tcp", "msrp://h/a/b;tcp", true},
    /* transport: case-insensitive, must match */
    {"msrp://h/s;TCP", "msrp://h/s;tcp", true},
    {"msrp://h/s;tcp", "msrp://h/s;ws", false},
    {"msrp://h/s;tcp", "msrp://h/s;tcpx", false},
    /* other parameters are not significant */
    {"msrp://h/s;tcp;a=b", "msrp://h/s;tcp", true},
    {"msrp://h/s;tcp;a=b", "msrp://h/s;tcp;c;d=e", true},
};

START_TEST(compare)
{
    const char *ta = compare_vecs[_i].a, *tb = compare_vecs[_i].b;
    struct msrp_uri a, b;
    char *ca, *cb;

    ck_assert_int_eq(parse_guarded(ta, &a, &ca), MSRP_URI_OK);
    ck_assert_int_eq(parse_guarded(tb, &b, &cb), MSRP_URI_OK);
    ck_assert_msg(msrp_uri_equal(&a, &b) == compare_vecs[_i].equal, "%s vs %s: want %s", ta, tb,
                  compare_vecs[_i].equal ? "equal" : "different");
    ck_assert_msg(msrp_uri_equal(&b, &a) == compare_vecs[_i].equal, "%s vs %s: not symmetric", tb,
                  ta);
    ck_assert(msrp_uri_equal(&a, &a));
    ck_assert(msrp_uri_equal(&b, &b));
    guarded_free(cb, strlen(tb));
    guarded_free(ca, strlen(ta));
}
END_TEST

/* A struct built by hand with a host inet_pton refuses still equals itself. */
START_TEST(compare_handmade)
{
    struct msrp_uri a = {0};
    a.host = MSRP_SPAN_LIT("not-an-address");
    a.host_type = MSRP_HOST_IPV6;
    a.transport = MSRP_SPAN_LIT("tcp");
    struct msrp_uri b = a;
    b.host = MSRP_SPAN_LIT("NOT-an-address");
    ck_assert(msrp_uri_equal(&a, &a));
    ck_assert(msrp_uri_equal(&a, &b));
    b.host = MSRP_SPAN_LIT("other");
    ck_assert(!msrp_uri_equal(&a, &b));
}
END_TEST

/* ---- List: path header values (RFC 4975 section 9, RFC 4976 section 10) ---- */

struct list_vec {
    const char *value;
    int n_ok;            /* URIs returned before the end or the error */
    int last;            /* what the call after them returns: 0 or -error */
    const char *uris[3]; /* the URIs expected, in order */
};

/* Kept by hand: clang-format would put each field of a vector on a line of its own. */
/* clang-format off */
static const struct list_vec list_vecs[] = {
    {"", 0, 0, {NULL}},
    {"msrp://atlanta.example.com:7654/jshA7weztas;tcp", 1, 0,
     {"msrp://atlanta.example.com:7654/jshA7weztas;tcp"}},
    {"msrp://alicepc.example.com:7777/iau39soe2843z;tcp "
     "msrp://bob.example.com:8888/9di4eae923wzd;tcp", 2, 0,
     {"msrp://alicepc.example.com:7777/iau39soe2843z;tcp",
      "msrp://bob.example.com:8888/9di4eae923wzd;tcp"}},
    /* a relayed path of three hops, as RFC 4976 section 7.2 builds them */
    {"msrps://a.example.com:9000/x1;tcp msrps://r.example.net:9000/x2;tcp "
     "msrps://b.example.net:8145/x3;tcp", 3, 0,
     {"msrps://a.example.com:9000/x1;tcp", "msrps://r.example.net:9000/x2;tcp",
      "msrps://b.example.net:8145/x3;tcp"}},
    /* lenient: runs of SP and HTAB between URIs */
    {"msrp://a;tcp  \tmsrp://b/s;tcp\t\tmsrp://[::1]:1;tcp", 3, 0,
     {"msrp://a;tcp", "msrp://b/s;tcp", "msrp://[::1]:1;tcp"}},
    /* but whitespace must separate two URIs: none at either end */
    {" msrp://a;tcp", 0, -MSRP_URI_E_SCHEME, {NULL}},
    {"\tmsrp://a;tcp", 0, -MSRP_URI_E_SCHEME, {NULL}},
    {"msrp://a;tcp ", 1, -MSRP_URI_E_SCHEME, {"msrp://a;tcp"}},
    {"msrp://a;tcp msrp://b;tcp \t", 2, -MSRP_URI_E_SCHEME, {"msrp://a;tcp", "msrp://b;tcp"}},
    {"   ", 0, -MSRP_URI_E_SCHEME, {NULL}},
    /* other separators are not separators: they end up inside a URI */
    {"msrp://a;tcp,msrp://b;tcp", 0, -MSRP_URI_E_TRANSPORT, {NULL}},
    {"msrp://a;tcp\r\nmsrp://b;tcp", 0, -MSRP_URI_E_TRANSPORT, {NULL}},
    {"msrp://a/s;tcp;x=1,msrp://b;tcp", 0, -MSRP_URI_E_PARAM, {NULL}},
    /* a bad URI in the middle stops the walk with its error */
    {"msrp://a;tcp msrp://b:99999;tcp msrp://c;tcp", 1, -MSRP_URI_E_PORT, {"msrp://a;tcp"}},
    {"msrp://a;tcp bad msrp://c;tcp", 1, -MSRP_URI_E_SCHEME, {"msrp://a;tcp"}},
    {"msrp://a;tcp msrp://b;tcp msrp://c/;tcp", 2, -MSRP_URI_E_SESSION_ID,
     {"msrp://a;tcp", "msrp://b;tcp"}},
    {"msrp://a;tcp msrp://b", 1, -MSRP_URI_E_TRANSPORT, {"msrp://a;tcp"}},
};
/* clang-format on */

START_TEST(list_walk)
{
    const struct list_vec *v = &list_vecs[_i];
    size_t len = strlen(v->value);
    char *copy = guarded_copy(v->value, len);
    struct msrp_span rest = msrp_span_make(copy, len);
    struct msrp_uri u;

    for (int k = 0; k < v->n_ok; k++) {
        int r = msrp_uri_list_next(&rest, &u);
        ck_assert_msg(r == 1, "\"%s\": call %d returned %d", v->value, k + 1, r);
        assert_uri_inside(&u, copy, len);
        struct msrp_uri want;
        const char *wt = v->uris[k];
        ck_assert_int_eq(msrp_uri_parse(wt, strlen(wt), &want), MSRP_URI_OK);
        ck_assert_msg(msrp_uri_equal(&u, &want), "\"%s\": URI %d is not %s", v->value, k + 1, wt);
        ck_assert_msg(msrp_span_eq(u.host, want.host), "\"%s\": URI %d host", v->value, k + 1);
        ck_assert_msg(msrp_span_eq(u.params, want.params), "\"%s\": URI %d params", v->value,
                      k + 1);
    }

    struct msrp_span before = rest;
    int r = msrp_uri_list_next(&rest, &u);
    ck_assert_msg(r == v->last, "\"%s\": last call returned %d, want %d", v->value, r, v->last);
    if (r < 0) {
        /* An error leaves *rest at the bad URI, so a caller can point at it. */
        ck_assert_ptr_eq(rest.ptr, before.ptr);
        ck_assert_uint_eq(rest.len, before.len);
    } else {
        ck_assert_uint_eq(rest.len, 0);
        ck_assert_int_eq(msrp_uri_list_next(&rest, &u), 0);
    }

    int count = msrp_uri_list_count(msrp_span_make(copy, len));
    ck_assert_int_eq(count, v->last < 0 ? v->last : v->n_ok);
    guarded_free(copy, len);
}
END_TEST

START_TEST(list_null_empty)
{
    struct msrp_span rest = {NULL, 0};
    struct msrp_uri u;
    ck_assert_int_eq(msrp_uri_list_next(&rest, &u), 0);
    ck_assert_int_eq(msrp_uri_list_count(rest), 0);
}
END_TEST

Suite *make_uri_suite(void)
{
    Suite *s = suite_create("uri");

    TCase *tc = tcase_create("Parse");
    tcase_add_loop_test(tc, parse_valid, 0, N_ELEMS(parse_vecs));
    tcase_add_loop_test(tc, parse_prefixes, 0, N_ELEMS(parse_vecs));
    tcase_add_test(tc, parse_null_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("Malformed");
    tcase_add_loop_test(tc, malformed, 0, N_ELEMS(bad_vecs));
    tcase_add_loop_test(tc, too_long, 0, N_ELEMS(long_vecs));
    tcase_add_test(tc, error_texts);
    suite_add_tcase(s, tc);

    tc = tcase_create("Format");
    tcase_add_loop_test(tc, format_canonical, 0, N_ELEMS(format_vecs));
    tcase_add_loop_test(tc, format_roundtrip, 0, N_ELEMS(parse_vecs));
    tcase_add_loop_test(tc, format_truncation, 0, N_ELEMS(format_vecs));
    suite_add_tcase(s, tc);

    tc = tcase_create("Compare");
    tcase_add_loop_test(tc, compare, 0, N_ELEMS(compare_vecs));
    tcase_add_test(tc, compare_handmade);
    suite_add_tcase(s, tc);

    tc = tcase_create("List");
    tcase_add_loop_test(tc, list_walk, 0, N_ELEMS(list_vecs));
    tcase_add_test(tc, list_null_empty);
    suite_add_tcase(s, tc);

    return s;
}
