/*
 * bench.h - what the benchmark files of `msrpload bench` share.
 *
 * Private to src/cli/bench*.c; nothing outside them includes it.
 */
#ifndef MSRPLOAD_CLI_BENCH_H
#define MSRPLOAD_CLI_BENCH_H

#include <stdbool.h>
#include <stddef.h>

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);

/* True when a figure group is selected by --only (empty: every group). */
bool bench_selected(const char *group, const char *only);
/* A connected blocking loopback TCP pair, TCP_NODELAY on both as conn.c sets; exits on
 * failure. */
void bench_loopback_pair(int *client, int *server);

/* The TLS contexts of the TLS figures (bench_tls.c): a fresh self-signed certificate for the
 * answering side and a client that verifies it, as `msrpload run` makes for embedded TLS. */
struct net_tls;
struct bench_tls {
    struct net_tls *server, *client;
};
void bench_tls_open(struct bench_tls *t); /* exits on failure */
void bench_tls_close(struct bench_tls *t);
/* The raw OpenSSL loop over loopback with those contexts: prints tls_raw_bytes_per_s and the
 * negotiated version and cipher (a `#` line on stderr); returns the figure. */
double bench_tls_raw(double seconds, const struct bench_tls *t);

/* The network figures (bench_net.c) and the load runner's (bench_run.c). */
void bench_net(double seconds, const char *only);
void bench_run(double seconds, const char *only);
/* An INVITE with an MSRP SDP offer parsed and written again (bench_sip.c). */
void bench_sip(double seconds, const char *only);
/* The load runner through a real Kamailio relay (bench_run.c): skipped without one. */
void bench_relay(double seconds, const char *only);
/* Whole calls through the scripted Kamailio SIP proxy (bench_sip_calls.c): skipped without. */
void bench_sip_calls(double seconds, const char *only);

/* What the Kamailio figures share (bench_run.c): CPU seconds (user + system) of every live
 * process in process group pgid, from /proc; this process's, from getrusage; NAME='value'
 * read from a tools/.../start.sh output line into out (left alone when line is another). */
double bench_group_cpu_seconds(long pgid);
double bench_self_cpu_seconds(void);
void bench_start_value(const char *line, const char *key, char *out, size_t cap);
/* The figures' message: send becomes one SEND of 100 bytes of text/plain in 2048-byte chunks,
 * asking for failure REPORTs; sc answers 200 and accepts every type and size. */
struct scenario;
struct step;
void bench_message_step(struct scenario *sc, struct step *send);
/* The tools folder of a Kamailio figure group: $env, else dflt; NULL, with a note on stderr
 * naming the group and how to install it, when kamailio is not installed. */
const char *bench_kamailio_tools(const char *env, const char *dflt, const char *group,
                                 const char *install);

#endif
