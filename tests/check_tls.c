/*
 * check_tls.c - OpenSSL contexts (src/net/tls.c): self-signed certificates, context settings,
 * handshakes and certificate verification, client certificates, and set-up errors.
 *
 * Each test case works in its own mkdtemp folder with two fresh self-signed certificates, A and
 * B (both CN=localhost, different keys). The folder is an unchecked fixture, made and removed
 * by the runner's own process, so it is cleaned up even when a test fails. Handshakes run
 * over a non-blocking AF_UNIX socketpair, both ends driven from this one thread by a loop with
 * a bounded number of rounds, so a handshake that stalls fails the test instead of hanging it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "net/tls.h"
#include "suites.h"
#include "testutil.h"

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A handshake over a socketpair takes a handful of rounds; this many means it is stuck. */
#define MAX_ROUNDS 64
/* Read/write rounds for a transfer; each round moves at least one record or stalls. */
#define MAX_TRANSFER_ROUNDS 100000

/* ---- fixture: a temporary folder with certificates A and B ---- */

enum fx_file {
    F_A_CRT,
    F_A_KEY,
    F_B_CRT,
    F_B_KEY,
    F_GARBAGE,  /* not PEM at all */
    F_COMBINED, /* A's certificate and key in one file */
    F_OUT_CRT,  /* written by tests of net_tls_make_self_signed */
    F_OUT_KEY,
    F_MISSING, /* never created */
    F_COUNT
};

static const char *const fx_names[F_COUNT] = {
    "a.crt",        "a.key",   "b.crt",   "b.key",       "garbage.pem",
    "combined.pem", "out.crt", "out.key", "missing.pem",
};

static char fx_dir[64];
static char fx_paths[F_COUNT][128];

static const char *fx(enum fx_file f)
{
    return fx_paths[f];
}

static void make_cert(enum fx_file crt, enum fx_file key, const char *cn)
{
    char err[256] = "";
    int rc = net_tls_make_self_signed(fx(crt), fx(key), cn, err, sizeof(err));
    ck_assert_msg(rc == 0, "make_self_signed %s: %d %s", fx(crt), rc, err);
}

static void append_file(FILE *out, const char *path)
{
    size_t len;
    char *data = read_file(path, &len);
    ck_assert_uint_eq(fwrite(data, 1, len, out), len);
    free(data);
}

/* Removes what tests of net_tls_make_self_signed write, whatever ran before. */
static void remove_outputs(void)
{
    unlink(fx(F_OUT_CRT));
    unlink(fx(F_OUT_KEY));
}

static void fx_setup(void)
{
    /* A peer that closed after a failed handshake must not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    snprintf(fx_dir, sizeof(fx_dir), "/tmp/msrpload-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx_dir));
    for (int i = 0; i < F_COUNT; i++)
        snprintf(fx_paths[i], sizeof(fx_paths[i]), "%s/%s", fx_dir, fx_names[i]);
    make_cert(F_A_CRT, F_A_KEY, "localhost");
    make_cert(F_B_CRT, F_B_KEY, "localhost");

    FILE *f = fopen(fx(F_GARBAGE), "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a PEM file\n", f);
    ck_assert_int_eq(fclose(f), 0);

    f = fopen(fx(F_COMBINED), "w");
    ck_assert_ptr_nonnull(f);
    append_file(f, fx(F_A_CRT));
    append_file(f, fx(F_A_KEY));
    ck_assert_int_eq(fclose(f), 0);
}

static void fx_teardown(void)
{
    for (int i = 0; i < F_COUNT; i++)
        unlink(fx_paths[i]);
    /* rmdir fails if a test left a file of its own behind. */
    ck_assert_msg(rmdir(fx_dir) == 0, "rmdir %s: %s", fx_dir, strerror(errno));
    ERR_clear_error();
}

/* ---- helpers ---- */

static struct net_tls *server_ctx(enum fx_file crt, enum fx_file key, const char *ca)
{
    struct net_tls *t = NULL;
    char err[256] = "";
    int rc = net_tls_server_create(&t, fx(crt), fx(key), ca, err, sizeof(err));
    ck_assert_msg(rc == 0, "server_create: %d %s", rc, err);
    ck_assert_ptr_nonnull(t);
    return t;
}

static struct net_tls *client_ctx(const char *ca, const char *crt, const char *key)
{
    struct net_tls *t = NULL;
    char err[256] = "";
    int rc = net_tls_client_create(&t, ca, crt, key, err, sizeof(err));
    ck_assert_msg(rc == 0, "client_create: %d %s", rc, err);
    ck_assert_ptr_nonnull(t);
    return t;
}

static X509 *load_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    return x;
}

static EVP_PKEY *load_key(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(k);
    return k;
}

/* Two SSL objects joined by a non-blocking socketpair: s is the server end, c the client. */
struct pair {
    int fds[2];
    SSL *s, *c;
};

static void pair_open(struct pair *p, struct net_tls *server, struct net_tls *client,
                      const char *sni)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->fds), 0);
    /* A server ignores the name: only clients send one. */
    p->s = net_tls_session(server, p->fds[0], "ignored.example");
    p->c = net_tls_session(client, p->fds[1], sni);
    ck_assert_ptr_nonnull(p->s);
    ck_assert_ptr_nonnull(p->c);
    ck_assert_int_eq(SSL_get_fd(p->s), p->fds[0]);
    ck_assert_int_eq(SSL_get_fd(p->c), p->fds[1]);
    ck_assert(SSL_is_server(p->s));
    ck_assert(!SSL_is_server(p->c));
}

static void pair_close(struct pair *p)
{
    SSL_free(p->s);
    SSL_free(p->c);
    close(p->fds[0]);
    close(p->fds[1]);
    ERR_clear_error();
}

enum hs_state { HS_RUNNING, HS_DONE, HS_FAILED };

static enum hs_state hs_step(SSL *ssl, enum hs_state st)
{
    if (st != HS_RUNNING)
        return st;
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return HS_DONE;
    int e = SSL_get_error(ssl, r);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? HS_RUNNING : HS_FAILED;
}

/*
 * Alternates the two ends until neither is running. A side that fails sends an alert first,
 * so the other side fails on its next step instead of waiting; the bound catches the rest.
 */
static void handshake(struct pair *p, enum hs_state *cs, enum hs_state *ss)
{
    *cs = *ss = HS_RUNNING;
    for (int i = 0; i < MAX_ROUNDS && (*cs == HS_RUNNING || *ss == HS_RUNNING); i++) {
        *cs = hs_step(p->c, *cs);
        *ss = hs_step(p->s, *ss);
    }
}

static void handshake_ok(struct pair *p)
{
    enum hs_state cs, ss;
    handshake(p, &cs, &ss);
    char reason[256];
    ck_assert_msg(cs == HS_DONE && ss == HS_DONE, "handshake: client %d server %d: %s", cs, ss,
                  net_tls_last_error(reason, sizeof(reason)));
}

struct transfer_stats {
    int retries;  /* writes that wanted to be retried (WANT_WRITE) */
    int partials; /* writes that returned fewer bytes than asked for */
};

/*
 * Sends len bytes from one end and reads them at the other, both non-blocking. Each round
 * writes until the socket is full, then reads until it is empty, so that a large transfer
 * must wait for the reader. Writes come from two identical copies in turn: a write retried
 * after WANT_WRITE comes from another address, which OpenSSL fails as "bad write retry"
 * unless the context accepts moving write buffers.
 */
static struct transfer_stats transfer(SSL *from, SSL *to, size_t len)
{
    unsigned char *copies[2] = {malloc(len), malloc(len)};
    unsigned char *in = malloc(len);
    ck_assert(copies[0] != NULL && copies[1] != NULL && in != NULL);
    uint64_t seed = 0x9E3779B97F4A7C15ULL ^ len;
    for (size_t i = 0; i < len; i++)
        copies[0][i] = (unsigned char)test_rand(&seed);
    memcpy(copies[1], copies[0], len);

    struct transfer_stats st = {0, 0};
    size_t sent = 0, got = 0;
    unsigned turn = 0;
    for (int round = 0; got < len; round++) {
        ck_assert_msg(round < MAX_TRANSFER_ROUNDS, "transfer stalled at %zu/%zu", got, len);
        while (sent < len) {
            int want = (int)(len - sent);
            int n = SSL_write(from, copies[turn++ & 1] + sent, want);
            if (n <= 0) {
                int e = SSL_get_error(from, n);
                ck_assert_msg(e == SSL_ERROR_WANT_WRITE, "SSL_write: error %d", e);
                st.retries++;
                break;
            }
            st.partials += n < want;
            sent += (size_t)n;
        }
        for (;;) {
            int n = SSL_read(to, in + got, (int)(len - got));
            if (n <= 0) {
                int e = SSL_get_error(to, n);
                ck_assert_msg(e == SSL_ERROR_WANT_READ, "SSL_read: error %d", e);
                break;
            }
            got += (size_t)n;
        }
    }
    ck_assert(memcmp(in, copies[0], len) == 0);
    free(copies[0]);
    free(copies[1]);
    free(in);
    return st;
}

/* Both directions, a short message each way. */
static void exchange(struct pair *p)
{
    transfer(p->c, p->s, 100);
    transfer(p->s, p->c, 100);
}

/* After the other side rejected it, an end's next read must fail with the alert. */
static void assert_read_fails(SSL *ssl)
{
    char buf[16];
    int n = SSL_read(ssl, buf, sizeof(buf));
    ck_assert_int_le(n, 0);
    int e = SSL_get_error(ssl, n);
    ck_assert_msg(e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN,
                  "read after rejection: error %d", e);
}

/* ---- self-signed certificates ---- */

START_TEST(self_signed_fields)
{
    X509 *x = load_cert(fx(F_A_CRT));
    EVP_PKEY *k = load_key(fx(F_A_KEY));

    /* Subject and issuer are both CN=localhost: self-issued. */
    char cn[128];
    ck_assert_int_gt(
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)), 0);
    ck_assert_str_eq(cn, "localhost");
    ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
    ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);

    /* subjectAltName: DNS:localhost, IP:127.0.0.1, IP:::1, and nothing else matches. */
    ck_assert_int_eq(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    ck_assert_int_eq(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    ck_assert_int_eq(X509_check_ip_asc(x, "::1", 0), 1);
    ck_assert_int_eq(X509_check_host(x, "wrong.example", 0, 0, NULL), 0);
    ck_assert_int_eq(X509_check_ip_asc(x, "127.0.0.2", 0), 0);

    /* A CA, so that the file can verify itself. */
    ck_assert_int_ge(X509_check_ca(x), 1);

    /* EC P-256, signed with SHA-256 by its own key, and the key file holds that key. */
    EVP_PKEY *pub = X509_get0_pubkey(x);
    ck_assert(EVP_PKEY_is_a(pub, "EC"));
    ck_assert_int_eq(EVP_PKEY_get_bits(pub), 256);
    ck_assert_int_eq(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    ck_assert_int_eq(X509_verify(x, pub), 1);
    ck_assert_int_eq(X509_check_private_key(x, k), 1);

    /* Valid from an hour ago for 30 days. */
    time_t now = time(NULL);
    time_t t = now - 50 * 60;
    ck_assert_int_lt(X509_cmp_time(X509_get0_notBefore(x), &t), 0);
    t = now - 70 * 60;
    ck_assert_int_gt(X509_cmp_time(X509_get0_notBefore(x), &t), 0);
    t = now + 29 * 24 * 3600;
    ck_assert_int_gt(X509_cmp_time(X509_get0_notAfter(x), &t), 0);
    t = now + 31 * 24 * 3600;
    ck_assert_int_lt(X509_cmp_time(X509_get0_notAfter(x), &t), 0);

    /* Random serials: A and B differ (a 2^-64 chance of a false failure). */
    X509 *y = load_cert(fx(F_B_CRT));
    ck_assert_int_ne(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(y)), 0);
    ck_assert_int_eq(X509_check_private_key(y, k), 0);
    ERR_clear_error();

    /* The key is for its owner only. */
    struct stat st;
    ck_assert_int_eq(stat(fx(F_A_KEY), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    X509_free(y);
    EVP_PKEY_free(k);
    X509_free(x);
}
END_TEST

/*
 * A common name that is an address goes into subjectAltName as an address, not as a DNS
 * name (the subject CN still holds it, hence the flag: OpenSSL falls back to the CN when a
 * certificate has no DNS name).
 */
START_TEST(self_signed_ip_name)
{
    remove_outputs();
    make_cert(F_OUT_CRT, F_OUT_KEY, "192.0.2.7");
    X509 *x = load_cert(fx(F_OUT_CRT));
    ck_assert_int_eq(X509_check_ip_asc(x, "192.0.2.7", 0), 1);
    ck_assert_int_eq(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    ck_assert_int_eq(X509_check_host(x, "192.0.2.7", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL),
                     0);
    X509_free(x);
    remove_outputs();
}
END_TEST

/* An existing key file with a wide mode is narrowed to 0600. */
START_TEST(self_signed_key_mode)
{
    remove_outputs();
    int fd = open(fx(F_OUT_KEY), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, 0644), 0);
    close(fd);
    make_cert(F_OUT_CRT, F_OUT_KEY, "example.test");
    struct stat st;
    ck_assert_int_eq(stat(fx(F_OUT_KEY), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    remove_outputs();
}
END_TEST

START_TEST(self_signed_errors)
{
    remove_outputs();
    char err[256] = "";
    char bad[256];
    snprintf(bad, sizeof(bad), "%s/no/such/dir/x.pem", fx_dir);

    /* The certificate's folder is missing: ENOENT naming it, and no key left behind. */
    ck_assert_int_eq(net_tls_make_self_signed(bad, fx(F_OUT_KEY), "localhost", err, sizeof(err)),
                     ENOENT);
    ck_assert_msg(strstr(err, bad) != NULL, "error does not name the file: %s", err);
    ck_assert_int_eq(access(fx(F_OUT_KEY), F_OK), -1);

    err[0] = '\0';
    ck_assert_int_eq(net_tls_make_self_signed(fx(F_OUT_CRT), bad, "localhost", err, sizeof(err)),
                     ENOENT);
    ck_assert_msg(strstr(err, bad) != NULL, "error does not name the file: %s", err);
    ck_assert_int_eq(access(fx(F_OUT_CRT), F_OK), -1);

    ck_assert_int_eq(net_tls_make_self_signed(fx(F_OUT_CRT), fx(F_OUT_KEY), "", err, sizeof(err)),
                     EINVAL);
    ck_assert_int_eq(net_tls_make_self_signed(fx(F_OUT_CRT), fx(F_OUT_KEY), NULL, err, sizeof(err)),
                     EINVAL);
    ck_assert_int_eq(net_tls_make_self_signed(NULL, fx(F_OUT_KEY), "localhost", NULL, 0), EINVAL);
    char long_cn[80];
    memset(long_cn, 'a', sizeof(long_cn) - 1);
    long_cn[sizeof(long_cn) - 1] = '\0';
    ck_assert_int_eq(
        net_tls_make_self_signed(fx(F_OUT_CRT), fx(F_OUT_KEY), long_cn, err, sizeof(err)), EINVAL);
    ck_assert_int_eq(access(fx(F_OUT_CRT), F_OK), -1);
    ck_assert_int_eq(access(fx(F_OUT_KEY), F_OK), -1);
}
END_TEST

/* ---- contexts ---- */

START_TEST(is_server)
{
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, NULL);
    struct net_tls *c = client_ctx(NULL, NULL, NULL);
    ck_assert(net_tls_is_server(s));
    ck_assert(!net_tls_is_server(c));
    net_tls_destroy(s);
    net_tls_destroy(c);
    net_tls_destroy(NULL);
}
END_TEST

static void assert_common_settings(SSL *ssl)
{
    ck_assert_int_eq(SSL_CTX_get_min_proto_version(SSL_get_SSL_CTX(ssl)), TLS1_2_VERSION);
    long want = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
    ck_assert_int_eq(SSL_get_mode(ssl) & want, want);
    ck_assert((SSL_get_options(ssl) & SSL_OP_NO_COMPRESSION) != 0);
}

START_TEST(context_settings)
{
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, NULL);
    struct net_tls *sv = server_ctx(F_A_CRT, F_A_KEY, fx(F_A_CRT));
    struct net_tls *c = client_ctx(NULL, NULL, NULL);
    struct net_tls *cv = client_ctx(fx(F_A_CRT), NULL, NULL);
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);

    SSL *ssl = net_tls_session(s, fds[0], NULL);
    ck_assert_ptr_nonnull(ssl);
    assert_common_settings(ssl);
    ck_assert_int_eq(SSL_get_verify_mode(ssl), SSL_VERIFY_NONE);
    SSL_free(ssl);

    ssl = net_tls_session(sv, fds[0], NULL);
    ck_assert_ptr_nonnull(ssl);
    assert_common_settings(ssl);
    ck_assert_int_eq(SSL_get_verify_mode(ssl), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    SSL_free(ssl);

    ssl = net_tls_session(c, fds[1], NULL);
    ck_assert_ptr_nonnull(ssl);
    assert_common_settings(ssl);
    ck_assert_int_eq(SSL_get_verify_mode(ssl), SSL_VERIFY_NONE);
    SSL_free(ssl);

    ssl = net_tls_session(cv, fds[1], "localhost");
    ck_assert_ptr_nonnull(ssl);
    assert_common_settings(ssl);
    ck_assert_int_eq(SSL_get_verify_mode(ssl), SSL_VERIFY_PEER);
    ck_assert_str_eq(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), "localhost");
    SSL_free(ssl);

    close(fds[0]);
    close(fds[1]);
    net_tls_destroy(s);
    net_tls_destroy(sv);
    net_tls_destroy(c);
    net_tls_destroy(cv);
}
END_TEST

/* A certificate file that also holds the key, with no key file given. */
START_TEST(combined_pem)
{
    struct net_tls *s = NULL, *c = NULL;
    char err[256] = "";
    int rc = net_tls_server_create(&s, fx(F_COMBINED), NULL, NULL, err, sizeof(err));
    ck_assert_msg(rc == 0, "server: %s", err);
    rc = net_tls_client_create(&c, fx(F_A_CRT), fx(F_COMBINED), NULL, err, sizeof(err));
    ck_assert_msg(rc == 0, "client: %s", err);
    struct pair p;
    pair_open(&p, s, c, "localhost");
    handshake_ok(&p);
    exchange(&p);
    pair_close(&p);
    net_tls_destroy(s);
    net_tls_destroy(c);
}
END_TEST

/* ---- handshakes ---- */

/* Without a CA file a client accepts any certificate under any name, and still sends SNI. */
START_TEST(no_ca_accepts_any)
{
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, NULL);
    struct net_tls *c = client_ctx(NULL, NULL, NULL);
    struct pair p;
    pair_open(&p, s, c, "wrong.example");
    handshake_ok(&p);
    ck_assert_str_eq(SSL_get_servername(p.s, TLSEXT_NAMETYPE_host_name), "wrong.example");
    ck_assert_int_eq(SSL_version(p.c), TLS1_3_VERSION);
    exchange(&p);
    pair_close(&p);

    /* And with no name at all. */
    pair_open(&p, s, c, NULL);
    handshake_ok(&p);
    ck_assert_ptr_null(SSL_get_servername(p.s, TLSEXT_NAMETYPE_host_name));
    exchange(&p);
    pair_close(&p);
    net_tls_destroy(s);
    net_tls_destroy(c);
}
END_TEST

/*
 * A megabyte each way: more than a socketpair buffers, so writes must wait for the reader
 * and be retried from a moved buffer.
 */
START_TEST(bulk_both_ways)
{
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, NULL);
    struct net_tls *c = client_ctx(fx(F_A_CRT), NULL, NULL);
    struct pair p;
    pair_open(&p, s, c, "localhost");
    handshake_ok(&p);
    struct transfer_stats up = transfer(p.c, p.s, 1 << 20);
    struct transfer_stats down = transfer(p.s, p.c, 1 << 20);
    ck_assert_int_gt(up.retries, 0);
    ck_assert_int_gt(up.partials, 0);
    ck_assert_int_gt(down.retries, 0);
    ck_assert_int_gt(down.partials, 0);
    pair_close(&p);
    net_tls_destroy(s);
    net_tls_destroy(c);
}
END_TEST

/* TLS 1.2 is still accepted; older versions are not. */
START_TEST(tls12_and_older)
{
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, NULL);
    struct net_tls *c = client_ctx(fx(F_A_CRT), NULL, NULL);
    struct pair p;
    pair_open(&p, s, c, "localhost");
    ck_assert_int_eq(SSL_set_max_proto_version(p.c, TLS1_2_VERSION), 1);
    handshake_ok(&p);
    ck_assert_int_eq(SSL_version(p.s), TLS1_2_VERSION);
    ck_assert_int_eq(SSL_get_verify_result(p.c), X509_V_OK);
    exchange(&p);
    pair_close(&p);

    /* A TLS 1.1 client (security level 0 lets this OpenSSL offer it at all). */
    pair_open(&p, s, c, "localhost");
    SSL_set_security_level(p.c, 0);
    ck_assert_int_eq(SSL_set_min_proto_version(p.c, TLS1_1_VERSION), 1);
    ck_assert_int_eq(SSL_set_max_proto_version(p.c, TLS1_1_VERSION), 1);
    enum hs_state cs, ss;
    handshake(&p, &cs, &ss);
    ck_assert_int_eq(ss, HS_FAILED);
    ck_assert_int_eq(cs, HS_FAILED);
    pair_close(&p);
    net_tls_destroy(s);
    net_tls_destroy(c);
}
END_TEST

/* ---- verification by a client with a CA file ---- */

struct verify_vec {
    const char *sni;
    bool ok;
    long want_verify;     /* SSL_get_verify_result on the client */
    const char *sent_sni; /* what the server saw; NULL: nothing */
};

static const struct verify_vec verify_vecs[] = {
    {"localhost", true, X509_V_OK, "localhost"},
    {"LOCALHOST", true, X509_V_OK, "LOCALHOST"},
    /* RFC 6066 section 3: addresses are checked but not sent as server_name. */
    {"127.0.0.1", true, X509_V_OK, NULL},
    {"::1", true, X509_V_OK, NULL},
    {"[::1]", true, X509_V_OK, NULL},
    {"wrong.example", false, X509_V_ERR_HOSTNAME_MISMATCH, "wrong.example"},
    {"sub.localhost", false, X509_V_ERR_HOSTNAME_MISMATCH, "sub.localhost"},
    {"127.0.0.2", false, X509_V_ERR_IP_ADDRESS_MISMATCH, NULL},
    {"::2", false, X509_V_ERR_IP_ADDRESS_MISMATCH, NULL},
};

START_TEST(verify_names)
{
    const struct verify_vec *v = &verify_vecs[_i];
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, NULL);
    struct net_tls *c = client_ctx(fx(F_A_CRT), NULL, NULL);
    struct pair p;
    pair_open(&p, s, c, v->sni);
    enum hs_state cs, ss;
    handshake(&p, &cs, &ss);
    ck_assert_int_eq(SSL_get_verify_result(p.c), v->want_verify);
    if (v->ok) {
        ck_assert_msg(cs == HS_DONE && ss == HS_DONE, "%s: client %d server %d", v->sni, cs, ss);
        exchange(&p);
    } else {
        ck_assert_msg(cs == HS_FAILED, "%s: client %d", v->sni, cs);
        ck_assert_msg(ss != HS_DONE, "%s: server finished", v->sni);
    }
    const char *seen = SSL_get_servername(p.s, TLSEXT_NAMETYPE_host_name);
    if (v->sent_sni == NULL)
        ck_assert_msg(seen == NULL, "%s: server saw SNI %s", v->sni, seen);
    else
        ck_assert_msg(seen != NULL && strcmp(seen, v->sent_sni) == 0, "%s: server saw SNI %s",
                      v->sni, seen != NULL ? seen : "(none)");
    pair_close(&p);
    net_tls_destroy(s);
    net_tls_destroy(c);
}
END_TEST

/* B's certificate as the CA: same subject as A, other key, so A must not verify. */
START_TEST(verify_wrong_ca)
{
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, NULL);
    struct net_tls *c = client_ctx(fx(F_B_CRT), NULL, NULL);
    struct pair p;
    pair_open(&p, s, c, "localhost");
    enum hs_state cs, ss;
    handshake(&p, &cs, &ss);
    ck_assert_int_eq(cs, HS_FAILED);
    ck_assert_int_ne(ss, HS_DONE);
    ck_assert_int_ne(SSL_get_verify_result(p.c), X509_V_OK);
    pair_close(&p);
    net_tls_destroy(s);
    net_tls_destroy(c);
}
END_TEST

/* A verifying client with no name checks the chain only. */
START_TEST(verify_without_name)
{
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, NULL);
    struct net_tls *c = client_ctx(fx(F_A_CRT), NULL, NULL);
    struct pair p;
    pair_open(&p, s, c, NULL);
    handshake_ok(&p);
    ck_assert_int_eq(SSL_get_verify_result(p.c), X509_V_OK);
    pair_close(&p);
    net_tls_destroy(s);
    net_tls_destroy(c);
}
END_TEST

/* ---- client certificates ---- */

START_TEST(client_cert_required)
{
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, fx(F_A_CRT));
    struct net_tls *c = client_ctx(fx(F_A_CRT), NULL, NULL);
    struct pair p;
    pair_open(&p, s, c, "localhost");
    enum hs_state cs, ss;
    handshake(&p, &cs, &ss);
    ck_assert_int_eq(ss, HS_FAILED);
    /* In TLS 1.3 the client finishes first and learns of the rejection when it reads. */
    if (cs == HS_DONE)
        assert_read_fails(p.c);
    else
        ck_assert_int_eq(cs, HS_FAILED);
    pair_close(&p);
    net_tls_destroy(s);
    net_tls_destroy(c);
}
END_TEST

START_TEST(client_cert_accepted)
{
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, fx(F_A_CRT));
    struct net_tls *c = client_ctx(fx(F_A_CRT), fx(F_A_CRT), fx(F_A_KEY));
    struct pair p;
    pair_open(&p, s, c, "localhost");
    handshake_ok(&p);
    ck_assert_ptr_nonnull(SSL_get0_peer_certificate(p.s));
    ck_assert_int_eq(SSL_get_verify_result(p.s), X509_V_OK);
    exchange(&p);
    pair_close(&p);
    net_tls_destroy(s);
    net_tls_destroy(c);
}
END_TEST

START_TEST(client_cert_untrusted)
{
    struct net_tls *s = server_ctx(F_A_CRT, F_A_KEY, fx(F_A_CRT));
    struct net_tls *c = client_ctx(fx(F_A_CRT), fx(F_B_CRT), fx(F_B_KEY));
    struct pair p;
    pair_open(&p, s, c, "localhost");
    enum hs_state cs, ss;
    handshake(&p, &cs, &ss);
    ck_assert_int_eq(ss, HS_FAILED);
    ck_assert_int_ne(SSL_get_verify_result(p.s), X509_V_OK);
    if (cs == HS_DONE)
        assert_read_fails(p.c);
    pair_close(&p);
    net_tls_destroy(s);
    net_tls_destroy(c);
}
END_TEST

/* ---- set-up errors ---- */

#define NONE F_COUNT /* a NULL path in the table below */

struct error_vec {
    bool server;
    enum fx_file cert, key, ca;
    int want;
    enum fx_file named, also_named; /* files the message must name (NONE: no check) */
};

static const struct error_vec error_vecs[] = {
    {true, F_MISSING, F_A_KEY, NONE, ENOENT, F_MISSING, NONE},
    {true, F_A_CRT, F_MISSING, NONE, ENOENT, F_MISSING, NONE},
    {true, F_A_CRT, F_A_KEY, F_MISSING, ENOENT, F_MISSING, NONE},
    {true, F_A_CRT, F_B_KEY, NONE, EINVAL, F_B_KEY, F_A_CRT},
    {true, F_B_CRT, F_A_KEY, F_A_CRT, EINVAL, F_A_KEY, F_B_CRT},
    {true, F_GARBAGE, F_A_KEY, NONE, EIO, F_GARBAGE, NONE},
    {true, F_A_CRT, F_GARBAGE, NONE, EIO, F_GARBAGE, NONE},
    {true, F_A_CRT, F_A_KEY, F_GARBAGE, EIO, F_GARBAGE, NONE},
    {true, F_A_CRT, NONE, NONE, EIO, F_A_CRT, NONE}, /* no key inside the certificate file */
    {true, NONE, F_A_KEY, NONE, EINVAL, NONE, NONE},
    {false, NONE, NONE, F_MISSING, ENOENT, F_MISSING, NONE},
    {false, NONE, NONE, F_GARBAGE, EIO, F_GARBAGE, NONE},
    {false, F_MISSING, F_A_KEY, F_A_CRT, ENOENT, F_MISSING, NONE},
    {false, F_A_CRT, F_MISSING, F_A_CRT, ENOENT, F_MISSING, NONE},
    {false, F_A_CRT, F_B_KEY, NONE, EINVAL, F_B_KEY, F_A_CRT},
    {false, NONE, F_A_KEY, NONE, EINVAL, NONE, NONE},
};

static const char *path_or_null(enum fx_file f)
{
    return f == NONE ? NULL : fx(f);
}

START_TEST(setup_errors)
{
    const struct error_vec *v = &error_vecs[_i];
    struct net_tls *t = NULL;
    char err[512] = "";
    int rc;
    if (v->server)
        rc = net_tls_server_create(&t, path_or_null(v->cert), path_or_null(v->key),
                                   path_or_null(v->ca), err, sizeof(err));
    else
        rc = net_tls_client_create(&t, path_or_null(v->ca), path_or_null(v->cert),
                                   path_or_null(v->key), err, sizeof(err));
    ck_assert_msg(rc == v->want, "case %d: got %d (%s), want %d", _i, rc, err, v->want);
    ck_assert_ptr_null(t);
    ck_assert_msg(err[0] != '\0', "case %d: no message", _i);
    if (v->named != NONE)
        ck_assert_msg(strstr(err, fx(v->named)) != NULL, "case %d: message does not name %s: %s",
                      _i, fx(v->named), err);
    if (v->also_named != NONE)
        ck_assert_msg(strstr(err, fx(v->also_named)) != NULL,
                      "case %d: message does not name %s: %s", _i, fx(v->also_named), err);
    /* The reason was taken: nothing is left to confuse the next caller. */
    ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

/* A small or absent error buffer truncates or drops the message, never overruns. */
START_TEST(error_buffer_sizes)
{
    struct net_tls *t = NULL;
    char small[8];
    memset(small, 'x', sizeof(small));
    ck_assert_int_eq(net_tls_server_create(&t, fx(F_MISSING), fx(F_A_KEY), NULL, small, 5), ENOENT);
    ck_assert_uint_eq(strlen(small), 4);
    ck_assert_int_eq(small[5], 'x');
    ck_assert_int_eq(net_tls_server_create(&t, fx(F_GARBAGE), fx(F_A_KEY), NULL, NULL, 0), EIO);
    ck_assert_int_eq(net_tls_client_create(&t, fx(F_MISSING), NULL, NULL, NULL, 0), ENOENT);
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(last_error)
{
    char buf[256];
    ERR_clear_error();
    ck_assert_str_eq(net_tls_last_error(buf, sizeof(buf)), "unknown OpenSSL error");

    /* Two errors queued: the first (the parser's) is reported and both are cleared. */
    BIO *bio = BIO_new_mem_buf("junk", -1);
    ck_assert_ptr_nonnull(bio);
    ck_assert_ptr_null(PEM_read_bio_X509(bio, NULL, NULL, NULL));
    BIO_free(bio);
    unsigned long first = ERR_peek_error();
    ck_assert_uint_ne(first, 0);
    ERR_raise(ERR_LIB_SSL, ERR_R_PEM_LIB);
    char want[256];
    ERR_error_string_n(first, want, sizeof(want));
    ck_assert_str_eq(net_tls_last_error(buf, sizeof(buf)), want);
    ck_assert_uint_eq(ERR_peek_error(), 0);

    /* Truncated to the buffer, still terminated. */
    ERR_raise(ERR_LIB_SSL, ERR_R_PEM_LIB);
    char tiny[6];
    ck_assert_uint_eq(strlen(net_tls_last_error(tiny, sizeof(tiny))), sizeof(tiny) - 1);
    ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

Suite *make_tls_suite(void)
{
    Suite *s = suite_create("tls");

    TCase *tc = tcase_create("SelfSigned");
    tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, self_signed_fields);
    tcase_add_test(tc, self_signed_ip_name);
    tcase_add_test(tc, self_signed_key_mode);
    tcase_add_test(tc, self_signed_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("Contexts");
    tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, is_server);
    tcase_add_test(tc, context_settings);
    tcase_add_test(tc, combined_pem);
    suite_add_tcase(s, tc);

    tc = tcase_create("Handshake");
    tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, no_ca_accepts_any);
    tcase_add_test(tc, bulk_both_ways);
    tcase_add_test(tc, tls12_and_older);
    suite_add_tcase(s, tc);

    tc = tcase_create("Verify");
    tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_loop_test(tc, verify_names, 0, N_ELEMS(verify_vecs));
    tcase_add_test(tc, verify_wrong_ca);
    tcase_add_test(tc, verify_without_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("ClientCert");
    tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, client_cert_required);
    tcase_add_test(tc, client_cert_accepted);
    tcase_add_test(tc, client_cert_untrusted);
    suite_add_tcase(s, tc);

    tc = tcase_create("Errors");
    tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_loop_test(tc, setup_errors, 0, N_ELEMS(error_vecs));
    tcase_add_test(tc, error_buffer_sizes);
    tcase_add_test(tc, last_error);
    suite_add_tcase(s, tc);

    return s;
}
