/*
 * check_sip_msg.c - SIP messages (src/sip/msg.c): stream framing (every prefix, random cuts
 * across pieces, keep-alive CRLFs, garbage with the offset of the bad byte), parsing with the
 * mandatory headers, building requests and responses and reading them back, CANCEL and ACK
 * from a parsed INVITE, and digest answers (the RFC 2617 section 3.5 example, and responses
 * recomputed here with EVP from the RFC 2617 definitions).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sip/msg.h"
#include "sip/sdp_msrp.h"
#include "suites.h"
#include "testutil.h"
#include "wire/digest.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *sdp_body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                              "t=0 0\r\nm=message 7001 TCP/MSRP *\r\n"
                              "a=accept-types:text/plain\r\n"
                              "a=path:msrp://127.0.0.1:7001/abc;tcp\r\n";

/* An INVITE as a peer might send it (two Vias, Record-Route, a body). */
static char *invite_text(size_t *len)
{
    static char buf[2048];
    int n = snprintf(buf, sizeof buf,
                     "INVITE sip:bob@127.0.0.1:5080 SIP/2.0\r\n"
                     "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKproxy1\r\n"
                     "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKalice1;rport=5070\r\n"
                     "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
                     "Max-Forwards: 69\r\n"
                     "From: <sip:alice@example.test>;tag=af1\r\n"
                     "To: <sip:bob@example.test>\r\n"
                     "Call-ID: call-1@127.0.0.1\r\n"
                     "CSeq: 7 INVITE\r\n"
                     "Contact: <sip:alice@127.0.0.1:5070;transport=tcp>\r\n"
                     "Content-Type: application/sdp\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(sdp_body), sdp_body);
    *len = (size_t)n;
    return buf;
}

static enum sip_frame_status frame_guarded(const char *s, size_t n, struct sip_frame *f)
{
    char *g = guarded_copy(s, n);
    enum sip_frame_status st = sip_frame_next(g, n, f);
    guarded_free(g, n);
    return st;
}

/* ---- framing ------------------------------------------------------------------------------ */

START_TEST(test_frame_whole_and_prefixes)
{
    size_t n;
    const char *inv = invite_text(&n);
    struct sip_frame f;
    ck_assert_int_eq(frame_guarded(inv, n, &f), SIP_FRAME_MESSAGE);
    ck_assert_uint_eq(f.skip, 0);
    ck_assert_uint_eq(f.len, n);
    /* Every shorter prefix needs more; none is an error. */
    for (size_t k = 0; k < n; k++) {
        enum sip_frame_status st = frame_guarded(inv, k, &f);
        ck_assert_msg(st == SIP_FRAME_NEED_MORE, "prefix %zu: %d (%s at %zu)", k, st,
                      f.error ? f.error : "", f.error_offset);
    }
}
END_TEST

START_TEST(test_frame_keepalive_and_pairs)
{
    size_t n;
    const char *inv = invite_text(&n);
    char buf[4096];
    struct sip_frame f;
    /* CRLF keep-alives before a message are skipped; only CRLFs need more. */
    memcpy(buf, "\r\n\r\n", 4);
    memcpy(buf + 4, inv, n);
    ck_assert_int_eq(frame_guarded(buf, n + 4, &f), SIP_FRAME_MESSAGE);
    ck_assert_uint_eq(f.skip, 4);
    ck_assert_uint_eq(f.len, n);
    ck_assert_int_eq(frame_guarded("\r\n\r\n\r", 5, &f), SIP_FRAME_NEED_MORE);
    ck_assert_uint_eq(f.skip, 4);
    /* Two messages back to back: the first, then the second from where it ends. */
    const char *bye = "BYE sip:alice@127.0.0.1:5070 SIP/2.0\r\n"
                      "Via: SIP/2.0/TCP h;branch=z9hG4bKb\r\n"
                      "From: <sip:bob@x>;tag=b\r\nTo: <sip:alice@x>;tag=a\r\nCall-ID: c\r\n"
                      "CSeq: 1 BYE\r\nl:0\r\n\r\n";
    memcpy(buf, inv, n);
    memcpy(buf + n, bye, strlen(bye));
    ck_assert_int_eq(frame_guarded(buf, n + strlen(bye), &f), SIP_FRAME_MESSAGE);
    ck_assert_uint_eq(f.len, n);
    ck_assert_int_eq(frame_guarded(buf + n, strlen(bye), &f), SIP_FRAME_MESSAGE);
    ck_assert_uint_eq(f.len, strlen(bye));
    /* Content-Length with LWS around the colon and value. */
    const char *sp = "SIP/2.0 200 OK\r\nContent-Length  :  3  \r\n\r\nabcXYZ";
    ck_assert_int_eq(frame_guarded(sp, strlen(sp), &f), SIP_FRAME_MESSAGE);
    ck_assert_uint_eq(f.len, strlen(sp) - 3);
}
END_TEST

/* Three messages cut into random pieces and fed as a reader would: all three come out whole. */
START_TEST(test_frame_random_pieces)
{
    size_t n;
    const char *inv = invite_text(&n);
    char stream[8192];
    size_t total = 0;
    for (int k = 0; k < 3; k++) {
        memcpy(stream + total, "\r\n", 2 * (size_t)(k == 1)); /* a keep-alive before #2 */
        total += 2 * (size_t)(k == 1);
        memcpy(stream + total, inv, n);
        total += n;
    }
    uint64_t st = 0x51e5ull + (uint64_t)_i;
    char buf[8192];
    size_t have = 0, fed = 0;
    int got = 0;
    for (int guard = 0; guard < 10000 && fed < total; guard++) {
        size_t piece = 1 + (size_t)(test_rand(&st) % 300);
        if (piece > total - fed)
            piece = total - fed;
        memcpy(buf + have, stream + fed, piece);
        have += piece;
        fed += piece;
        struct sip_frame f;
        enum sip_frame_status s;
        while ((s = frame_guarded(buf, have, &f)) == SIP_FRAME_MESSAGE) {
            ck_assert_uint_eq(f.len, n);
            ck_assert_int_eq(memcmp(buf + f.skip, inv, n), 0);
            memmove(buf, buf + f.skip + f.len, have - f.skip - f.len);
            have -= f.skip + f.len;
            got++;
        }
        ck_assert_int_eq(s, SIP_FRAME_NEED_MORE);
    }
    ck_assert_int_eq(got, 3);
    ck_assert_uint_eq(have, 0);
}
END_TEST

static const struct {
    const char *text;
    const char *bad_at; /* the error offset is where this first occurs; "" = offset 0 */
    const char *error_has;
    size_t plus;        /* ... plus this */
} frame_errors[] = {
    {"{\"json\": 1}\r\n\r\n", "", "start line"},
    {"\x16\x03\x01\x02\x00", "", "control"}, /* a TLS ClientHello, caught at once */
    {"GET / HTTP/1.1\r\n", "HTTP", "start line"},
    {"INVITE sip:a@b SIP/3.0\r\n", "3.0", "start line"},
    {"SIP/2.0 2x0 OK\r\n", "x0", "start line"},
    {"INVITE  sip:a@b SIP/2.0\r\n", " sip", "start line"},
    {"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", "\r\n\r\n", "Content-Length", 2}, /* the empty line */
    {"SIP/2.0 200 OK\r\nContent-Length: 5x\r\n\r\n", "x\r", "DIGIT"},
    {"SIP/2.0 200 OK\r\nContent-Length:\r\n\r\n", "\r\n\r\n", "without a value"},
    {"SIP/2.0 200 OK\r\nl: 1\r\nContent-Length: 2\r\n\r\n", "2\r", "two"},
    {"SIP/2.0 200 OK\r\nContent-Length: 1048577\r\n\r\n", "1048577", "1 MiB"},
    {"SIP/2.0 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", "999", "1 MiB"},
    {"SIP/2.0 200 OK\nVia: x\r\n", "\nVia", "bare LF"},
    {"SIP/2.0 200 OK\r\nVia: x\rY\r\n", "\rY", "CR not followed"},
    {"SIP/2.0 200 OK\r\nVia: \001\r\n", "\001", "control"},
};

START_TEST(test_frame_errors)
{
    const char *t = frame_errors[_i].text;
    size_t n = strlen(t) + (t[0] == '\x16' ? 1 : 0);
    struct sip_frame f;
    ck_assert_int_eq(frame_guarded(t, n, &f), SIP_FRAME_ERROR);
    const char *at = *frame_errors[_i].bad_at ? strstr(t, frame_errors[_i].bad_at) : t;
    ck_assert_ptr_nonnull(at);
    ck_assert_uint_eq(f.error_offset, (size_t)(at - t) + frame_errors[_i].plus);
    ck_assert_ptr_nonnull(strstr(f.error, frame_errors[_i].error_has));
}
END_TEST

START_TEST(test_frame_limits)
{
    /* A header block that never ends is refused at 64 KiB, not buffered for ever. */
    size_t n = SIP_FRAME_MAX_HEADERS + 100;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    const char *head = "SIP/2.0 200 OK\r\nX: ";
    memcpy(big, head, strlen(head));
    memset(big + strlen(head), 'a', n - strlen(head));
    struct sip_frame f;
    ck_assert_int_eq(frame_guarded(big, n, &f), SIP_FRAME_ERROR);
    ck_assert_uint_eq(f.error_offset, SIP_FRAME_MAX_HEADERS);
    free(big);
    /* NUL inside the headers. */
    static const char nul[] = "SIP/2.0 200 OK\r\nX: a\0b\r\n";
    ck_assert_int_eq(frame_guarded(nul, sizeof nul - 1, &f), SIP_FRAME_ERROR);
    ck_assert_uint_eq(f.error_offset, 20);
}
END_TEST

/* ---- parsing ------------------------------------------------------------------------------ */

START_TEST(test_parse_invite)
{
    size_t n;
    const char *inv = invite_text(&n);
    char *g = guarded_copy(inv, n);
    char why[200];
    osip_message_t *m = sip_msg_parse(g, n, why, sizeof why);
    guarded_free(g, n);
    ck_assert_msg(m != NULL, "%s", why);
    ck_assert(MSG_IS_INVITE(m));
    ck_assert_str_eq(sip_msg_branch(m), "z9hG4bKproxy1");
    ck_assert_str_eq(sip_msg_from_tag(m), "af1");
    ck_assert_ptr_null(sip_msg_to_tag(m));
    ck_assert_uint_eq(sip_msg_cseq(m), 7);
    ck_assert_str_eq(sip_msg_cseq_method(m), "INVITE");
    size_t blen = 0;
    const char *body = sip_msg_body(m, &blen);
    ck_assert_uint_eq(blen, strlen(sdp_body));
    ck_assert_int_eq(memcmp(body, sdp_body, blen), 0);
    /* The body is an MSRP offer. */
    struct sip_sdp_msrp_desc *d = calloc(1, sizeof *d);
    ck_assert_int_eq(sip_sdp_msrp_parse(body, blen, d, why, sizeof why), SIP_SDP_OK);
    ck_assert_uint_eq(d->port, 7001);
    free(d);
    osip_message_free(m);
}
END_TEST

static const struct {
    const char *text;
    const char *why_has;
} parse_errors[] = {
    {"garbage\r\n\r\n", "parse"},
    {"INVITE sip:a@b SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: c\r\n"
     "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
     "Via"},
    {"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
     "To: <sip:b@b>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
     "Call-ID"},
    {"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
     "To: <sip:b@b>\r\nCall-ID: c\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
     "CSeq method"},
    {"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
     "To: <sip:b@b>\r\nCall-ID: c\r\nCSeq: x INVITE\r\nContent-Length: 0\r\n\r\n",
     "CSeq number"},
};

START_TEST(test_parse_errors)
{
    const char *t = parse_errors[_i].text;
    char *g = guarded_copy(t, strlen(t));
    char why[200];
    osip_message_t *m = sip_msg_parse(g, strlen(t), why, sizeof why);
    guarded_free(g, strlen(t));
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(why, parse_errors[_i].why_has), "%s", why);
    ck_assert_ptr_null(sip_msg_parse(NULL, 0, why, sizeof why));
}
END_TEST

/* Random corruptions of a good INVITE: parse either fails with a reason or returns a message
 * that has every mandatory header. */
START_TEST(test_parse_garbage)
{
    size_t n;
    const char *inv = invite_text(&n);
    uint64_t st = 0xbadull + (uint64_t)_i;
    for (int k = 0; k < 200; k++) {
        char buf[2048];
        memcpy(buf, inv, n);
        size_t len = 1 + (size_t)(test_rand(&st) % n);
        for (int j = 0; j < 4; j++)
            buf[test_rand(&st) % len] = (char)(test_rand(&st) % 256);
        char *g = guarded_copy(buf, len);
        char why[200];
        osip_message_t *m = sip_msg_parse(g, len, why, sizeof why);
        guarded_free(g, len);
        if (m) {
            ck_assert_ptr_nonnull(m->from);
            ck_assert_ptr_nonnull(m->cseq);
            ck_assert_int_ge(osip_list_size(&m->vias), 1);
            osip_message_free(m);
        } else {
            ck_assert_str_ne(why, "");
        }
    }
}
END_TEST

/* ---- building ----------------------------------------------------------------------------- */

static osip_message_t *reparse(const char *text, size_t len)
{
    struct sip_frame f;
    ck_assert_int_eq(sip_frame_next(text, len, &f), SIP_FRAME_MESSAGE);
    ck_assert_uint_eq(f.len, len); /* Content-Length is always there and right */
    char why[200];
    osip_message_t *m = sip_msg_parse(text, len, why, sizeof why);
    ck_assert_msg(m != NULL, "%s\n%s", why, text);
    return m;
}

static struct sip_req base_req(const char *method)
{
    return (struct sip_req){.method = method, .uri = "sip:bob@127.0.0.1:5080",
                            .from = "<sip:alice@example.test>", .from_tag = "t1",
                            .to = "<sip:bob@example.test>", .call_id = "c1@h", .cseq = 1,
                            .via_transport = "TCP", .via_host = "127.0.0.1", .via_port = 5070,
                            .branch = "z9hG4bK-1", .expires = -1};
}

START_TEST(test_build_register)
{
    struct sip_req r = base_req("REGISTER");
    r.uri = "sip:example.test";
    r.to = r.from;
    r.contact = "<sip:alice@127.0.0.1:5070;transport=tcp>";
    r.expires = 3600;
    char out[2048], why[200];
    size_t len;
    ck_assert_int_eq(sip_msg_build_request(&r, out, sizeof out, &len, why, sizeof why), 0);
    ck_assert_uint_eq(len, strlen(out));
    ck_assert_int_eq(strncmp(out, "REGISTER sip:example.test SIP/2.0\r\n", 35), 0);
    ck_assert_ptr_nonnull(strstr(out, "\r\nExpires: 3600\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nMax-Forwards: 70\r\n"));
    osip_message_t *m = reparse(out, len);
    ck_assert(MSG_IS_REGISTER(m));
    ck_assert_str_eq(sip_msg_branch(m), "z9hG4bK-1");
    ck_assert_str_eq(sip_msg_from_tag(m), "t1");
    ck_assert_str_eq(sip_msg_cseq_method(m), "REGISTER");
    ck_assert_int_eq(osip_list_size(&m->contacts), 1);
    ck_assert_ptr_null(sip_msg_body(m, NULL));
    osip_message_free(m);

    /* Too small: ENOSPC with the length needed, exactly enough works. */
    size_t need;
    ck_assert_int_eq(sip_msg_build_request(&r, out, 10, &need, why, sizeof why), ENOSPC);
    ck_assert_uint_eq(need, len);
    char *g = guarded_copy(out, len + 1);
    ck_assert_int_eq(sip_msg_build_request(&r, g, len + 1, &need, why, sizeof why), 0);
    guarded_free(g, len + 1);
}
END_TEST

START_TEST(test_build_invite_with_sdp)
{
    struct sip_sdp_msrp_local l = {.path = "msrp://127.0.0.1:7001/abc;tcp",
                                   .accept_types = "text/plain", .sess_id = 1, .sess_version = 1};
    char sdp[1024], out[4096], why[200];
    size_t sdp_len, len;
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, sdp, sizeof sdp, &sdp_len, why, sizeof why), 0);
    struct sip_req r = base_req("INVITE");
    r.contact = "<sip:alice@127.0.0.1:5070;transport=tcp>";
    const char *routes[] = {"<sip:127.0.0.1:5060;lr>", "<sip:127.0.0.2:5060;lr>"};
    r.routes = routes;
    r.route_count = 2;
    r.content_type = "application/sdp";
    r.body = sdp;
    r.body_len = sdp_len;
    ck_assert_int_eq(sip_msg_build_request(&r, out, sizeof out, &len, why, sizeof why), 0);
    osip_message_t *m = reparse(out, len);
    ck_assert(MSG_IS_INVITE(m));
    ck_assert_int_eq(osip_list_size(&m->routes), 2);
    ck_assert_str_eq(m->content_type->type, "application");
    ck_assert_str_eq(m->content_type->subtype, "sdp");
    size_t blen;
    const char *body = sip_msg_body(m, &blen);
    ck_assert_uint_eq(blen, sdp_len);
    ck_assert_int_eq(memcmp(body, sdp, blen), 0);
    struct sip_sdp_msrp_desc *d = calloc(1, sizeof *d);
    ck_assert_int_eq(sip_sdp_msrp_parse(body, blen, d, why, sizeof why), SIP_SDP_OK);
    ck_assert_str_eq(d->path, "msrp://127.0.0.1:7001/abc;tcp");
    free(d);
    osip_message_free(m);

    /* BYE in the dialog: To tag, next CSeq; IPv6 Via host in brackets. */
    r = base_req("BYE");
    r.to_tag = "bt9";
    r.cseq = 2;
    r.via_host = "::1";
    ck_assert_int_eq(sip_msg_build_request(&r, out, sizeof out, &len, why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(out, "Via: SIP/2.0/TCP [::1]:5070;branch=z9hG4bK-1;rport\r\n"));
    m = reparse(out, len);
    ck_assert_str_eq(sip_msg_to_tag(m), "bt9");
    ck_assert_uint_eq(sip_msg_cseq(m), 2);
    osip_message_free(m);
}
END_TEST

START_TEST(test_build_request_bad)
{
    char out[2048], why[200];
    struct sip_req r = base_req("INVITE");
    r.branch = "abc";
    ck_assert_int_eq(sip_msg_build_request(&r, out, sizeof out, NULL, why, sizeof why), EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "z9hG4bK"));
    r = base_req("INVITE");
    r.call_id = "a\r\nVia: x";
    ck_assert_int_eq(sip_msg_build_request(&r, out, sizeof out, NULL, why, sizeof why), EINVAL);
    r = base_req("IN VITE");
    ck_assert_int_eq(sip_msg_build_request(&r, out, sizeof out, NULL, why, sizeof why), EINVAL);
    r = base_req("INVITE");
    r.uri = "not a uri";
    ck_assert_int_eq(sip_msg_build_request(&r, out, sizeof out, NULL, why, sizeof why), EINVAL);
    r = base_req("INVITE");
    r.from_tag = NULL;
    ck_assert_int_eq(sip_msg_build_request(&r, out, sizeof out, NULL, why, sizeof why), EINVAL);
    r = base_req("INVITE");
    r.body = "x";
    r.body_len = 1;
    ck_assert_int_eq(sip_msg_build_request(&r, out, sizeof out, NULL, why, sizeof why), EINVAL);
    r = base_req("INVITE");
    r.auth_header = "X-Auth";
    r.auth_value = "Digest a=b";
    ck_assert_int_eq(sip_msg_build_request(&r, out, sizeof out, NULL, why, sizeof why), EINVAL);
}
END_TEST

START_TEST(test_build_responses)
{
    size_t n, len;
    const char *inv = invite_text(&n);
    char why[200], out[4096];
    osip_message_t *req = sip_msg_parse(inv, n, why, sizeof why);
    ck_assert_ptr_nonnull(req);

    /* 100: no To tag; Vias all copied in order. */
    struct sip_resp p = {.code = 100, .to_tag = "bt1"};
    ck_assert_int_eq(sip_msg_build_response(req, &p, out, sizeof out, &len, why, sizeof why), 0);
    ck_assert_int_eq(strncmp(out, "SIP/2.0 100 Trying\r\n", 20), 0);
    osip_message_t *m = reparse(out, len);
    ck_assert_ptr_null(sip_msg_to_tag(m));
    ck_assert_int_eq(osip_list_size(&m->vias), 2);
    ck_assert_str_eq(sip_msg_branch(m), "z9hG4bKproxy1");
    ck_assert_int_eq(osip_list_size(&m->record_routes), 0);
    osip_message_free(m);

    /* 200 with an SDP answer: To tag, Record-Route copied, Contact, body. */
    p = (struct sip_resp){.code = 200, .to_tag = "bt1", .contact = "<sip:bob@127.0.0.1:5080>",
                          .content_type = "application/sdp", .body = sdp_body,
                          .body_len = strlen(sdp_body)};
    ck_assert_int_eq(sip_msg_build_response(req, &p, out, sizeof out, &len, why, sizeof why), 0);
    m = reparse(out, len);
    ck_assert_int_eq(m->status_code, 200);
    ck_assert_str_eq(sip_msg_to_tag(m), "bt1");
    ck_assert_str_eq(sip_msg_from_tag(m), "af1");
    ck_assert_int_eq(osip_list_size(&m->record_routes), 1);
    ck_assert_int_eq(osip_list_size(&m->contacts), 1);
    ck_assert_uint_eq(sip_msg_cseq(m), 7);
    ck_assert_str_eq(m->call_id->number, "call-1");
    ck_assert_str_eq(m->call_id->host, "127.0.0.1");
    osip_message_free(m);

    /* 486: To tag, no Record-Route; then the ACK for it, and a CANCEL. */
    p = (struct sip_resp){.code = 486, .to_tag = "bt2"};
    ck_assert_int_eq(sip_msg_build_response(req, &p, out, sizeof out, &len, why, sizeof why), 0);
    ck_assert_int_eq(strncmp(out, "SIP/2.0 486 Busy Here\r\n", 23), 0);
    osip_message_t *busy = reparse(out, len);
    ck_assert_int_eq(osip_list_size(&busy->record_routes), 0);

    ck_assert_int_eq(sip_msg_build_cancel_or_ack(req, "ACK", busy, out, sizeof out, &len, why,
                                                 sizeof why),
                     0);
    m = reparse(out, len);
    ck_assert(MSG_IS_ACK(m));
    ck_assert_str_eq(sip_msg_branch(m), "z9hG4bKproxy1");
    ck_assert_int_eq(osip_list_size(&m->vias), 1);
    ck_assert_str_eq(sip_msg_to_tag(m), "bt2");
    ck_assert_uint_eq(sip_msg_cseq(m), 7);
    ck_assert_str_eq(sip_msg_cseq_method(m), "ACK");
    ck_assert_int_eq(strncmp(out, "ACK sip:bob@127.0.0.1:5080 SIP/2.0\r\n", 36), 0);
    osip_message_free(m);

    ck_assert_int_eq(sip_msg_build_cancel_or_ack(req, "CANCEL", NULL, out, sizeof out, &len,
                                                 why, sizeof why),
                     0);
    m = reparse(out, len);
    ck_assert(MSG_IS_CANCEL(m));
    ck_assert_str_eq(sip_msg_branch(m), "z9hG4bKproxy1");
    ck_assert_ptr_null(sip_msg_to_tag(m));
    ck_assert_str_eq(sip_msg_cseq_method(m), "CANCEL");
    osip_message_free(m);

    /* ACK needs a non-2xx final response; other methods are refused. */
    p = (struct sip_resp){.code = 200, .to_tag = "bt1"};
    ck_assert_int_eq(sip_msg_build_response(req, &p, out, sizeof out, &len, why, sizeof why), 0);
    m = reparse(out, len);
    ck_assert_int_eq(sip_msg_build_cancel_or_ack(req, "ACK", m, out, sizeof out, &len, why,
                                                 sizeof why),
                     EINVAL);
    ck_assert_int_eq(sip_msg_build_cancel_or_ack(req, "BYE", NULL, out, sizeof out, &len, why,
                                                 sizeof why),
                     EINVAL);
    ck_assert_int_eq(sip_msg_build_cancel_or_ack(req, "ACK", NULL, out, sizeof out, &len, why,
                                                 sizeof why),
                     EINVAL);
    osip_message_free(m);
    p = (struct sip_resp){.code = 700};
    ck_assert_int_eq(sip_msg_build_response(req, &p, out, sizeof out, &len, why, sizeof why),
                     EINVAL);
    osip_message_free(busy);
    osip_message_free(req);
}
END_TEST

/* ---- digest ------------------------------------------------------------------------------- */

static void md5_hex(const char *s, char hex[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ck_assert_int_eq(EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL), 1);
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static osip_message_t *challenge(int code, const char *hname, const char *value)
{
    char text[1024];
    int n = snprintf(text, sizeof text,
                     "SIP/2.0 %d Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                     "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\n"
                     "CSeq: 1 REGISTER\r\n%s%s%s%sContent-Length: 0\r\n\r\n",
                     code, hname ? hname : "", hname ? ": " : "", hname ? value : "",
                     hname ? "\r\n" : "");
    char why[200];
    osip_message_t *m = sip_msg_parse(text, (size_t)n, why, sizeof why);
    ck_assert_msg(m != NULL, "%s", why);
    return m;
}

START_TEST(test_digest_rfc2617)
{
    /* RFC 2617 section 3.5's challenge and inputs, carried in a SIP 401. */
    osip_message_t *m = challenge(401, "WWW-Authenticate",
                                  "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                                  "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                                  "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
    const char *hname = NULL;
    char out[1024], why[200];
    size_t len;
    ck_assert_int_eq(sip_msg_auth_answer(m, "GET", "/dir/index.html", "Mufasa", "Circle Of Life",
                                         1, "0a4f113b", NULL, &hname, out, sizeof out, &len, why,
                                         sizeof why),
                     0);
    ck_assert_str_eq(hname, "Authorization");
    ck_assert_ptr_nonnull(strstr(out, "response=\"6629fae49393a05397450978507c4ef1\""));
    ck_assert_ptr_nonnull(strstr(out, "qop=auth, nc=00000001"));
    ck_assert_ptr_nonnull(strstr(out, "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    osip_message_free(m);

    /* A REGISTER carrying it parses back with the Authorization. */
    struct sip_req r = base_req("REGISTER");
    r.auth_header = hname;
    r.auth_value = out;
    char req[2048];
    ck_assert_int_eq(sip_msg_build_request(&r, req, sizeof req, &len, why, sizeof why), 0);
    m = reparse(req, len);
    ck_assert_int_eq(osip_list_size(&m->authorizations), 1);
    osip_message_free(m);
}
END_TEST

START_TEST(test_digest_407_recomputed)
{
    osip_message_t *m = challenge(407, "Proxy-Authenticate",
                                  "Digest realm=\"msrpload.test\", nonce=\"n0nce+/=\", "
                                  "qop=\"auth\", algorithm=MD5");
    struct msrp_idgen ids;
    ck_assert_int_eq(msrp_idgen_init(&ids), 0);
    const char *hname = NULL;
    char out[1024], why[200];
    size_t len;
    ck_assert_int_eq(sip_msg_auth_answer(m, "INVITE", "sip:bob@127.0.0.1:5080", "alice",
                                         "s3cret", 3, NULL, &ids, &hname, out, sizeof out, &len,
                                         why, sizeof why),
                     0);
    ck_assert_str_eq(hname, "Proxy-Authorization");
    /* Recompute from the drawn cnonce with the RFC 2617 section 3.2.2 definitions. */
    const char *c = strstr(out, "cnonce=\"");
    ck_assert_ptr_nonnull(c);
    char cnonce[64];
    ck_assert_int_eq(sscanf(c + 8, "%63[^\"]", cnonce), 1);
    ck_assert_uint_eq(strlen(cnonce), MSRP_DIGEST_CNONCE_LEN);
    char ha1[33], ha2[33], resp[33], buf[512];
    md5_hex("alice:msrpload.test:s3cret", ha1);
    md5_hex("INVITE:sip:bob@127.0.0.1:5080", ha2);
    snprintf(buf, sizeof buf, "%s:n0nce+/=:00000003:%s:auth:%s", ha1, cnonce, ha2);
    md5_hex(buf, resp);
    char want[64];
    snprintf(want, sizeof want, "response=\"%s\"", resp);
    ck_assert_ptr_nonnull(strstr(out, want));
    ck_assert_ptr_nonnull(strstr(out, "uri=\"sip:bob@127.0.0.1:5080\""));
    osip_message_free(m);
}
END_TEST

START_TEST(test_digest_bad)
{
    const char *hname;
    char out[1024], why[200];
    /* 401 without a challenge; a 407 whose only challenge is WWW-Authenticate; SHA-256 only;
     * Basic only; not a 401/407. */
    osip_message_t *m = challenge(401, NULL, NULL);
    ck_assert_int_eq(sip_msg_auth_answer(m, "REGISTER", "sip:x", "u", "p", 1, "c", NULL, &hname,
                                         out, sizeof out, NULL, why, sizeof why),
                     EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "WWW-Authenticate"));
    osip_message_free(m);
    m = challenge(407, "WWW-Authenticate", "Digest realm=\"r\", nonce=\"n\"");
    ck_assert_int_eq(sip_msg_auth_answer(m, "REGISTER", "sip:x", "u", "p", 1, "c", NULL, &hname,
                                         out, sizeof out, NULL, why, sizeof why),
                     EINVAL);
    osip_message_free(m);
    m = challenge(401, "WWW-Authenticate", "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256");
    ck_assert_int_eq(sip_msg_auth_answer(m, "REGISTER", "sip:x", "u", "p", 1, "c", NULL, &hname,
                                         out, sizeof out, NULL, why, sizeof why),
                     EINVAL);
    osip_message_free(m);
    m = challenge(401, "WWW-Authenticate", "Basic realm=\"r\"");
    ck_assert_int_eq(sip_msg_auth_answer(m, "REGISTER", "sip:x", "u", "p", 1, "c", NULL, &hname,
                                         out, sizeof out, NULL, why, sizeof why),
                     EINVAL);
    osip_message_free(m);
    m = challenge(403, NULL, NULL);
    ck_assert_int_eq(sip_msg_auth_answer(m, "REGISTER", "sip:x", "u", "p", 1, "c", NULL, &hname,
                                         out, sizeof out, NULL, why, sizeof why),
                     EINVAL);
    osip_message_free(m);
}
END_TEST

Suite *make_sip_msg_suite(void)
{
    Suite *s = suite_create("sip_msg");
    TCase *tc = tcase_create("Frame");
    tcase_add_test(tc, test_frame_whole_and_prefixes);
    tcase_add_test(tc, test_frame_keepalive_and_pairs);
    tcase_add_loop_test(tc, test_frame_random_pieces, 0, 16);
    tcase_add_loop_test(tc, test_frame_errors, 0, NELEM(frame_errors));
    tcase_add_test(tc, test_frame_limits);
    suite_add_tcase(s, tc);

    tc = tcase_create("Parse");
    tcase_add_test(tc, test_parse_invite);
    tcase_add_loop_test(tc, test_parse_errors, 0, NELEM(parse_errors));
    tcase_add_loop_test(tc, test_parse_garbage, 0, 8);
    suite_add_tcase(s, tc);

    tc = tcase_create("Build");
    tcase_add_test(tc, test_build_register);
    tcase_add_test(tc, test_build_invite_with_sdp);
    tcase_add_test(tc, test_build_request_bad);
    tcase_add_test(tc, test_build_responses);
    suite_add_tcase(s, tc);

    tc = tcase_create("Digest");
    tcase_add_test(tc, test_digest_rfc2617);
    tcase_add_test(tc, test_digest_407_recomputed);
    tcase_add_test(tc, test_digest_bad);
    suite_add_tcase(s, tc);
    return s;
}
