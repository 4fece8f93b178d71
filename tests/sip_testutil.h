/* sip_testutil.h - the scripted Kamailio SIP proxy (tools/sip) and SIPp peers (tests/sip) for tests. */
#ifndef MSRPLOAD_TESTS_SIP_TESTUTIL_H
#define MSRPLOAD_TESTS_SIP_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
