/* testutil.h - helpers shared by the test suites: files, a PRNG, skips, a real relay. */
#ifndef MSRPLOAD_TESTS_TESTUTIL_H
#define MSRPLOAD_TESTS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/*
 * Copies len bytes so that the last one sits right before a PROT_NONE page: reading one byte
 * too far crashes the test. Free with guarded_free().
 */
char *guarded_copy(const void *data, size_t len);
void guarded_free(char *p, size_t len);

/* Reads a whole file into a malloc'd buffer; aborts the test on error. */
char *read_file(const char *path, size_t *len);
/* A whole file as a malloc'd NUL-terminated string (read_file's buffer has no NUL). */
char *test_read_text(const char *path);
/* Writes text to path (created or truncated); aborts the test on error. */
void test_write_text(const char *path, const char *text);
/* Runs a shell command (system(3)); aborts the test unless it exited; returns its exit code. */
int test_run_shell(const char *cmd);

struct scenario;
/* The client cases of scenarios/conformance/ (conform --listen), loaded into sc (at most cap,
 * more fails the test): with relay, the relay-client cases (conform --listen --as-relay),
 * else the endpoint-client ones. Free each with scenario_free. */
size_t test_conform_client_cases(struct scenario *sc, size_t cap, bool relay);

/* Small deterministic PRNG (xorshift64*) for reproducible random tests. */
uint64_t test_rand(uint64_t *state);

/* Converts "\r\n" written as literal line ends: a vector written with "\n" gets CRLF. */
char *crlf_from_lf(const char *text, size_t *len);

/* The msrpload binary under test: $MSRPLOAD_BIN (make asan sets it), else ./msrpload. */
const char *msrpload_binary(void);

/* A fresh temporary directory for one test, and its removal with everything in it. */
struct tmp {
    char dir[64];
};
void tmp_make(struct tmp *t);
void tmp_remove(struct tmp *t);

/*
 * `msrpload serve --listen 127.0.0.1:0 ARGS...` for a test (args: NULL-terminated, or NULL).
 * serve prints its session URIs once it listens: reading the first one (bounded, 20 s) into
 * uri, with its port, is the wait for it to be ready; the test fails when none comes. Unless
 * args has a --log of its own, the event lines go to /dev/null, so nothing else is written to
 * the pipe; stderr goes to /dev/null. serve is killed if the test process dies.
 * test_serve_stop sends SIGTERM, SIGKILL after 10 s; returns the exit code, -1 if killed.
 */
/* The value, or the integer, at a dotted path (no key holds a dot) of a run's summary.json,
 * as loaded; the test fails when it is missing (or not an integer). */
json_t *test_summary_get(json_t *summary, const char *path);
long long test_summary_int(json_t *summary, const char *path);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t test_now_ms(void);
/* Forks argv[0] (argv NULL-terminated) with stdout on a pipe (its read end in *out) or, when
 * out is NULL, into outpath, and stderr into errpath (files created or truncated); the child is
 * killed if the test process dies. Its pid. */
int test_spawn(const char *const *argv, const char *outpath, const char *errpath, int *out);
/* SIGTERM to *pid, then (bounded, 10 s) its exit code; SIGKILL and -1 when it hangs; *pid = 0
 * (-1 at once when *pid is not a child). */
int test_child_stop(int *pid);

struct test_serve {
    int pid;
    uint16_t port;
    char uri[256];
};
void test_serve_start(struct test_serve *s, const char *const *args);
int test_serve_stop(struct test_serve *s);

/*
 * Visible skips. libcheck has no skip state and runs each test in a forked child, so a skip is
 * recorded in a MAP_SHARED mapping that test_skips_init() makes before srunner_run_all; the
 * runner then lists the skips and counts them apart from the passes. test_skip prints
 * "TEST: skipped: REASON" on stderr and records it; the test then returns.
 */
void test_skips_init(void);
void test_skip(const char *test, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t test_skips_count(void);
void test_skips_print(FILE *out);

/*
 * A real Kamailio MSRP relay on loopback (tools/relay/start.sh), for the tests that need one.
 * When kamailio is missing it is installed as root (one line on stderr says so) and otherwise
 * the relay stays down with the reason in skip; test_relay_skip then records a skip and the
 * test returns. REQUIRE_RELAY=1 (CI) turns that skip into a failure with the same reason;
 * RELAY_FORCE_SKIP=REASON keeps the relay down as if Kamailio were missing (to test the skip).
 * The relay's ports are free ports (bound to port 0 and released), tried again on a clash.
 * env: extra VAR=value words for start.sh (e.g. "RELAY_EXPIRES_MIN=2"), or "".
 * When Kamailio's websocket module is there (installed as root when missing, like the rest)
 * the relay also serves MSRP over WebSocket (RFC 7977) on ws_port (and wss_port with tls);
 * otherwise ws_port stays 0 with the reason in ws_skip, and the relay runs without WS.
 * test_relay_ws_skip is test_relay_skip for the tests that need the WS ports.
 */
struct test_relay {
    bool up;
    char skip[640];
    char uri[128], tls_uri[128];
    char pidfile[512], cert[512];
    uint16_t port, tls_port;
    char ws_uri[128], wss_uri[128]; /* ws://127.0.0.1:PORT/, wss://127.0.0.1:PORT/ */
    uint16_t ws_port, wss_port;
    char ws_skip[160];
};
void test_relay_start(struct test_relay *r, bool tls, const char *env);
void test_relay_stop(struct test_relay *r);
bool test_relay_skip(const struct test_relay *r, const char *test);
bool test_relay_ws_skip(const struct test_relay *r, const char *test);

/* Shared by the Kamailio starters (test_relay_*; sip_testutil.c's test_sip_*):
 * test_env_on: $name is set to something other than "" or "0";
 * test_line_value: NAME='value' (key NAME) from a line of a start.sh's output, into out;
 * test_stop_script: `TOOLS/stop.sh PIDFILE --clean` (at most 20 s) when pidfile is not "",
 * a failure one line on stderr that starts with who. */
bool test_env_on(const char *name);
bool test_line_value(const char *line, const char *key, char *out, size_t cap);
void test_stop_script(const char *tools, const char *pidfile, const char *who);

#endif
