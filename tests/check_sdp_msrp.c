/*
 * check_sdp_msrp.c - SDP offer/answer for MSRP (src/sip/sdp_msrp.c): reading descriptions (the
 * RFC 4975 section 8.7 example, and one malformed SDP per rule, each from a guarded copy so an
 * over-read crashes), offers, answers, the offerer reading the answer, and a matrix of
 * offer/answer round trips in which exactly one side must end up connecting.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sdp_msrp.h"
#include "suites.h"
#include "testutil.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Parses text (LF line ends become CRLF) from a guarded copy. */
static enum sip_sdp_error parse_lf(const char *lf, struct sip_sdp_msrp_desc *d, char *why,
                                   size_t wc)
{
    size_t n;
    char *crlf = crlf_from_lf(lf, &n);
    char *g = guarded_copy(crlf, n);
    enum sip_sdp_error e = sip_sdp_msrp_parse(g, n, d, why, wc);
    guarded_free(g, n);
    free(crlf);
    return e;
}

static enum sip_sdp_error parse_crlf(const char *text, struct sip_sdp_msrp_desc *d)
{
    size_t n = strlen(text);
    char *g = guarded_copy(text, n);
    char why[256];
    enum sip_sdp_error e = sip_sdp_msrp_parse(g, n, d, why, sizeof why);
    guarded_free(g, n);
    return e;
}

static struct sip_sdp_msrp_desc *new_desc(void)
{
    struct sip_sdp_msrp_desc *d = calloc(1, sizeof *d);
    ck_assert_ptr_nonnull(d);
    return d;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* RFC 4975 section 8.7, Figure 9. */
static const char *fig9 = "v=0\n"
                          "o=usera 2890844526 2890844527 IN IP4 alice.example.com\n"
                          "s= -\n"
                          "c=IN IP4 alice.example.com\n"
                          "t=0 0\n"
                          "m=message 7394 TCP/MSRP *\n"
                          "a=accept-types:message/cpim text/plain text/html\n"
                          "a=path:msrp://alice.example.com:7394/2s93i93idj;tcp\n";

START_TEST(test_parse_rfc_example)
{
    struct sip_sdp_msrp_desc *d = new_desc();
    char why[256];
    ck_assert_int_eq(parse_lf(fig9, d, why, sizeof why), SIP_SDP_OK);
    ck_assert(!d->tls);
    ck_assert_uint_eq(d->port, 7394);
    ck_assert_str_eq(d->c_addr, "alice.example.com");
    ck_assert_str_eq(d->c_addrtype, "IP4");
    ck_assert_str_eq(d->path, "msrp://alice.example.com:7394/2s93i93idj;tcp");
    ck_assert_int_eq(d->path_count, 1);
    ck_assert_str_eq(d->accept_types, "message/cpim text/plain text/html");
    ck_assert_str_eq(d->accept_wrapped_types, "");
    ck_assert(!d->has_max_size);
    ck_assert_int_eq(d->setup, SIP_SDP_SETUP_NONE);
    ck_assert(!d->cema);
    ck_assert_int_eq(d->msrp_index, 0);
    ck_assert_int_eq(d->media_count, 1);
    ck_assert_str_eq(d->mlines[0], "message TCP/MSRP *");
    free(d);
}
END_TEST

START_TEST(test_parse_full)
{
    struct sip_sdp_msrp_desc *d = new_desc();
    char why[256];
    const char *sdp = "v=0\n"
                      "o=- 1 1 IN IP4 192.0.2.9\n"
                      "s=-\n"
                      "c=IN IP4 192.0.2.9\n"
                      "t=0 0\n"
                      "m=audio 49170 RTP/AVP 0 8\n"
                      "m=message 2855 TCP/TLS/MSRP *\n"
                      "c=IN IP6 2001:db8::7\n"
                      "a=accept-types:message/cpim\n"
                      "a=accept-wrapped-types:text/plain text/html;charset=\"a b\"\n"
                      "a=max-size:18446744073709551615\n"
                      "a=path:msrps://r.example:9000/a;tcp msrps://[2001:db8::7]:2855/b;tcp\n"
                      "a=setup:actpass\n"
                      "a=msrp-cema\n"
                      "a=sendonly\n";
    ck_assert_int_eq(parse_lf(sdp, d, why, sizeof why), SIP_SDP_OK);
    ck_assert(d->tls);
    ck_assert_uint_eq(d->port, 2855);
    /* The media-level c= wins over the session's. */
    ck_assert_str_eq(d->c_addr, "2001:db8::7");
    ck_assert_str_eq(d->c_addrtype, "IP6");
    ck_assert_int_eq(d->path_count, 2);
    ck_assert_str_eq(d->accept_wrapped_types, "text/plain text/html;charset=\"a b\"");
    ck_assert(d->has_max_size);
    ck_assert_uint_eq(d->max_size, UINT64_MAX);
    ck_assert_int_eq(d->setup, SIP_SDP_SETUP_ACTPASS);
    ck_assert(d->cema);
    ck_assert_int_eq(d->msrp_index, 1);
    ck_assert_int_eq(d->media_count, 2);
    ck_assert_str_eq(d->mlines[0], "audio RTP/AVP 0");
    free(d);
}
END_TEST

START_TEST(test_parse_declined)
{
    struct sip_sdp_msrp_desc *d = new_desc();
    char why[256];
    /* A declined stream needs neither path nor accept-types nor c=. */
    ck_assert_int_eq(parse_lf("v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nm=message 0 TCP/MSRP *\n", d,
                              why, sizeof why),
                     SIP_SDP_OK);
    ck_assert_uint_eq(d->port, 0);
    ck_assert_str_eq(d->path, "");
    free(d);
}
END_TEST

#define HEAD "v=0\no=- 1 1 IN IP4 h.example\ns=-\nc=IN IP4 h.example\nt=0 0\n"
#define PATH "a=path:msrp://h.example:7000/s;tcp\n"
#define TYPES "a=accept-types:text/plain\n"

static const struct {
    const char *sdp;
    enum sip_sdp_error want;
    const char *why_has; /* a piece of the reason */
} bad_cases[] = {
    /* libosip2 itself refuses "a=name:" with an empty value (three cases below). */
    {"", SIP_SDP_E_SYNTAX, "parse"},
    {"hello world\n", SIP_SDP_E_SYNTAX, "parse"},
    {"v=0\n", SIP_SDP_E_SYNTAX, "parse"},
    {HEAD "m=audio 1 RTP/AVP 0\n", SIP_SDP_E_NO_MSRP, "8.1"},
    {HEAD "m=message 7000 RTP/AVP *\n" PATH TYPES, SIP_SDP_E_NO_MSRP, "8.1"},
    {HEAD "m=text 7000 TCP/MSRP *\n" PATH TYPES, SIP_SDP_E_NO_MSRP, "8.1"},
    {HEAD "m=message 7000 tcp/msrp *\n" PATH TYPES, SIP_SDP_E_NO_MSRP, "8.1"},
    {HEAD "m=message 7000 TCP/MSRP 0\n" PATH TYPES, SIP_SDP_E_FORMAT, "8.1"},
    {HEAD "m=message 7000 TCP/MSRP * 0\n" PATH TYPES, SIP_SDP_E_FORMAT, "8.1"},
    {HEAD "m=message 70000 TCP/MSRP *\n" PATH TYPES, SIP_SDP_E_PORT, "65535"},
    {HEAD "m=message 7x TCP/MSRP *\n" PATH TYPES, SIP_SDP_E_PORT, "65535"},
    {HEAD "m=message 7000 TCP/MSRP *\n" TYPES, SIP_SDP_E_NO_PATH, "8.2"},
    {HEAD "m=message 7000 TCP/MSRP *\na=path:msrp://h.example/s;tcp\n" TYPES, SIP_SDP_E_PATH,
     "explicit port"},
    {HEAD "m=message 7000 TCP/MSRP *\na=path:http://h.example:7000/s\n" TYPES, SIP_SDP_E_PATH,
     "8.2"},
    {HEAD "m=message 7000 TCP/MSRP *\na=path:msrp://h.example:7000/s\n" TYPES, SIP_SDP_E_PATH,
     "8.2"},
    {HEAD "m=message 7000 TCP/MSRP *\na=path:\n" TYPES, SIP_SDP_E_SYNTAX, "parse"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH PATH TYPES, SIP_SDP_E_PATH, "twice"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH, SIP_SDP_E_NO_ACCEPT, "8.6"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH "a=accept-types:text\n", SIP_SDP_E_TYPES, "8.6"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH "a=accept-types:*/plain\n", SIP_SDP_E_TYPES,
     "8.6"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH "a=accept-types:\n", SIP_SDP_E_SYNTAX, "parse"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH TYPES TYPES, SIP_SDP_E_TYPES, "twice"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH TYPES "a=accept-wrapped-types:a/b c\n",
     SIP_SDP_E_TYPES, "8.6"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH TYPES "a=max-size:12a\n", SIP_SDP_E_MAX_SIZE,
     "8.6"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH TYPES "a=max-size:\n", SIP_SDP_E_SYNTAX, "parse"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH TYPES "a=max-size:18446744073709551616\n",
     SIP_SDP_E_MAX_SIZE, "8.6"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH TYPES "a=max-size:1\na=max-size:2\n",
     SIP_SDP_E_MAX_SIZE, "repeated"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH TYPES "a=setup:both\n", SIP_SDP_E_SETUP, "4145"},
    {HEAD "m=message 7000 TCP/MSRP *\n" PATH TYPES "a=setup:active\na=setup:active\n",
     SIP_SDP_E_SETUP, "repeated"},
    {"v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nm=message 7000 TCP/MSRP *\n" PATH TYPES,
     SIP_SDP_E_NO_C, "8.1"},
    {HEAD "m=a 0 X 0\nm=a 0 X 0\nm=a 0 X 0\nm=a 0 X 0\nm=a 0 X 0\nm=a 0 X 0\nm=a 0 X 0\n"
          "m=a 0 X 0\nm=message 7000 TCP/MSRP *\n" PATH TYPES,
     SIP_SDP_E_TOO_LONG, "m= lines"},
};

START_TEST(test_parse_bad)
{
    struct sip_sdp_msrp_desc *d = new_desc();
    char why[256];
    enum sip_sdp_error e = parse_lf(bad_cases[_i].sdp, d, why, sizeof why);
    ck_assert_msg(e == bad_cases[_i].want, "case %d: got %d (%s), want %d", _i, e, why,
                  bad_cases[_i].want);
    ck_assert_msg(strstr(why, bad_cases[_i].why_has), "case %d: reason \"%s\" lacks \"%s\"", _i,
                  why, bad_cases[_i].why_has);
    ck_assert_str_ne(sip_sdp_error_text(e), "unknown SDP error");
    free(d);
}
END_TEST

START_TEST(test_parse_nul_and_null)
{
    struct sip_sdp_msrp_desc *d = new_desc();
    char why[64];
    static const char with_nul[] = "v=0\r\n\0o=- 1 1 IN IP4 h\r\n";
    ck_assert_int_eq(sip_sdp_msrp_parse(with_nul, sizeof with_nul - 1, d, why, sizeof why),
                     SIP_SDP_E_SYNTAX);
    ck_assert_int_eq(sip_sdp_msrp_parse(NULL, 0, d, NULL, 0), SIP_SDP_E_SYNTAX);
    /* A prefix of a good SDP is read as that prefix only (len bounds the read). */
    size_t n;
    char *crlf = crlf_from_lf(fig9, &n);
    ck_assert_int_eq(sip_sdp_msrp_parse(crlf, n - strlen("a=path:msrp://alice.example.com:7394/"
                                                         "2s93i93idj;tcp\r\n"), d, why, sizeof why),
                     SIP_SDP_E_NO_PATH);
    /* Cut right after a CR (libosip2 alone reads past the end there), and with no final
     * CRLF at all: both read from guarded copies. */
    const char *cut = strstr(crlf, "*\r\n") + 2;
    char *g = guarded_copy(crlf, (size_t)(cut - crlf));
    ck_assert_int_eq(sip_sdp_msrp_parse(g, (size_t)(cut - crlf), d, why, sizeof why),
                     SIP_SDP_E_NO_PATH);
    guarded_free(g, (size_t)(cut - crlf));
    g = guarded_copy(crlf, n - 2);
    ck_assert_int_eq(sip_sdp_msrp_parse(g, n - 2, d, why, sizeof why), SIP_SDP_OK);
    ck_assert_str_eq(d->path, "msrp://alice.example.com:7394/2s93i93idj;tcp");
    guarded_free(g, n - 2);
    free(crlf);
    free(d);
}
END_TEST

/* Random bytes and random cuts of a good SDP never crash and give a defined answer. */
START_TEST(test_parse_garbage)
{
    struct sip_sdp_msrp_desc *d = new_desc();
    uint64_t st = 0x5d9f1ull + (uint64_t)_i;
    size_t n;
    char *crlf = crlf_from_lf(fig9, &n);
    for (int k = 0; k < 200; k++) {
        char buf[400];
        size_t len = (size_t)(test_rand(&st) % n);
        memcpy(buf, crlf, len);
        for (int j = 0; j < 3 && len; j++)
            buf[test_rand(&st) % len] = (char)(test_rand(&st) % 256);
        char *g = guarded_copy(buf, len);
        enum sip_sdp_error e = sip_sdp_msrp_parse(g, len, d, NULL, 0);
        ck_assert_int_ge(e, SIP_SDP_OK);
        ck_assert_int_le(e, SIP_SDP_E_NO_C);
        guarded_free(g, len);
    }
    free(crlf);
    free(d);
}
END_TEST

/* ---- format-lists ------------------------------------------------------------------------- */

static const struct {
    const char *types, *allowed;
    bool within;
} within_cases[] = {
    {"text/plain", "text/plain", true},
    {"TEXT/Plain", "text/plain", true},
    {"text/plain;charset=utf-8", "text/plain", true},
    {"text/plain", "text/plain;charset=utf-8", true},
    {"text/plain", "text/*", true},
    {"text/plain", "*", true},
    {"text/*", "text/plain", false},
    {"text/*", "text/*", true},
    {"*", "text/*", false},
    {"*", "*", true},
    {"text/plain image/png", "text/plain", false},
    {"text/plain message/cpim", "message/cpim text/plain", true},
    {"", "*", false},
    {"bad", "*", false},
};

START_TEST(test_types_within)
{
    ck_assert_msg(sip_sdp_types_within(within_cases[_i].types, within_cases[_i].allowed) ==
                      within_cases[_i].within,
                  "case %d", _i);
}
END_TEST

/* ---- offers ------------------------------------------------------------------------------- */

static struct sip_sdp_msrp_local local_of(const char *path, const char *types)
{
    return (struct sip_sdp_msrp_local){.path = path, .accept_types = types, .user = "ua",
                                       .sess_id = 7, .sess_version = 8};
}

START_TEST(test_offer_text)
{
    struct sip_sdp_msrp_local l = local_of("msrp://127.0.0.1:7001/abc;tcp", "text/plain");
    char out[1024], why[200];
    size_t len;
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, &len, why, sizeof why), 0);
    ck_assert_str_eq(out, "v=0\r\no=ua 7 8 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                          "t=0 0\r\nm=message 7001 TCP/MSRP *\r\na=accept-types:text/plain\r\n"
                          "a=path:msrp://127.0.0.1:7001/abc;tcp\r\n");
    ck_assert_uint_eq(len, strlen(out));

    /* Every optional attribute, over TLS and IPv6, read back. */
    l = local_of("msrps://[::1]:7002/x;tcp", "message/cpim");
    l.accept_wrapped_types = "text/plain";
    l.max_size = 4096;
    l.setup = SIP_SDP_SETUP_ACTIVE;
    l.cema = true;
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, &len, why, sizeof why), 0);
    struct sip_sdp_msrp_desc *d = new_desc();
    ck_assert_int_eq(parse_crlf(out, d), SIP_SDP_OK);
    ck_assert(d->tls);
    ck_assert_uint_eq(d->port, 7002);
    ck_assert_str_eq(d->c_addrtype, "IP6");
    ck_assert_str_eq(d->c_addr, "::1");
    ck_assert_str_eq(d->accept_wrapped_types, "text/plain");
    ck_assert_uint_eq(d->max_size, 4096);
    ck_assert_int_eq(d->setup, SIP_SDP_SETUP_ACTIVE);
    ck_assert(d->cema);
    free(d);
}
END_TEST

START_TEST(test_offer_rules)
{
    char out[1024], why[200];
    struct sip_sdp_msrp_desc *d = new_desc();
    /* RFC 6714 section 4.3 note: no setup:passive (nor holdconn) in an offer. */
    struct sip_sdp_msrp_local l = local_of("msrp://127.0.0.1:7001/abc;tcp", "text/plain");
    l.setup = SIP_SDP_SETUP_PASSIVE;
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, NULL, why, sizeof why), EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "6714"));
    l.setup = SIP_SDP_SETUP_HOLDCONN;
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, NULL, why, sizeof why), EINVAL);

    /* RFC 6714 section 4.2 item 2: CEMA without a relay carries a=setup (actpass by default). */
    l.setup = SIP_SDP_SETUP_NONE;
    l.cema = true;
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, NULL, why, sizeof why), 0);
    ck_assert_int_eq(parse_crlf(out, d), SIP_SDP_OK);
    ck_assert_int_eq(d->setup, SIP_SDP_SETUP_ACTPASS);
    ck_assert(d->cema);

    /* Item 3: through a relay, c=/m= are the relay's and setup is actpass. */
    l = local_of("msrps://127.0.0.2:2855/r;tcp msrps://127.0.0.1:7001/abc;tcp", "text/plain");
    l.cema = true;
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, NULL, why, sizeof why), 0);
    ck_assert_int_eq(parse_crlf(out, d), SIP_SDP_OK);
    ck_assert_str_eq(d->c_addr, "127.0.0.2");
    ck_assert_uint_eq(d->port, 2855);
    ck_assert(d->tls);
    ck_assert_int_eq(d->setup, SIP_SDP_SETUP_ACTPASS);
    l.setup = SIP_SDP_SETUP_ACTIVE;
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, NULL, why, sizeof why), EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "4.2 item 3"));

    /* Without CEMA, c=/m= are the endpoint's own URI (RFC 4975 section 8.1), relay or not. */
    l.cema = false;
    l.setup = SIP_SDP_SETUP_NONE;
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, NULL, why, sizeof why), 0);
    ck_assert_int_eq(parse_crlf(out, d), SIP_SDP_OK);
    ck_assert_str_eq(d->c_addr, "127.0.0.1");
    ck_assert_uint_eq(d->port, 7001);
    ck_assert_int_eq(d->setup, SIP_SDP_SETUP_NONE);
    ck_assert(!d->cema);

    /* Bad local values. */
    static const char *const bad_paths[] = {"msrp://127.0.0.1/abc;tcp", "", "msrp://h:1/a",
                                            "msrp://h:1/a;tcp\r\na=x"};
    for (int i = 0; i < NELEM(bad_paths); i++) {
        l = local_of(bad_paths[i], "text/plain");
        ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, NULL, why, sizeof why),
                         EINVAL);
    }
    static const char *const bad_types[] = {"", "text", "text/plain\r\n", "*/x"};
    for (int i = 0; i < NELEM(bad_types); i++) {
        l = local_of("msrp://h:1/a;tcp", bad_types[i]);
        ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, NULL, why, sizeof why),
                         EINVAL);
    }
    l = local_of("msrp://h:1/a;tcp", "text/plain");
    l.user = "two words";
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, out, sizeof out, NULL, why, sizeof why), EINVAL);
    free(d);
}
END_TEST

START_TEST(test_offer_small_buffer)
{
    struct sip_sdp_msrp_local l = local_of("msrp://127.0.0.1:7001/abc;tcp", "text/plain");
    char full[1024];
    size_t need, len;
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, full, sizeof full, &need, NULL, 0), 0);
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, NULL, 0, &len, NULL, 0), ENOSPC);
    ck_assert_uint_eq(len, need);
    char *g = guarded_copy(full, need);
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, g, need, &len, NULL, 0), ENOSPC);
    ck_assert_str_eq(g, "");
    guarded_free(g, need);
    g = guarded_copy(full, need + 1);
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, g, need + 1, &len, NULL, 0), 0);
    ck_assert_str_eq(g, full);
    guarded_free(g, need + 1);
}
END_TEST

/* ---- answers ------------------------------------------------------------------------------ */

static const struct {
    const char *ours, *offer, *want;
} isect_cases[] = {
    /* RFC 4975 section 8.7: B answers Figure 9 with "message/cpim text/plain". */
    {"message/cpim text/plain", "message/cpim text/plain text/html", "message/cpim text/plain"},
    {"text/plain", "*", "text/plain"},
    {"text/*", "text/plain text/html image/png", "text/plain text/html"},
    {"*", "text/plain image/png", "text/plain image/png"},
    {"*", "*", "*"},
    {"text/*", "*", "text/*"},
    {"text/plain;charset=utf-8", "text/plain", "text/plain;charset=utf-8"},
    {"text/plain text/plain", "text/*", "text/plain"},
    {"image/png", "text/plain", ""},
};

static const char *offer_with_types(const char *types)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             "m=message 7001 TCP/MSRP *\r\na=accept-types:%s\r\n"
             "a=path:msrp://127.0.0.1:7001/off;tcp\r\n",
             types);
    return buf;
}

START_TEST(test_answer_types)
{
    struct sip_sdp_msrp_desc *off = new_desc(), *ans = new_desc();
    ck_assert_int_eq(parse_crlf(offer_with_types(isect_cases[_i].offer), off), SIP_SDP_OK);
    struct sip_sdp_msrp_local l = local_of("msrp://127.0.0.1:7002/ans;tcp", isect_cases[_i].ours);
    struct sip_sdp_msrp_result res;
    char out[2048];
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    if (!*isect_cases[_i].want) {
        ck_assert_int_eq(res.verdict, SIP_SDP_REJECT);
        ck_assert_ptr_nonnull(strstr(res.reason, "488"));
        ck_assert_str_eq(out, "");
    } else {
        ck_assert_msg(res.verdict == SIP_SDP_ACCEPT, "case %d: %s", _i, res.reason);
        ck_assert_str_eq(res.types, isect_cases[_i].want);
        ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
        ck_assert_str_eq(ans->accept_types, isect_cases[_i].want);
        /* The answer's types lie within the offer's. */
        ck_assert(sip_sdp_types_within(ans->accept_types, off->accept_types));
    }
    free(off);
    free(ans);
}
END_TEST

/* RFC 4975 section 8.6: the answer's accept-wrapped-types only beside a container type in its
 * accept-types, and without the accept-types' own entries. */
START_TEST(test_answer_wrapped)
{
    static const struct {
        const char *offer, *ours, *wrapped, *want;
    } cases[] = {
        /* message/cpim narrowed away: no wrapped types */
        {"text/plain", "text/plain message/cpim", "image/png", ""},
        {"text/plain", "text/plain message/cpim", "image/png text/plain", ""},
        /* a container left: kept, but not text/plain, which accept-types lists */
        {"text/plain message/cpim image/png", "text/plain message/cpim", "image/png text/plain",
         "image/png"},
        {"multipart/mixed image/png", "multipart/* text/plain", "image/png", "image/png"},
    };
    struct sip_sdp_msrp_desc *off = new_desc(), *ans = new_desc();
    for (size_t i = 0; i < NELEM(cases); i++) {
        ck_assert_int_eq(parse_crlf(offer_with_types(cases[i].offer), off), SIP_SDP_OK);
        struct sip_sdp_msrp_local l = local_of("msrp://127.0.0.1:7002/ans;tcp", cases[i].ours);
        l.accept_wrapped_types = cases[i].wrapped;
        struct sip_sdp_msrp_result res;
        char out[2048];
        ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
        ck_assert_msg(res.verdict == SIP_SDP_ACCEPT, "case %zu: %s", i, res.reason);
        ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
        ck_assert_msg(strcmp(ans->accept_wrapped_types, cases[i].want) == 0,
                      "case %zu: wrapped \"%s\", want \"%s\"", i, ans->accept_wrapped_types,
                      cases[i].want);
        ck_assert_str_eq(res.wrapped_types, cases[i].want);
        ck_assert_int_eq(strstr(out, "accept-wrapped-types") != NULL, cases[i].want[0] != '\0');
    }
    free(off);
    free(ans);
}
END_TEST

START_TEST(test_answer_rfc_example)
{
    struct sip_sdp_msrp_desc *off = new_desc(), *ans = new_desc();
    char why[256];
    ck_assert_int_eq(parse_lf(fig9, off, why, sizeof why), SIP_SDP_OK);
    struct sip_sdp_msrp_local b = local_of("msrp://bob.example.com:8493/si438dsaodes;tcp",
                                           "message/cpim text/plain");
    struct sip_sdp_msrp_result res;
    char out[2048];
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &b, false, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    /* RFC 4975 section 8.5: the offerer connects. */
    ck_assert(!res.active);
    ck_assert(!res.cema);
    ck_assert_str_eq(res.peer_path, off->path);
    ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
    ck_assert_str_eq(ans->c_addr, "bob.example.com"); /* Figure 10 */
    ck_assert_uint_eq(ans->port, 8493);
    ck_assert_int_eq(ans->setup, SIP_SDP_SETUP_NONE); /* none offered, none answered */
    ck_assert_str_eq(ans->accept_types, "message/cpim text/plain");

    struct sip_sdp_msrp_local a = local_of(off->path, "message/cpim text/plain text/html");
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert(res.active);
    ck_assert_str_eq(res.connect_host, "bob.example.com");
    ck_assert_uint_eq(res.connect_port, 8493);
    ck_assert(!res.connect_tls);
    ck_assert_str_eq(res.peer_path, "msrp://bob.example.com:8493/si438dsaodes;tcp");
    free(off);
    free(ans);
}
END_TEST

START_TEST(test_answer_decline)
{
    struct sip_sdp_msrp_desc *off = new_desc(), *ans = new_desc();
    char why[256];
    const char *sdp = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n"
                      "m=audio 4000 RTP/AVP 0\n"
                      "m=message 7001 TCP/MSRP *\na=accept-types:text/plain\n"
                      "a=path:msrp://127.0.0.1:7001/off;tcp\n"
                      "m=video 4002 RTP/AVP 31\n";
    ck_assert_int_eq(parse_lf(sdp, off, why, sizeof why), SIP_SDP_OK);
    struct sip_sdp_msrp_local l = local_of("msrp://127.0.0.1:7002/ans;tcp", "text/plain");
    struct sip_sdp_msrp_result res;
    char out[2048];

    /* Accepted: the MSRP line in its place, the others at port 0. */
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert_ptr_nonnull(strstr(out, "m=audio 0 RTP/AVP 0\r\nm=message 7002 TCP/MSRP *\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "m=video 0 RTP/AVP 31\r\n"));
    ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
    ck_assert_int_eq(ans->media_count, 3);
    ck_assert_int_eq(ans->msrp_index, 1);

    /* Declined: every line at port 0, and the offerer sees DECLINED. */
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, true, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_DECLINED);
    ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
    ck_assert_uint_eq(ans->port, 0);
    ck_assert_int_eq(ans->media_count, 3);
    ck_assert_ptr_null(strstr(out, "a=path"));
    struct sip_sdp_msrp_local a = local_of(off->path, "text/plain");
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_DECLINED);

    /* An offer whose MSRP stream is at port 0 is declined in turn. */
    ck_assert_int_eq(parse_lf("v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nm=message 0 TCP/MSRP *\n", off,
                              why, sizeof why), SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_DECLINED);
    free(off);
    free(ans);
}
END_TEST

/* Offer a=setup, our preference -> our role and the answer's a=setup (RFC 4975 section 8.5,
 * RFC 4145 section 4.1 from memory). */
static const struct {
    const char *offer_setup; /* NULL: none */
    enum sip_sdp_setup pref;
    enum sip_sdp_verdict verdict;
    bool active;
    enum sip_sdp_setup answered;
} role_cases[] = {
    {NULL, SIP_SDP_SETUP_NONE, SIP_SDP_ACCEPT, false, SIP_SDP_SETUP_NONE},
    {NULL, SIP_SDP_SETUP_ACTIVE, SIP_SDP_ACCEPT, false, SIP_SDP_SETUP_NONE},
    {"active", SIP_SDP_SETUP_ACTIVE, SIP_SDP_ACCEPT, false, SIP_SDP_SETUP_PASSIVE},
    {"passive", SIP_SDP_SETUP_NONE, SIP_SDP_ACCEPT, true, SIP_SDP_SETUP_ACTIVE},
    {"actpass", SIP_SDP_SETUP_NONE, SIP_SDP_ACCEPT, false, SIP_SDP_SETUP_PASSIVE},
    {"actpass", SIP_SDP_SETUP_PASSIVE, SIP_SDP_ACCEPT, false, SIP_SDP_SETUP_PASSIVE},
    {"actpass", SIP_SDP_SETUP_ACTIVE, SIP_SDP_ACCEPT, true, SIP_SDP_SETUP_ACTIVE},
    {"holdconn", SIP_SDP_SETUP_NONE, SIP_SDP_REJECT, false, SIP_SDP_SETUP_NONE},
};

START_TEST(test_answer_role)
{
    char sdp[512], out[2048];
    snprintf(sdp, sizeof sdp,
             "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             "m=message 7001 TCP/TLS/MSRP *\r\na=accept-types:text/plain\r\n"
             "a=path:msrps://127.0.0.1:7001/off;tcp\r\n%s%s%s",
             role_cases[_i].offer_setup ? "a=setup:" : "",
             role_cases[_i].offer_setup ? role_cases[_i].offer_setup : "",
             role_cases[_i].offer_setup ? "\r\n" : "");
    struct sip_sdp_msrp_desc *off = new_desc(), *ans = new_desc();
    ck_assert_int_eq(parse_crlf(sdp, off), SIP_SDP_OK);
    struct sip_sdp_msrp_local l = local_of("msrps://127.0.0.1:7002/ans;tcp", "text/plain");
    l.setup = role_cases[_i].pref;
    struct sip_sdp_msrp_result res;
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, role_cases[_i].verdict);
    if (res.verdict == SIP_SDP_ACCEPT) {
        ck_assert(res.active == role_cases[_i].active);
        ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
        ck_assert_int_eq(ans->setup, role_cases[_i].answered);
        ck_assert(ans->tls);
        if (res.active) {
            ck_assert_str_eq(res.connect_host, "127.0.0.1");
            ck_assert_uint_eq(res.connect_port, 7001);
            ck_assert(res.connect_tls);
        } else {
            ck_assert_str_eq(res.connect_host, "");
        }
    }
    free(off);
    free(ans);
}
END_TEST

/* A CEMA offer: c=/m= rewritten by a middlebox (192.0.2.50:40000), the path untouched. */
static const char *cema_offer(const char *setup, const char *path, bool cema)
{
    static char buf[768];
    snprintf(buf, sizeof buf,
             "v=0\r\no=- 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
             "m=message 40000 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:%s\r\n"
             "%s%s%s%s",
             path, setup ? "a=setup:" : "", setup ? setup : "", setup ? "\r\n" : "",
             cema ? "a=msrp-cema\r\n" : "");
    return buf;
}

START_TEST(test_answer_cema)
{
    struct sip_sdp_msrp_desc *off = new_desc(), *ans = new_desc();
    struct sip_sdp_msrp_result res;
    char out[2048];
    const char *direct = "msrp://198.51.100.1:7001/off;tcp";
    const char *relayed = "msrp://198.51.100.9:2855/r;tcp msrp://198.51.100.1:7001/off;tcp";
    struct sip_sdp_msrp_local l = local_of("msrp://127.0.0.1:7002/ans;tcp", "text/plain");
    l.cema = true;

    /* Offered and supported: answered with msrp-cema and setup; active, we use the c/m-line. */
    l.setup = SIP_SDP_SETUP_ACTIVE;
    ck_assert_int_eq(parse_crlf(cema_offer("actpass", direct, true), off), SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert(res.cema && res.active);
    ck_assert_str_eq(res.connect_host, "192.0.2.50");
    ck_assert_uint_eq(res.connect_port, 40000);
    ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
    ck_assert(ans->cema);
    ck_assert_int_eq(ans->setup, SIP_SDP_SETUP_ACTIVE);

    /* We do not do CEMA: no msrp-cema in the answer; connect to the path (RFC 4975). */
    l.cema = false;
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert(!res.cema && res.active);
    ck_assert_str_eq(res.connect_host, "198.51.100.1");
    ck_assert_uint_eq(res.connect_port, 7001);
    ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
    ck_assert(!ans->cema);

    /* No msrp-cema offered and c/m match no path URI: RFC 6714 section 4.3, reject (488). */
    l.cema = true;
    ck_assert_int_eq(parse_crlf(cema_offer("actpass", direct, false), off), SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_REJECT);
    ck_assert_ptr_nonnull(strstr(res.reason, "4.3"));

    /* 4.3 criterion 2: the offerer uses a relay and is active (no setup): no CEMA. */
    ck_assert_int_eq(parse_crlf(cema_offer(NULL, relayed, true), off), SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert(!res.cema);
    ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
    ck_assert(!ans->cema);

    /* Criterion 2 with actpass: we stay passive, so the relayed offerer becomes active: no
     * CEMA either. Had we taken active, the offerer would be passive and CEMA would stand. */
    ck_assert_int_eq(parse_crlf(cema_offer("actpass", relayed, true), off), SIP_SDP_OK);
    l.setup = SIP_SDP_SETUP_NONE;
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert(!res.cema && !res.active);
    ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
    ck_assert(!ans->cema);
    l.setup = SIP_SDP_SETUP_ACTIVE;
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    ck_assert(res.cema && res.active);

    /* Criterion 1: both use relays. */
    struct sip_sdp_msrp_local lr =
        local_of("msrp://127.0.0.3:2855/rr;tcp msrp://127.0.0.1:7002/ans;tcp", "text/plain");
    lr.cema = true;
    ck_assert_int_eq(parse_crlf(cema_offer("actpass", relayed, true), off), SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &lr, false, out, sizeof out, NULL, &res), 0);
    ck_assert(!res.cema);

    /* Criterion 3: we use a relay and the offer says passive. */
    ck_assert_int_eq(parse_crlf(cema_offer("passive", direct, true), off), SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &lr, false, out, sizeof out, NULL, &res), 0);
    ck_assert(!res.cema);
    ck_assert(res.active);

    /* We use a relay, offer actpass: CEMA with the relay in c=/m= and setup:passive (4.3
     * item 3), even when we would rather be active. */
    lr.setup = SIP_SDP_SETUP_ACTIVE;
    ck_assert_int_eq(parse_crlf(cema_offer("actpass", direct, true), off), SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &lr, false, out, sizeof out, NULL, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert(res.cema && !res.active);
    ck_assert_int_eq(parse_crlf(out, ans), SIP_SDP_OK);
    ck_assert(ans->cema);
    ck_assert_int_eq(ans->setup, SIP_SDP_SETUP_PASSIVE);
    ck_assert_str_eq(ans->c_addr, "127.0.0.3");
    ck_assert_uint_eq(ans->port, 2855);
    free(off);
    free(ans);
}
END_TEST

/* c=/m= against the path as RFC 6714 section 4.4 compares them (without DNS). */
START_TEST(test_answer_cm_match)
{
    static const struct {
        const char *c, *ctype, *path;
        unsigned port;
        bool ok;
    } cases[] = {
        {"2001:db8::1", "IP6", "msrp://[2001:db8:0:0:0:0:0:1]:7001/a;tcp", 7001, true},
        {"2001:db8::1", "IP6", "msrp://[2001:db8::2]:7001/a;tcp", 7001, false},
        {"127.0.0.1", "IP4", "msrp://127.0.0.1:7001/a;tcp", 7002, false},
        {"Host.Example", "IP4", "msrp://host.example:7001/a;tcp", 7001, true},
        {"other.example", "IP4", "msrp://host.example:7001/a;tcp", 7001, false},
        {"127.0.0.1", "IP4", "msrp://host.example:7001/a;tcp", 7001, true}, /* undecided */
        {"127.0.0.9", "IP4", "msrp://127.0.0.9:7001/r;tcp msrp://127.0.0.1:1/a;tcp", 7001, true},
    };
    struct sip_sdp_msrp_desc *off = new_desc();
    struct sip_sdp_msrp_local l = local_of("msrp://127.0.0.1:7002/ans;tcp", "text/plain");
    struct sip_sdp_msrp_result res;
    char sdp[768], out[2048];
    for (int i = 0; i < NELEM(cases); i++) {
        snprintf(sdp, sizeof sdp,
                 "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n"
                 "m=message %u TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:%s\r\n",
                 cases[i].ctype, cases[i].c, cases[i].port, cases[i].path);
        ck_assert_int_eq(parse_crlf(sdp, off), SIP_SDP_OK);
        ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
        ck_assert_msg((res.verdict == SIP_SDP_ACCEPT) == cases[i].ok, "case %d: %s", i,
                      res.reason);
    }
    free(off);
}
END_TEST

START_TEST(test_answer_bad_local)
{
    struct sip_sdp_msrp_desc *off = new_desc();
    char why[256], out[256];
    ck_assert_int_eq(parse_lf(fig9, off, why, sizeof why), SIP_SDP_OK);
    struct sip_sdp_msrp_local l = local_of("msrp://h/a;tcp", "text/plain");
    struct sip_sdp_msrp_result res;
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), EINVAL);
    ck_assert_ptr_nonnull(strstr(res.reason, "8.2"));
    /* Too small a buffer: ENOSPC with the length needed. */
    l = local_of("msrp://127.0.0.1:7002/ans;tcp", "text/plain");
    size_t need;
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, 10, &need, &res), ENOSPC);
    ck_assert_uint_gt(need, 10);
    ck_assert_int_eq(sip_sdp_msrp_answer(off, &l, false, out, sizeof out, NULL, &res), 0);
    ck_assert_uint_eq(strlen(out), need);
    free(off);
}
END_TEST

/* ---- the offerer reading answers ---------------------------------------------------------- */

static const char *answer_text(const char *c, unsigned port, const char *path, const char *setup,
                               bool cema)
{
    static char buf[768];
    snprintf(buf, sizeof buf,
             "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
             "m=message %u TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:%s\r\n%s%s%s%s",
             c, c, port, path, setup ? "a=setup:" : "", setup ? setup : "", setup ? "\r\n" : "",
             cema ? "a=msrp-cema\r\n" : "");
    return buf;
}

START_TEST(test_take_answer)
{
    struct sip_sdp_msrp_desc *ans = new_desc();
    struct sip_sdp_msrp_result res;
    const char *bpath = "msrp://127.0.0.2:7002/b;tcp";
    struct sip_sdp_msrp_local a = local_of("msrp://127.0.0.1:7001/a;tcp", "text/plain");

    /* An answer is never actpass; active to an offer without setup means two connectors. */
    ck_assert_int_eq(parse_crlf(answer_text("127.0.0.2", 7002, bpath, "actpass", false), ans),
                     SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_REJECT);
    ck_assert_int_eq(parse_crlf(answer_text("127.0.0.2", 7002, bpath, "active", false), ans),
                     SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_REJECT);
    /* ... but to actpass it makes us passive. */
    a.setup = SIP_SDP_SETUP_ACTPASS;
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert(!res.active);
    ck_assert_str_eq(res.peer_path, bpath);

    /* msrp-cema answered though not offered. */
    a.setup = SIP_SDP_SETUP_NONE;
    ck_assert_int_eq(parse_crlf(answer_text("127.0.0.2", 7002, bpath, NULL, true), ans),
                     SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_REJECT);
    ck_assert_ptr_nonnull(strstr(res.reason, "6714"));

    /* Offered and answered: CEMA, active, to the answer's c/m-line (a middlebox). */
    a.cema = true;
    ck_assert_int_eq(parse_crlf(answer_text("192.0.2.50", 40000, bpath, "passive", true), ans),
                     SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert(res.cema && res.active);
    ck_assert_str_eq(res.connect_host, "192.0.2.50");
    ck_assert_uint_eq(res.connect_port, 40000);

    /* Offered, not answered, c/m rewritten, and we would be passive: RFC 6714 section 4.2
     * criterion 1 asks for a new offer. */
    ck_assert_int_eq(parse_crlf(answer_text("192.0.2.50", 40000, bpath, "active", false), ans),
                     SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_REOFFER);
    /* ... the same but active and no relay on either side: RFC 4975, connect to the path. */
    ck_assert_int_eq(parse_crlf(answer_text("192.0.2.50", 40000, bpath, "passive", false), ans),
                     SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert(!res.cema && res.active);
    ck_assert_str_eq(res.connect_host, "127.0.0.2");
    ck_assert_uint_eq(res.connect_port, 7002);
    /* ... with a relay on the answerer's side: criterion 3, a new offer. */
    ck_assert_int_eq(parse_crlf(answer_text("192.0.2.50", 40000,
                                            "msrp://127.0.0.9:2855/r;tcp msrp://127.0.0.2:7002/"
                                            "b;tcp",
                                            "passive", false),
                                ans),
                     SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_REOFFER);
    /* ... the answerer's relay in c/m (matching a path URI): no middlebox, no new offer. */
    ck_assert_int_eq(parse_crlf(answer_text("127.0.0.9", 2855,
                                            "msrp://127.0.0.9:2855/r;tcp msrp://127.0.0.2:7002/"
                                            "b;tcp",
                                            "passive", false),
                                ans),
                     SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    ck_assert(!res.cema);
    ck_assert_str_eq(res.connect_host, "127.0.0.9");
    free(ans);
}
END_TEST

/* Every combination of the offerer's and answerer's setup, CEMA and relay use: when both sides
 * accept, exactly one connects, and it connects where the other listens. */
START_TEST(test_roundtrip_matrix)
{
    static const enum sip_sdp_setup offer_setups[] = {SIP_SDP_SETUP_NONE, SIP_SDP_SETUP_ACTIVE,
                                                      SIP_SDP_SETUP_ACTPASS};
    static const enum sip_sdp_setup answer_prefs[] = {SIP_SDP_SETUP_NONE, SIP_SDP_SETUP_ACTIVE,
                                                      SIP_SDP_SETUP_PASSIVE};
    const char *paths_a[] = {"msrp://127.0.0.1:7001/a;tcp",
                             "msrp://127.0.0.8:2855/ra;tcp msrp://127.0.0.1:7001/a;tcp"};
    const char *paths_b[] = {"msrp://127.0.0.2:7002/b;tcp",
                             "msrp://127.0.0.9:2855/rb;tcp msrp://127.0.0.2:7002/b;tcp"};
    struct sip_sdp_msrp_desc *off = new_desc(), *ans = new_desc();
    char text[2048], why[256];
    int accepted = 0, cema_count = 0;
    for (int os = 0; os < 3; os++)
        for (int ap = 0; ap < 3; ap++)
            for (int ca = 0; ca < 2; ca++)
                for (int cb = 0; cb < 2; cb++)
                    for (int ra = 0; ra < 2; ra++)
                        for (int rb = 0; rb < 2; rb++) {
                            struct sip_sdp_msrp_local a = local_of(paths_a[ra], "text/plain");
                            struct sip_sdp_msrp_local b = local_of(paths_b[rb], "text/*");
                            a.setup = offer_setups[os];
                            a.cema = ca;
                            b.setup = answer_prefs[ap];
                            b.cema = cb;
                            int r = sip_sdp_msrp_offer(&a, text, sizeof text, NULL, why,
                                                       sizeof why);
                            if (r == EINVAL) /* CEMA through a relay with setup active */
                                continue;
                            ck_assert_int_eq(r, 0);
                            ck_assert_int_eq(parse_crlf(text, off), SIP_SDP_OK);
                            struct sip_sdp_msrp_result rb_res, ra_res;
                            ck_assert_int_eq(sip_sdp_msrp_answer(off, &b, false, text,
                                                                 sizeof text, NULL, &rb_res),
                                             0);
                            ck_assert_int_eq(rb_res.verdict, SIP_SDP_ACCEPT);
                            ck_assert_int_eq(parse_crlf(text, ans), SIP_SDP_OK);
                            ck_assert_int_eq(sip_sdp_msrp_take_answer(&a, ans, &ra_res), 0);
                            ck_assert_msg(ra_res.verdict == SIP_SDP_ACCEPT, "%d%d%d%d%d%d: %s",
                                          os, ap, ca, cb, ra, rb, ra_res.reason);
                            accepted++;
                            ck_assert(ra_res.active != rb_res.active);
                            ck_assert(ra_res.cema == rb_res.cema);
                            cema_count += ra_res.cema;
                            const struct sip_sdp_msrp_result *act =
                                ra_res.active ? &ra_res : &rb_res;
                            const struct sip_sdp_msrp_desc *listener = ra_res.active ? ans : off;
                            /* With CEMA the c/m-line, else the path's first URI: either
                             * way the listener's address (no middlebox here). */
                            char want[SIP_SDP_ADDR_MAX + 32];
                            snprintf(want, sizeof want, "msrp://%s:%u/", act->connect_host,
                                     (unsigned)act->connect_port);
                            if (act->cema) {
                                ck_assert_str_eq(act->connect_host, listener->c_addr);
                                ck_assert_uint_eq(act->connect_port, listener->port);
                            }
                            ck_assert_msg(strncmp(listener->path, want, strlen(want)) == 0,
                                          "%s vs %s", want, listener->path);
                        }
    ck_assert_int_gt(accepted, 100);
    ck_assert_int_gt(cema_count, 10);
    free(off);
    free(ans);
}
END_TEST

Suite *make_sdp_msrp_suite(void)
{
    Suite *s = suite_create("sdp_msrp");
    TCase *tc = tcase_create("Parse");
    tcase_add_test(tc, test_parse_rfc_example);
    tcase_add_test(tc, test_parse_full);
    tcase_add_test(tc, test_parse_declined);
    tcase_add_loop_test(tc, test_parse_bad, 0, NELEM(bad_cases));
    tcase_add_test(tc, test_parse_nul_and_null);
    tcase_add_loop_test(tc, test_parse_garbage, 0, 8);
    tcase_add_loop_test(tc, test_types_within, 0, NELEM(within_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("Offer");
    tcase_add_test(tc, test_offer_text);
    tcase_add_test(tc, test_offer_rules);
    tcase_add_test(tc, test_offer_small_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("Answer");
    tcase_add_loop_test(tc, test_answer_types, 0, NELEM(isect_cases));
    tcase_add_test(tc, test_answer_wrapped);
    tcase_add_test(tc, test_answer_rfc_example);
    tcase_add_test(tc, test_answer_decline);
    tcase_add_loop_test(tc, test_answer_role, 0, NELEM(role_cases));
    tcase_add_test(tc, test_answer_cema);
    tcase_add_test(tc, test_answer_cm_match);
    tcase_add_test(tc, test_answer_bad_local);
    tcase_add_test(tc, test_take_answer);
    tcase_add_test(tc, test_roundtrip_matrix);
    suite_add_tcase(s, tc);
    return s;
}
