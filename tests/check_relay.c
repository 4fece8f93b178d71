/*
 * check_relay.c - the RFC 4976 AUTH client (msrp/relay.h) against a fake relay in this process
 * and against a real Kamailio 5.6 relay (tools/relay/).
 *
 * The fake relay answers as Kamailio does in tools/relay/probe-record.txt, cases 1-4: 401 with
 * `Digest realm="msrpload.test", nonce="...", qop="auth"`, 200 with Use-Path and Expires, 403
 * for a wrong password, 423 with Min-Expires: 30 for Expires below 30. It checks the digest
 * response by recomputing it here from RFC 2617 section 3.2.2 with EVP, independently of
 * src/wire/digest.c. Every wait is bounded.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "msrp/relay.h"
#include "net/conn.h"
#include "suites.h"
#include "testutil.h"
#include "wire/parser.h"
#include "wire/values.h"
#include "wire/writer.h"

#define REALM "msrpload.test"
#define USER "alice"
#define PASS "alice-secret"
#define LOCAL_URI "msrp://127.0.0.1:9/relaytest1;tcp"

enum fake_mode { FAKE_NORMAL = 0, FAKE_CLOSE, FAKE_SILENT, FAKE_ALWAYS_401, FAKE_STALE_ONCE };

struct fake_conn {
    struct msrp_parser parser;
    char nonce[32];
    uint32_t last_nc;
};

struct world {
    struct net_loop *loop;
    struct net_listener *lis;
    uint16_t port;
    char relay_uri[128];
    enum fake_mode mode;
    /* what the fake relay saw */
    int auths, auths_with_authz, digest_ok, stale_sent;
    uint32_t last_expires;
    int nonces;
    /* the client's outcome */
    int done;
    struct msrp_relay_auth_result res;
    /* the adopted connection after success */
    struct net_conn *adopted;
    int adopted_bytes, adopted_closed;
    char adopted_buf[1024];
};

static struct world W;

/* ---- RFC 2617 digest, computed here with EVP ---------------------------------------------- */

static void md5_hex(const char *s, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ck_assert_int_eq(EVP_Digest(s, len, md, &mdlen, EVP_md5(), NULL), 1);
    ck_assert_uint_eq(mdlen, 16);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void span_str(struct msrp_span s, char *out, size_t cap)
{
    ck_assert_uint_lt(s.len, cap);
    memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
}

/* response = MD5(MD5(user:realm:pass):nonce:nc:cnonce:qop:MD5("AUTH":uri)) */
static void expected_response(const char *user, const char *pass, const char *nonce,
                              const char *nc, const char *cnonce, const char *uri, char out[33])
{
    char buf[1024], ha1[33], ha2[33];
    int n = snprintf(buf, sizeof(buf), "%s:%s:%s", user, REALM, pass);
    md5_hex(buf, (size_t)n, ha1);
    n = snprintf(buf, sizeof(buf), "AUTH:%s", uri);
    md5_hex(buf, (size_t)n, ha2);
    n = snprintf(buf, sizeof(buf), "%s:%s:%s:%s:auth:%s", ha1, nonce, nc, cnonce, ha2);
    md5_hex(buf, (size_t)n, out);
}

/* ---- the fake relay ------------------------------------------------------------------------ */

static void fake_reply(struct net_conn *c, const struct msrp_chunk *req, int status,
                       const char *comment, const struct msrp_header *extra, size_t nextra)
{
    const struct msrp_header *from = msrp_chunk_header(req, MSRP_H_FROM_PATH);
    ck_assert_ptr_nonnull(from);
    struct msrp_out o = {.kind = MSRP_RESPONSE,
                         .tid = req->tid,
                         .status = status,
                         .comment = msrp_span_cstr(comment),
                         .to_path = from->value,
                         .from_path = msrp_span_cstr(W.relay_uri),
                         .extra = extra,
                         .num_extra = nextra};
    char head[4096];
    struct msrp_wire_chunk w;
    ck_assert_int_eq(msrp_write(&o, NULL, head, sizeof(head), &w), MSRP_W_OK);
    ck_assert_int_eq(net_conn_send(c, w.iov, w.iovcnt), 0);
}

static void fake_challenge(struct net_conn *c, struct fake_conn *f, const struct msrp_chunk *req,
                           bool stale)
{
    snprintf(f->nonce, sizeof(f->nonce), "fakeNonce%04d+/=", ++W.nonces);
    f->last_nc = 0;
    char v[256];
    snprintf(v, sizeof(v), "Digest realm=\"%s\", nonce=\"%s\", qop=\"auth\"%s", REALM, f->nonce,
             stale ? ", stale=true" : "");
    struct msrp_header h = {.name = MSRP_SPAN_LIT("WWW-Authenticate"),
                            .value = msrp_span_cstr(v),
                            .id = MSRP_H_WWW_AUTHENTICATE};
    fake_reply(c, req, 401, "Unauthorized", &h, 1);
}

static void fake_auth(struct net_conn *c, struct fake_conn *f, const struct msrp_chunk *req)
{
    W.auths++;
    const struct msrp_header *to = msrp_chunk_header(req, MSRP_H_TO_PATH);
    ck_assert_ptr_nonnull(to);
    ck_assert(msrp_span_eq(to->value, msrp_span_cstr(W.relay_uri)));
    uint32_t expires = 0;
    const struct msrp_header *e = msrp_chunk_header(req, MSRP_H_EXPIRES);
    if (e != NULL)
        ck_assert(msrp_expires_parse(e->value, &expires));
    W.last_expires = expires;

    const struct msrp_header *az = msrp_chunk_header(req, MSRP_H_AUTHORIZATION);
    if (az == NULL || f->nonce[0] == '\0') {
        fake_challenge(c, f, req, false);
        return;
    }
    W.auths_with_authz++;
    struct msrp_digest d;
    ck_assert(msrp_digest_challenge_parse(az->value, &d));
    char user[64], nonce[64], uri[256], cnonce[64], nc[16], resp[64], want[33];
    span_str(d.username, user, sizeof(user));
    span_str(d.nonce, nonce, sizeof(nonce));
    span_str(d.uri, uri, sizeof(uri));
    span_str(d.cnonce, cnonce, sizeof(cnonce));
    span_str(d.nc, nc, sizeof(nc));
    span_str(d.response, resp, sizeof(resp));
    ck_assert_str_eq(uri, W.relay_uri);
    ck_assert(msrp_span_eq(d.realm, MSRP_SPAN_LIT(REALM)));
    ck_assert(msrp_span_eq(d.qop, MSRP_SPAN_LIT("auth")));
    if (strcmp(nonce, f->nonce) != 0) {
        fake_challenge(c, f, req, false);
        return;
    }
    uint32_t ncv = (uint32_t)strtoul(nc, NULL, 16);
    if (ncv <= f->last_nc) { /* a replayed nonce count: Kamailio says stale */
        fake_challenge(c, f, req, true);
        return;
    }
    f->last_nc = ncv;
    if (strcmp(user, USER) != 0) {
        fake_reply(c, req, 403, "Forbidden", NULL, 0);
        return;
    }
    expected_response(USER, PASS, nonce, nc, cnonce, uri, want);
    if (strcmp(resp, want) != 0) {
        fake_reply(c, req, 403, "Forbidden", NULL, 0);
        return;
    }
    W.digest_ok++;
    if (W.mode == FAKE_ALWAYS_401) {
        fake_challenge(c, f, req, false);
        return;
    }
    if (W.mode == FAKE_STALE_ONCE && W.stale_sent == 0) {
        W.stale_sent++;
        fake_challenge(c, f, req, true);
        return;
    }
    if (e != NULL && expires < 30) {
        struct msrp_header h = {.name = MSRP_SPAN_LIT("Min-Expires"),
                                .value = MSRP_SPAN_LIT("30"), .id = MSRP_H_MIN_EXPIRES};
        fake_reply(c, req, 423, "Interval Out-of-Bounds", &h, 1);
        return;
    }
    char use[128], exp[16];
    snprintf(use, sizeof(use), "msrp://127.0.0.1:%u/srid-fake-1;tcp", (unsigned)W.port);
    snprintf(exp, sizeof(exp), "%u", (unsigned)(e != NULL ? expires : 600));
    struct msrp_header hs[2] = {
        {.name = MSRP_SPAN_LIT("Use-Path"), .value = msrp_span_cstr(use), .id = MSRP_H_USE_PATH},
        {.name = MSRP_SPAN_LIT("Expires"), .value = msrp_span_cstr(exp), .id = MSRP_H_EXPIRES}};
    fake_reply(c, req, 200, "OK", hs, 2);
}

static size_t fake_data(struct net_conn *c, const char *buf, size_t len)
{
    struct fake_conn *f = net_conn_user(c);
    if (W.mode == FAKE_SILENT)
        return len;
    if (W.mode == FAKE_CLOSE) {
        net_conn_close(c, false);
        return len;
    }
    size_t used = 0;
    while (used < len) {
        struct msrp_header headers[32];
        struct msrp_chunk ch = {.headers = headers, .headers_cap = 32};
        ssize_t n = msrp_parse(&f->parser, buf + used, len - used, &ch);
        if (n == MSRP_INCOMPLETE)
            break;
        ck_assert_int_gt(n, 0);
        used += (size_t)n;
        ck_assert_int_eq(ch.error, MSRP_OK);
        if (ch.kind == MSRP_REQUEST && ch.method_id == MSRP_METHOD_AUTH)
            fake_auth(c, f, &ch);
    }
    return used;
}

static void fake_close(struct net_conn *c, int err, const char *why)
{
    (void)err;
    (void)why;
    free(net_conn_user(c));
}

static const struct net_conn_handlers fake_handlers = {.on_data = fake_data,
                                                       .on_close = fake_close};

static void fake_accept(struct net_listener *l, struct net_conn *c)
{
    (void)l;
    struct fake_conn *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    msrp_parser_init(&f->parser, NULL);
    net_conn_set_user(c, f);
    net_conn_set_handlers(c, &fake_handlers);
}

/* ---- the client side ----------------------------------------------------------------------- */

static size_t adopted_data(struct net_conn *c, const char *buf, size_t len)
{
    (void)c;
    size_t room = sizeof(W.adopted_buf) - 1 - (size_t)W.adopted_bytes;
    size_t n = len < room ? len : room;
    memcpy(W.adopted_buf + W.adopted_bytes, buf, n);
    W.adopted_bytes += (int)n;
    return len;
}

static void adopted_close(struct net_conn *c, int err, const char *why)
{
    (void)c;
    (void)err;
    (void)why;
    W.adopted_closed++;
    W.adopted = NULL;
}

static const struct net_conn_handlers adopted_handlers = {.on_data = adopted_data,
                                                          .on_close = adopted_close};

static void on_done(struct msrp_relay_auth *a, const struct msrp_relay_auth_result *r, void *user)
{
    (void)a;
    ck_assert_ptr_eq(user, &W);
    W.done++;
    W.res = *r;
    if (r->ok) {
        ck_assert_ptr_nonnull(r->conn);
        W.adopted = r->conn;
        net_conn_set_handlers(r->conn, &adopted_handlers);
        net_conn_set_user(r->conn, &W);
    } else {
        ck_assert_ptr_null(r->conn);
    }
}

static void run_until(int *counter, int want, double seconds)
{
    uint64_t deadline = net_now_ns() + (uint64_t)(seconds * 1e9);
    while (*counter < want) {
        ck_assert_msg(net_now_ns() < deadline, "timed out waiting (%d of %d)", *counter, want);
        net_loop_run_once(W.loop, 20);
    }
}

static void world_up(void)
{
    memset(&W, 0, sizeof(W));
    ck_assert_int_eq(net_loop_create(&W.loop, 4096), 0);
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", 0, &ss, &len), 0);
    char err[256];
    ck_assert_int_eq(net_listener_open(W.loop, (struct sockaddr *)&ss, len, NULL, fake_accept, &W,
                                       NULL, &W.lis, err, sizeof(err)),
                     0);
    W.port = net_listener_port(W.lis);
    snprintf(W.relay_uri, sizeof(W.relay_uri), "msrp://127.0.0.1:%u;tcp", (unsigned)W.port);
}

static void world_down(void)
{
    if (W.adopted != NULL)
        net_conn_close(W.adopted, false);
    if (W.lis != NULL)
        net_listener_close(W.lis);
    for (int i = 0; i < 5; i++)
        net_loop_run_once(W.loop, 5);
    net_loop_destroy(W.loop);
}

static void config(struct msrp_relay_auth_config *cfg, const char *relay_uri, uint16_t port,
                   const char *pass, uint32_t expires)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->relay_uri = relay_uri;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", port, &cfg->addr, &cfg->addr_len), 0);
    cfg->username = USER;
    cfg->password = pass;
    cfg->local_uri = LOCAL_URI;
    cfg->expires = expires;
    cfg->timeout_ns = 3000000000ull;
}

static void start_auth(const char *pass, uint32_t expires)
{
    struct msrp_relay_auth_config cfg;
    config(&cfg, W.relay_uri, W.port, pass, expires);
    struct msrp_relay_auth *a = NULL;
    ck_assert_int_eq(msrp_relay_auth_start(W.loop, &cfg, on_done, &W, &a), 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(W.done, 0); /* never from inside start */
}

static void assert_error_names(const char *relay_uri, const char *pass)
{
    ck_assert_msg(strstr(W.res.error, relay_uri) != NULL, "%s", W.res.error);
    ck_assert_msg(strstr(W.res.error, USER) != NULL, "%s", W.res.error);
    ck_assert_msg(strstr(W.res.error, pass) == NULL, "password in: %s", W.res.error);
}

/* ---- fake relay cases ---------------------------------------------------------------------- */

START_TEST(test_success)
{
    world_up();
    start_auth(PASS, 0);
    run_until(&W.done, 1, 5);
    ck_assert_msg(W.res.ok, "%s", W.res.error);
    ck_assert_int_eq(W.res.status, 200);
    char want[128];
    snprintf(want, sizeof(want), "msrp://127.0.0.1:%u/srid-fake-1;tcp", (unsigned)W.port);
    ck_assert_str_eq(W.res.use_path, want);
    ck_assert_uint_eq(W.res.expires, 600);
    ck_assert_uint_eq(W.res.requests, 2);
    ck_assert_int_eq(W.auths, 2);
    ck_assert_int_eq(W.digest_ok, 1);
    ck_assert_uint_eq(W.last_expires, 0);
    ck_assert_str_eq(W.res.error, "");

    /* The connection is ours now and still talks to the relay: a fresh AUTH gets a 401. */
    ck_assert_ptr_nonnull(W.adopted);
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "MSRP again1 AUTH\r\nTo-Path: %s\r\nFrom-Path: " LOCAL_URI
                     "\r\n-------again1$\r\n",
                     W.relay_uri);
    struct iovec iov = {req, (size_t)n};
    ck_assert_int_eq(net_conn_send(W.adopted, &iov, 1), 0);
    uint64_t deadline = net_now_ns() + 3000000000ull;
    while (strstr(W.adopted_buf, "-------again1$") == NULL) {
        ck_assert(net_now_ns() < deadline);
        net_loop_run_once(W.loop, 20);
    }
    ck_assert_ptr_nonnull(strstr(W.adopted_buf, "MSRP again1 401 Unauthorized\r\n"));
    ck_assert_int_eq(W.adopted_closed, 0);
    world_down();
}
END_TEST

/* Parses exactly one response, as it came off the wire, into *c (headers in hdrs). Some spans
 * of *c (the transaction id) may point into the parser: it must outlive their use. */
static void parse_wire(struct msrp_parser *parser, const char *buf, size_t n, struct msrp_chunk *c,
                       struct msrp_header *hdrs, size_t cap)
{
    msrp_parser_init(parser, NULL);
    memset(c, 0, sizeof(*c));
    c->headers = hdrs;
    c->headers_cap = cap;
    ck_assert_int_eq(msrp_parse(parser, buf, n, c), (ssize_t)n);
    ck_assert_int_eq(c->kind, MSRP_RESPONSE);
}

/* Parses one response from text (LF line ends become CRLF) into *c, headers in hdrs. */
static void parse_response(const char *text, struct msrp_chunk *c, struct msrp_header *hdrs,
                           size_t cap, char *buf, size_t bufcap)
{
    size_t n = 0;
    for (const char *p = text; *p != '\0' && n + 2 < bufcap; p++) {
        if (*p == '\n')
            buf[n++] = '\r';
        buf[n++] = *p;
    }
    static struct msrp_parser parser; /* outlives the call: see parse_wire */
    parse_wire(&parser, buf, n, c, hdrs, cap);
}

START_TEST(test_refresh)
{
    world_up();
    start_auth(PASS, 0);
    run_until(&W.done, 1, 5);
    ck_assert_msg(W.res.ok, "%s", W.res.error);
    ck_assert_uint_gt(W.res.challenge_len, 0);
    ck_assert_uint_eq(W.res.nc, 1);

    /* The refresh answers the same challenge with the next nonce count, on the connection
     * the caller now owns; the fake relay checks the digest as for any AUTH. */
    struct msrp_relay_auth_config cfg;
    config(&cfg, W.relay_uri, W.port, PASS, 0);
    struct msrp_relay_refresh r;
    msrp_relay_refresh_init(&r, &W.res, 120);
    char req[4096];
    size_t len = 0;
    ck_assert_int_eq(msrp_relay_refresh_request(&r, &cfg, req, sizeof(req), &len), 0);
    ck_assert_uint_eq(r.nc, 2);
    ck_assert_ptr_nonnull(memmem(req, len, "nc=00000002", 11));
    ck_assert_ptr_nonnull(memmem(req, len, "\r\nExpires: 120\r\n", 16));
    ck_assert_ptr_null(memmem(req, len, PASS, strlen(PASS)));
    struct iovec iov = {req, len};
    ck_assert_int_eq(net_conn_send(W.adopted, &iov, 1), 0);
    char end[80];
    snprintf(end, sizeof(end), "-------%.*s$\r\n", (int)r.tid_len, r.tid);
    uint64_t deadline = net_now_ns() + 3000000000ull;
    while (strstr(W.adopted_buf, end) == NULL) {
        ck_assert(net_now_ns() < deadline);
        net_loop_run_once(W.loop, 20);
    }
    ck_assert_int_eq(W.digest_ok, 2);
    ck_assert_uint_eq(W.last_expires, 120);
    struct msrp_header hdrs[16];
    struct msrp_chunk c;
    struct msrp_parser parser;
    parse_wire(&parser, W.adopted_buf, strlen(W.adopted_buf), &c, hdrs, 16);
    ck_assert_int_eq(c.status, 200);
    ck_assert(msrp_span_eq(c.tid, msrp_span_make(r.tid, r.tid_len)));
    uint32_t expires = 0;
    char err[256] = "";
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, &c, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_DONE);
    ck_assert_uint_eq(expires, 120);
    world_down();
}
END_TEST

START_TEST(test_refresh_answers)
{
    struct msrp_relay_auth_result res;
    memset(&res, 0, sizeof(res));
    static const char challenge[] = "Digest realm=\"" REALM "\", nonce=\"n1\", qop=\"auth\"";
    memcpy(res.challenge, challenge, sizeof(challenge) - 1);
    res.challenge_len = sizeof(challenge) - 1;
    res.nc = 4;
    struct msrp_relay_auth_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.relay_uri = "msrp://127.0.0.1:9;tcp";
    cfg.local_uri = LOCAL_URI;
    cfg.username = USER;
    cfg.password = PASS;
    struct msrp_relay_refresh r;
    msrp_relay_refresh_init(&r, &res, 0);
    struct msrp_header hdrs[16];
    struct msrp_chunk c;
    char buf[1024], err[256];
    uint32_t expires = 99;
#define HEAD "MSRP tid1 %s\nTo-Path: " LOCAL_URI "\nFrom-Path: msrp://127.0.0.1:9;tcp\n"
    char text[1024];

    /* No answer in time, 403, anything unexpected: failures that name relay and user only. */
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, NULL, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_FAILED);
    ck_assert_ptr_nonnull(strstr(err, "no answer"));
    snprintf(text, sizeof(text), HEAD "-------tid1$\n", "403 Forbidden");
    parse_response(text, &c, hdrs, 16, buf, sizeof(buf));
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, &c, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_FAILED);
    ck_assert_ptr_nonnull(strstr(err, "relay msrp://127.0.0.1:9;tcp, user " USER));
    ck_assert_ptr_nonnull(strstr(err, "403"));
    ck_assert_ptr_null(strstr(err, PASS));
    snprintf(text, sizeof(text), HEAD "-------tid1$\n", "500 Oops");
    parse_response(text, &c, hdrs, 16, buf, sizeof(buf));
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, &c, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_FAILED);

    /* A stale nonce is followed once, with the new nonce and the count restarted. */
    snprintf(text, sizeof(text),
             HEAD "WWW-Authenticate: Digest realm=\"" REALM "\", nonce=\"n2\", qop=\"auth\", "
                  "stale=true\n-------tid1$\n", "401 Unauthorized");
    parse_response(text, &c, hdrs, 16, buf, sizeof(buf));
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, &c, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_AGAIN);
    char req[4096];
    size_t len;
    ck_assert_int_eq(msrp_relay_refresh_request(&r, &cfg, req, sizeof(req), &len), 0);
    ck_assert_ptr_nonnull(memmem(req, len, "nonce=\"n2\"", 10));
    ck_assert_ptr_nonnull(memmem(req, len, "nc=00000001", 11));
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, &c, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_FAILED); /* stale twice */
    /* A 401 without stale after an answer: rejected. */
    msrp_relay_refresh_init(&r, &res, 0);
    snprintf(text, sizeof(text),
             HEAD "WWW-Authenticate: Digest realm=\"" REALM "\", nonce=\"n3\", qop=\"auth\"\n"
                  "-------tid1$\n", "401 Unauthorized");
    parse_response(text, &c, hdrs, 16, buf, sizeof(buf));
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, &c, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_FAILED);
    ck_assert_ptr_nonnull(strstr(err, "rejected"));

    /* 423 with Min-Expires: once, with that value in the next request. */
    msrp_relay_refresh_init(&r, &res, 10);
    snprintf(text, sizeof(text), HEAD "Min-Expires: 30\n-------tid1$\n",
             "423 Interval Out-of-Bounds");
    parse_response(text, &c, hdrs, 16, buf, sizeof(buf));
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, &c, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_AGAIN);
    ck_assert_uint_eq(r.expires, 30);
    ck_assert_int_eq(msrp_relay_refresh_request(&r, &cfg, req, sizeof(req), &len), 0);
    ck_assert_ptr_nonnull(memmem(req, len, "\r\nExpires: 30\r\n", 15));
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, &c, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_FAILED);

    /* 200: its Expires, and the next cycle may follow a stale nonce and a 423 again. */
    snprintf(text, sizeof(text), HEAD "Expires: 45\n-------tid1$\n", "200 OK");
    parse_response(text, &c, hdrs, 16, buf, sizeof(buf));
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, &c, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_DONE);
    ck_assert_uint_eq(expires, 45);
    ck_assert(!r.stale_used && !r.expires_retried);
    snprintf(text, sizeof(text), HEAD "Expires: soon\n-------tid1$\n", "200 OK");
    parse_response(text, &c, hdrs, 16, buf, sizeof(buf));
    ck_assert_int_eq(msrp_relay_refresh_response(&r, &cfg, &c, &expires, err, sizeof(err)),
                     MSRP_RELAY_REFRESH_FAILED);
#undef HEAD
}
END_TEST

START_TEST(test_wrong_password)
{
    world_up();
    start_auth("not-the-secret", 0);
    run_until(&W.done, 1, 5);
    ck_assert(!W.res.ok);
    ck_assert_int_eq(W.res.status, 403);
    ck_assert_msg(strstr(W.res.error, "forbidden (wrong user or password?)") != NULL, "%s",
                  W.res.error);
    assert_error_names(W.relay_uri, "not-the-secret");
    ck_assert_ptr_null(W.res.conn);
    world_down();
}
END_TEST

START_TEST(test_expires_retry)
{
    world_up();
    start_auth(PASS, 10);
    run_until(&W.done, 1, 5);
    ck_assert_msg(W.res.ok, "%s", W.res.error);
    ck_assert_uint_eq(W.res.expires, 30);
    ck_assert_uint_eq(W.last_expires, 30);
    ck_assert_uint_eq(W.res.requests, 3); /* no credentials, answer with 10, answer with 30 */
    ck_assert_int_eq(W.digest_ok, 2);
    world_down();
}
END_TEST

START_TEST(test_expires_kept)
{
    world_up();
    start_auth(PASS, 120);
    run_until(&W.done, 1, 5);
    ck_assert_msg(W.res.ok, "%s", W.res.error);
    ck_assert_uint_eq(W.res.expires, 120);
    ck_assert_uint_eq(W.res.requests, 2);
    world_down();
}
END_TEST

START_TEST(test_stale_once)
{
    world_up();
    W.mode = FAKE_STALE_ONCE;
    start_auth(PASS, 0);
    run_until(&W.done, 1, 5);
    ck_assert_msg(W.res.ok, "%s", W.res.error);
    ck_assert_uint_eq(W.res.requests, 3);
    ck_assert_int_eq(W.digest_ok, 2);
    world_down();
}
END_TEST

START_TEST(test_rejected)
{
    world_up();
    W.mode = FAKE_ALWAYS_401;
    start_auth(PASS, 0);
    run_until(&W.done, 1, 5);
    ck_assert(!W.res.ok);
    ck_assert_int_eq(W.res.status, 401);
    ck_assert_msg(strstr(W.res.error, "authentication rejected") != NULL, "%s", W.res.error);
    assert_error_names(W.relay_uri, PASS);
    ck_assert_uint_eq(W.res.requests, 2);
    world_down();
}
END_TEST

START_TEST(test_relay_closes)
{
    world_up();
    W.mode = FAKE_CLOSE;
    start_auth(PASS, 0);
    run_until(&W.done, 1, 5);
    ck_assert(!W.res.ok);
    ck_assert_int_eq(W.res.status, 0);
    ck_assert_msg(strstr(W.res.error, "closed") != NULL, "%s", W.res.error);
    assert_error_names(W.relay_uri, PASS);
    world_down();
}
END_TEST

START_TEST(test_relay_silent)
{
    world_up();
    W.mode = FAKE_SILENT;
    struct msrp_relay_auth_config cfg;
    config(&cfg, W.relay_uri, W.port, PASS, 0);
    cfg.timeout_ns = 300000000ull;
    uint64_t t0 = net_now_ns();
    ck_assert_int_eq(msrp_relay_auth_start(W.loop, &cfg, on_done, &W, NULL), 0);
    run_until(&W.done, 1, 5);
    uint64_t took = net_now_ns() - t0;
    ck_assert(!W.res.ok);
    ck_assert_msg(strstr(W.res.error, "timed out") != NULL, "%s", W.res.error);
    assert_error_names(W.relay_uri, PASS);
    ck_assert_uint_ge(took, 250000000ull);
    ck_assert_uint_lt(took, 2000000000ull);
    world_down();
}
END_TEST

START_TEST(test_refused)
{
    world_up();
    uint16_t port = W.port;
    net_listener_close(W.lis);
    W.lis = NULL;
    struct msrp_relay_auth_config cfg;
    config(&cfg, W.relay_uri, port, PASS, 0);
    ck_assert_int_eq(msrp_relay_auth_start(W.loop, &cfg, on_done, &W, NULL), 0);
    run_until(&W.done, 1, 5);
    ck_assert(!W.res.ok);
    ck_assert_msg(strstr(W.res.error, "connect") != NULL, "%s", W.res.error);
    world_down();
}
END_TEST

START_TEST(test_bad_arguments)
{
    world_up();
    struct msrp_relay_auth_config cfg;
    config(&cfg, "http://x", W.port, PASS, 0);
    ck_assert_int_eq(msrp_relay_auth_start(W.loop, &cfg, on_done, &W, NULL), EINVAL);
    config(&cfg, W.relay_uri, W.port, PASS, 0);
    cfg.local_uri = "nonsense";
    ck_assert_int_eq(msrp_relay_auth_start(W.loop, &cfg, on_done, &W, NULL), EINVAL);
    config(&cfg, W.relay_uri, W.port, PASS, 0);
    cfg.username = "";
    ck_assert_int_eq(msrp_relay_auth_start(W.loop, &cfg, on_done, &W, NULL), EINVAL);
    /* cancel before any answer: no callback, nothing leaks */
    config(&cfg, W.relay_uri, W.port, PASS, 0);
    struct msrp_relay_auth *a = NULL;
    ck_assert_int_eq(msrp_relay_auth_start(W.loop, &cfg, on_done, &W, &a), 0);
    net_loop_run_once(W.loop, 5);
    msrp_relay_auth_cancel(a);
    for (int i = 0; i < 5; i++)
        net_loop_run_once(W.loop, 5);
    ck_assert_int_eq(W.done, 0);
    world_down();
}
END_TEST

/* ---- the real Kamailio relay --------------------------------------------------------------- */

static struct test_relay K;

static void kamailio_setup(void)
{
    test_relay_start(&K, false, "");
}

static void kamailio_teardown(void)
{
    test_relay_stop(&K);
}

static bool kamailio_skip(const char *test)
{
    char name[96];
    snprintf(name, sizeof(name), "relay %s", test);
    return test_relay_skip(&K, name);
}

static void kamailio_auth(const char *pass, uint32_t expires)
{
    memset(&W, 0, sizeof(W));
    ck_assert_int_eq(net_loop_create(&W.loop, 4096), 0);
    snprintf(W.relay_uri, sizeof(W.relay_uri), "%s", K.uri);
    struct msrp_relay_auth_config cfg;
    config(&cfg, K.uri, K.port, pass, expires);
    cfg.timeout_ns = 5000000000ull;
    ck_assert_int_eq(msrp_relay_auth_start(W.loop, &cfg, on_done, &W, NULL), 0);
    run_until(&W.done, 1, 10);
}

START_TEST(test_kamailio_ok)
{
    if (kamailio_skip("kamailio_ok"))
        return;
    kamailio_auth(PASS, 0);
    ck_assert_msg(W.res.ok, "%s", W.res.error);
    ck_assert_int_eq(W.res.status, 200);
    char prefix[160];
    snprintf(prefix, sizeof(prefix), "msrp://127.0.0.1:%u/", (unsigned)K.port);
    ck_assert_msg(strncmp(W.res.use_path, prefix, strlen(prefix)) == 0, "Use-Path %s",
                  W.res.use_path);
    ck_assert_uint_eq(W.res.expires, 600);
    ck_assert_ptr_nonnull(W.adopted);
    world_down();
}
END_TEST

START_TEST(test_kamailio_wrong_password)
{
    if (kamailio_skip("kamailio_wrong_password"))
        return;
    kamailio_auth("wrong-secret", 0);
    ck_assert(!W.res.ok);
    ck_assert_int_eq(W.res.status, 403);
    assert_error_names(K.uri, "wrong-secret");
    world_down();
}
END_TEST

START_TEST(test_kamailio_expires)
{
    if (kamailio_skip("kamailio_expires"))
        return;
    kamailio_auth(PASS, 10);
    ck_assert_msg(W.res.ok, "%s", W.res.error);
    ck_assert_uint_eq(W.res.expires, 30);
    ck_assert_uint_eq(W.res.requests, 3);
    world_down();
}
END_TEST

Suite *make_relay_suite(void)
{
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("Fake");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_success);
    tcase_add_test(tc, test_wrong_password);
    tcase_add_test(tc, test_refresh);
    tcase_add_test(tc, test_refresh_answers);
    tcase_add_test(tc, test_expires_retry);
    tcase_add_test(tc, test_expires_kept);
    tcase_add_test(tc, test_stale_once);
    tcase_add_test(tc, test_rejected);
    tcase_add_test(tc, test_relay_closes);
    tcase_add_test(tc, test_relay_silent);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);

    TCase *tk = tcase_create("Kamailio");
    tcase_set_timeout(tk, 60);
    tcase_add_unchecked_fixture(tk, kamailio_setup, kamailio_teardown);
    tcase_add_test(tk, test_kamailio_ok);
    tcase_add_test(tk, test_kamailio_wrong_password);
    tcase_add_test(tk, test_kamailio_expires);
    suite_add_tcase(s, tk);
    return s;
}
