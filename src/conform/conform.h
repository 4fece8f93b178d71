/*
 * conform.h - runs one conformance case (a case file, scenarios/conformance/README.md) against
 * an MSRP endpoint or relay, and says whether it passed, with the wire exchange.
 *
 * The executor walks the case's steps one after the other on its own connections (endpoint a,
 * and for relay cases endpoint b), pumping a private net_loop until each step's outcome is
 * known or its timeout passes. It writes and reads the bytes itself (net/conn and the wire
 * parser), so a case sees every byte the peer sends, including what a session would swallow:
 * responses to REPORTs, responses despite Failure-Report no, REPORTs nobody asked for.
 *
 * The contract of src/conform/: it sits beside load/, above msrp/, net/, wire/ and report/, and
 * includes only from those and from the scenario loader (case files are scenarios), and
 * sip_exec.c / sip_cases.c (the --sip-target cases) from src/sip/ too; nothing
 * below includes from it, and it never includes cli/. Its public headers are this one (a
 * case run, its verdict, the coverage table) and results.h (the case lines, TAP, JUnit and
 * JSON); cx.h is private to its files. It never exits and never prints on its own: a call
 * returns its outcome (a verdict in a struct, or an error text in err), and text goes only to
 * the stream or file a caller names. Every wait is bounded by a step's timeout.
 *
 * Thread safety: one case at a time per thread; nothing is shared between calls.
 */
#ifndef MSRPLOAD_CONFORM_CONFORM_H
#define MSRPLOAD_CONFORM_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "scenario/scenario.h"

/* How the executor writes what a case sends (conform --delivery). */
enum conform_delivery {
    CONFORM_DELIVER_WHOLE = 0, /* each request in one write, as built */
    CONFORM_DELIVER_BYTES,     /* one byte per write */
    CONFORM_DELIVER_SPLIT,     /* writes cut between CR and LF and inside each end-line */
    CONFORM_DELIVER_PIPELINED, /* everything up to the next wait in one write, the binding
                                  SEND included (its 200 is checked afterwards) */
    CONFORM_DELIVER_ALL,       /* each case once in each of the above; differing verdicts fail */
};
#define CONFORM_DELIVERIES 4 /* the patterns ALL runs */

/* "whole", "bytes", "split", "pipelined", "all"; conform_delivery_parse: -1 if unknown. */
const char *conform_delivery_name(enum conform_delivery d);
int conform_delivery_parse(const char *name);

/*
 * A relay URI as conform --relay and --relay-b take it: an MSRP URI (msrp://HOST:PORT;tcp,
 * msrps://...), an MSRP URI with RFC 7977's ws transport (msrp://HOST:PORT;ws, msrps://...;ws:
 * section 5.2.1 defines "ws" as the transport parameter of a URI to be contacted with the
 * WebSocket MSRP subprotocol), or a WebSocket URI ws://HOST[:PORT][/PATH] or wss://... (RFC
 * 6455 3, from memory of that section: default ports 80 and 443, path "/"). The ws:// forms
 * get an MSRP URI with the ws transport for To-Path and the AUTH digest (msrp[s]://HOST:PORT;ws,
 * as RFC 7977 8.1.1's AUTH To-Path msrps://alice@a.example.com:443;ws).
 */
struct conform_relay_uri {
    bool ws;            /* reached over WebSocket */
    bool secure;        /* TLS under it (msrps, wss) */
    char host[256];     /* without IPv6 brackets */
    uint16_t port;
    char path[256];     /* ws: the HTTP request target ("/" unless a ws:// URI names one) */
    char msrp_uri[320]; /* the MSRP form of the URI (the given one when it was MSRP already) */
};

/* Parses uri. Returns 0, or -1 with a message naming uri in err (a ws:// URI that does not
 * parse, a bad port, a host too long; an MSRP URI is only checked for its ws transport here,
 * msrp_uri_resolve() checks the rest). */
int conform_relay_uri_parse(const char *uri, struct conform_relay_uri *out, char *err,
                            size_t errlen);

/* Where one test endpoint connects (filled by conform_peer_resolve()). */
struct conform_hop {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    bool tls;
    char sni[256];
    bool ws;               /* through a WebSocket (RFC 7977) */
    char ws_path[256];     /* the upgrade's request target */
    char ws_host[300];     /* its Host header: host[:port] */
    char msrp_uri[320];    /* the relay's MSRP URI: AUTH To-Path, {relay_uri}, digest uri */
};

struct conform_peer {
    /* Target mode: the endpoint under test (its session URI). NULL in relay mode. */
    const char *target_uri;
    /* Relay mode: the relay's URI and the account AUTH uses for both endpoints. */
    const char *relay_uri;
    /* Relay mode: where endpoint b connects instead (--relay-b), e.g. the relay's plain TCP
     * URI beside a WebSocket --relay, so that a and b meet through a bridging relay; NULL:
     * b connects as a does. */
    const char *relay_b_uri;
    const char *user;
    const char *password;      /* never printed */
    /* Filled by conform_peer_resolve(): where a (hop[0]) and b (hop[1]) connect. */
    struct conform_hop hop[2];
    double timeout_scale;      /* multiplies every step timeout; 0 means 1 */
    /* A media type the target is known not to take ({refused_type}); NULL: the cases that
     * need one are skipped. */
    const char *refused_type;
    enum conform_delivery delivery; /* how the executor's bytes are cut into writes */
};

/*
 * Resolves the address of the target or relay URI into p. Returns 0, or -1 with a message in
 * err (a URI that does not parse, a host that does not resolve).
 */
int conform_peer_resolve(struct conform_peer *p, char *err, size_t errlen);

/* Verdicts in the manner of the Autobahn test suite: what a case that was not met means
 * depends on the keyword of the RFC sentence it checks (the case's level). */
enum conform_verdict {
    CONFORM_PASS = 0,
    CONFORM_FAIL,        /* a MUST not met */
    CONFORM_NON_STRICT,  /* a SHOULD not met: counts only with --strict */
    CONFORM_INFO,        /* behaviour the RFC allows (MAY) or names without a keyword was not
                            seen: reported, never failing */
    CONFORM_UNOBSERVABLE,/* the peer's answer hides what the case checks (e.g. a 413 to a
                            message the case needed taken): not counted, with the reason */
    CONFORM_SKIP,        /* the case needs what this run lacks (a relay, a target) */
    CONFORM_UNREACHABLE, /* the peer could not be reached or authenticated at all */
};

/* The verdict of a case of this level whose check was not met. */
enum conform_verdict conform_verdict_unmet(enum case_level level);

const char *conform_verdict_name(enum conform_verdict v);

struct conform_result {
    enum conform_verdict verdict;
    char observed[2048];   /* unless passed: what was seen instead; on skip: why */
    char *wire;            /* the exchange, quoted with direction markers (malloc'd; may be
                              NULL when nothing was exchanged) */
    double seconds;
};

/* Runs one case (sc->kase must be set). Never fails as a call: the outcome is in *r. */
void conform_run_case(const struct scenario *sc, const struct conform_peer *p,
                      struct conform_result *r);

void conform_result_free(struct conform_result *r);

/* Appends s[0..n) to a malloc'd NUL-terminated wire record (*wire, *len bytes in *cap),
 * growing it by doubling from first bytes; false, with nothing appended, when memory runs
 * out. The callers (wirelog.c, sip_exec.c) keep their own limits on the record's size. */
bool conform_wire_append(char **wire, size_t *len, size_t *cap, size_t first, const char *s,
                         size_t n);

/* The longest a case may wait on its peer, in seconds: its step timeouts and pauses added
 * up, times the peer's timeout_scale (conform --quick skips cases above
 * CONFORM_QUICK_MAX_WAIT_S, e.g. the 31 s wait for a relay's 30 s probation); for a SIP case
 * (needs "sip"), conform_sip_case_max_wait(). */
#define CONFORM_QUICK_MAX_WAIT_S 20.0
double conform_case_max_wait(const struct scenario *sc, const struct conform_peer *p);


/*
 * conform --listen (listen.c, listen_judge.c): the checker plays the answering endpoint of a
 * session and judges what the implementation under test sends: the client cases (needs
 * "client"). With client_cmd each case runs it once, its placeholders filled in for the case
 * ({uri}, {file}, {size}, {chunk_size}, {success_report}, {session_id}, {host}, {port},
 * {case}; each value single-quoted for the shell), takes the one connection it opens, answers
 * as the case says (200s, a 413, a REPORT, a SEND of its own), and ends the command (its
 * process group, SIGTERM then SIGKILL) when the case is over. Without client_cmd (passive) one
 * connection is captured, answered with 200s, and every client case judged from it. Every wait
 * is bounded: the case's timeout (or timeout when set) times timeout_scale.
 */
struct conform_listener {
    int fd;                     /* the listening socket; -1 when closed */
    char host[256];             /* as given, without IPv6 brackets */
    uint16_t port;              /* the bound port (the one the kernel picked for port 0) */
    const char *session_id;     /* --session-id; NULL: a random one per case */
    const char *client_cmd;     /* --client-cmd; NULL: passive */
    double timeout;             /* --timeout: seconds per case; 0: the case's own */
    double timeout_scale;       /* 0 means 1 */
    char dir[128];              /* a private temporary folder: {file}, the command's output */
    /* --as-relay (listen_relay.c): the checker is an RFC 4976 relay with this one account
     * (--relay-user, --relay-password-file); only then do the relay-client cases run */
    bool as_relay;
    const char *relay_user, *relay_password;
    char passive_uri[320];      /* set by conform_listen_open: the session URI the passive
                                   mode answers (session_id, or one drawn at random), for the
                                   caller to tell the user */
};

/* Listens on hostport ("HOST:PORT", "[V6]:PORT"; only loopback and local addresses make
 * sense). Returns 0, or -1 with a message in err. */
int conform_listen_open(struct conform_listener *l, const char *hostport, char *err,
                        size_t errlen);
void conform_listen_close(struct conform_listener *l);
/* Runs one client case with l->client_cmd. Never fails as a call: the outcome is in *r. */
void conform_listen_run_case(struct conform_listener *l, const struct scenario *sc,
                             struct conform_result *r);
/* Passive: captures one connection (waits up to l->timeout, default 30 s, for it and for
 * what follows), then judges each of the n cases into results[i]. */
void conform_listen_passive(struct conform_listener *l, const struct scenario *const *cases,
                            size_t n, struct conform_result *results);

/*
 * conform --sip-target (sip_exec.c, sip_cases.c): the checker plays the SIP caller, sends the
 * target INVITEs with MSRP SDP offers and judges each answer against RFC 4975 section 8 and
 * RFC 6714 (the SIP cases, needs "sip"), then ACK and BYE. Each case runs on its own user
 * agent and loop; every wait is bounded (10 s for a final response, times timeout_scale).
 */
struct conform_sip_peer {
    const char *target;     /* the SIP URI called, e.g. sip:answer@127.0.0.1:5062 (with
                               ;transport=tcp: over TCP; UDP otherwise) */
    const char *proxy;      /* outbound proxy (every INVITE routed through it), or NULL */
    const char *user;       /* our From user and digest username; NULL: "msrpload" */
    const char *password;   /* for 401 / 407 challenges; NULL: none answered */
    double timeout_scale;   /* 0 means 1 */
};
/* The longest a SIP case may take (seconds): its calls' waits for a final response (10 s
 * each, times timeout_scale) and the wait for the hang-ups. */
double conform_sip_case_max_wait(const struct scenario *sc, double timeout_scale);
/* Whether a case file's "sip": {"check"} names a check this build has. */
bool conform_sip_check_known(const char *name);
/* Runs one SIP case. Never fails as a call: the outcome is in *r. */
void conform_sip_run_case(const struct scenario *sc, const struct conform_sip_peer *p,
                          struct conform_result *r);

/*
 * Prints the coverage table of the requirements list at path (requirements.json) against the
 * given cases: one line per requirement (level, the cases that cover it or the reason none
 * does) and a closing line with the counts; with markdown, the document
 * docs/conformance-coverage.md. Returns 0, or -1 with a message in err naming the file and
 * place: the list does not load, a case cites a requirement that is not listed, a requirement
 * has neither a case nor a reason, or a covered one still gives a reason.
 */
int conform_print_coverage(const char *path, const struct scenario *const *cases,
                           size_t ncases, bool markdown, FILE *out, char *err, size_t errlen);

#endif
