/* sip_testutil.h - the scripted Kamailio SIP proxy (tools/sip), SIPp peers (tests/sip) and
 * serve --sip as a child, for tests. */
#ifndef MSRPLOAD_TESTS_SIP_TESTUTIL_H
#define MSRPLOAD_TESTS_SIP_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * A real Kamailio SIP registrar/proxy on loopback (tools/sip/start.sh): UDP and TCP on port,
 * with tls also TLS on tls_port (start.sh's self-signed certificate), and with msrp the MSRP relay of tools/relay in the same instance on msrp_port. The ports are
 * free for both UDP and TCP (bound to port 0 and released), tried again on a clash. When
 * Kamailio is missing the proxy stays down with the reason in skip; test_sip_skip then records
 * a visible skip and the test returns. REQUIRE_SIP=1 or REQUIRE_RELAY=1 (CI) turns that skip
 * into a failure with the same reason. env: extra VAR=value words for start.sh, or "".
 */
struct test_sip {
    bool up;
    char skip[512];
    uint16_t port, tls_port, msrp_port;
    char pidfile[512];
    char cert[512]; /* with tls: start.sh's certificate (SIP_CERT), the CA to verify it */
};
void test_sip_start(struct test_sip *s, bool tls, bool msrp, const char *env);
/* The same on a given UDP/TCP port (tried again on a failure, on that port). */
void test_sip_start_on(struct test_sip *s, uint16_t fixed_port, bool tls, bool msrp,
                       const char *env);
void test_sip_stop(struct test_sip *s);
bool test_sip_skip(const struct test_sip *s, const char *test);

/* A skip (failure under REQUIRE_SIP/REQUIRE_RELAY) when SIPp is not installed. */
bool test_sipp_skip(const char *test);

/* A loopback port free for both UDP and TCP right now (0 when none was found). */
uint16_t test_sip_free_port(void);

/*
 * One SIPp process: `sipp ARGS...` (args NULL-terminated, without the program name) run in
 * dir with stdin/stdout/stderr on /dev/null, killed if the test process dies.
 * test_sipp_wait waits at most seconds: its exit code, -1 when it had to be killed.
 * test_sipp_wait_bound waits (bounded, 10 s) until something holds port on 127.0.0.1 (UDP,
 * or TCP with tcp): SIPp has bound its socket.
 */
struct test_sipp {
    int pid;
};
void test_sipp_start(struct test_sipp *p, const char *dir, const char *const *args);
int test_sipp_wait(struct test_sipp *p, int seconds);
bool test_sipp_wait_bound(uint16_t port, bool tcp);

/* The whole file as a string ("" when it cannot be read); free it. */
char *test_slurp(const char *path);

/*
 * `msrpload serve --listen 127.0.0.1:0 --sip SIPURI EXTRA...` as a child (extra
 * NULL-terminated, or NULL), its stderr in DIR/serve.err. test_sip_serve_start reads the
 * Contact line it prints first (bounded, 20 s) and its SIP port, or fails the test;
 * test_sip_serve_line, stdout's next line within timeout_ms (false when none came);
 * test_sip_serve_event, lines until one with "event": event (within
 * TEST_SIP_SERVE_WAIT_MS, else the test fails), returned (decref it); test_sip_serve_stop,
 * SIGTERM and (bounded, 10 s) its exit code, -1 when it had to be killed;
 * test_sip_serve_close, stopped if need be and the pipe closed.
 */
#define TEST_SIP_SERVE_WAIT_MS 15000
struct tmp;
struct test_sip_serve {
    int pid;
    int out;
    char buf[1 << 16];
    size_t len;
    char contact[256]; /* the first line */
    uint16_t sip_port;
    char errpath[128];
};
void test_sip_serve_start(struct test_sip_serve *p, const struct tmp *t, const char *sip_uri,
                          const char *const *extra);
bool test_sip_serve_line(struct test_sip_serve *p, char *line, size_t cap, int timeout_ms);
json_t *test_sip_serve_event(struct test_sip_serve *p, const char *event);
int test_sip_serve_stop(struct test_sip_serve *p);
void test_sip_serve_close(struct test_sip_serve *p);
/* A JSON object's string or integer member; the test fails when it is not one. */
const char *test_jstr(json_t *o, const char *key);
long test_jint(json_t *o, const char *key);

#endif
