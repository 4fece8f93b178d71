/*
 * serve.h - what the files of `msrpload serve` share: its options as read from the command
 * line (serve_options.c), the usage error, the running state and its JSON lines (serve.c), and
 * the SIP agent's entry points (serve_sip.c).
 *
 * Private to src/cli/serve*.c; nothing outside them includes it.
 */
#ifndef MSRPLOAD_CLI_SERVE_H
#define MSRPLOAD_CLI_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "msrp/session.h"
#include "net/transport_ws.h"
#include "report/prom.h"
#include "sip/transport.h"
#include "wire/uri.h"

/* Which lines --log-level keeps: each event has one of these levels, and lines at or above
 * the chosen one are written. */
enum log_level { LOG_ALL = 0, LOG_SESSIONS = 1, LOG_PROBLEMS = 2 };

/* The longest --accept-types serve keeps (with its terminating NUL). */
#define SERVE_ACCEPT_TYPES_MAX 256

struct serve_opts {
    const char *listen;
    const char **ids; /* --session-id, in order; freed by serve_free_options() */
    size_t nids;
    const char *id_pattern; /* the one --session-id with a %d: ids 0..--sessions - 1 */
    long sessions; /* 0: not given */
    bool tls;
    bool ws; /* --ws: WebSocket (RFC 7977) on the listening socket, over TCP or TLS */
    const char *cert, *key;
    const char *accept_types;
    const char *accept_wrapped_types; /* NULL: none given */
    bool no_imdn;  /* --no-imdn: check CPIM but send no delivery notification */
    const char *violate;
    bool alt;
    const char *log;
    const char *uri_host;
    const char *metrics_listen; /* NULL: no live metrics */
    double bind_timeout;
    double idle_timeout, stall_timeout, first_request_timeout;
    uint64_t log_max_bytes;
    long max_extents;
    enum log_level log_level;
    /* Made from the options once they are read: */
    char host[256];         /* --listen's bare host, to listen on */
    char host_in_uris[300]; /* the host the session URIs write (IPv6 in brackets) */
    uint16_t port;          /* --listen's port: 0 picks a free one */
    char accept_list[SERVE_ACCEPT_TYPES_MAX]; /* --accept-types, commas made spaces; "*" */
    char wrapped_list[SERVE_ACCEPT_TYPES_MAX]; /* --accept-wrapped-types, the same; "" */
    /* --sip LISTEN_URI and its companions (NULL / 0: not given) */
    const char *sip;
    const char *sip_register; /* the registrar's SIP URI */
    const char *sip_user;
    const char *sip_password_file;
    long sip_max_calls;
    double sip_bind_timeout;
    long sip_expires;
    /* Made from them: */
    enum sip_tp_kind sip_kind;
    char sip_host[128];          /* numeric, bare (no brackets) */
    uint16_t sip_port;           /* 0 picks a free one */
    char sip_user_part[64];      /* --sip-user, or the LISTEN_URI's user, or "msrpload" */
    char sip_password[128];      /* the password file's first line */
};

/*
 * Reads and checks the command line into o: each option, how they combine, the listening
 * address (resolved once, so that a bad one is a usage error) and the session ids. Returns -1
 * to go on, or the exit code to stop with (a usage error, --help); either way
 * serve_free_options() releases o afterwards.
 */
int serve_read_options(int argc, char **argv, struct serve_opts *o);
void serve_free_options(struct serve_opts *o);

/* Prints "msrpload serve: " fmt (one %s: arg), a blank line and the usage on standard error;
 * returns EXIT_USAGE. */
int serve_usage_error(const char *fmt, const char *arg);

/* ---- the running state (serve.c), shared with serve_sip.c --------------------------------- */

struct metrics_http;
struct serve;
struct serve_sip;
struct serve_call;

/* One answering session: a --session-id one (call NULL), or the one a SIP call set up. */
struct serve_slot {
    struct serve *sv;
    char uri[MSRP_URI_MAX + 1];
    /* The session on an accepted connection (bound or not), NULL while only expected. */
    struct msrp_session *session;
    struct serve_call *call; /* serve_sip.c's, for a session a SIP call set up */
    bool expected;           /* SIP slots: expected on the listener, not yet taken or forgotten */
    /* A call's types as its SDP answer negotiated them (RFC 4975 section 8.6); NULL: serve's
     * --accept-types / --accept-wrapped-types. They outlive the session (the call's). */
    const char *accept_types, *wrapped_types;
};

struct serve {
    struct net_loop *loop;
    struct msrp_server *srv;
    struct net_tls *tls;
    struct net_ws ws; /* --ws: the WebSocket maker, over TCP or tls */
    FILE *log;
    struct serve_slot *slots;
    size_t nslots;
    size_t live; /* slots not given up */
    struct serve_sip *sip; /* --sip: serve_sip.c's; NULL without */
    /* The media types accepted: the options' list, which outlives the run. */
    const char *accept_types;
    const char *wrapped_types; /* --accept-wrapped-types; NULL: none */
    bool tls_on, ws_on;        /* --tls, --ws */
    const char *host_in_uris;  /* the host the session URIs write */
    bool no_imdn;
    const char *violate; /* hidden --violate: the wrong test peer of the conformance suite */
    bool alt;            /* --alt: answers otherwise, within what the RFC allows */
    uint64_t bind_timeout_ns;
    uint64_t idle_timeout_ns, stall_timeout_ns;
    size_t max_extents;
    enum log_level log_level;
    const char *log_path;   /* NULL: standard output */
    uint64_t log_max_bytes; /* 0: no rotation */
    bool stopping;
    bool log_failed;
    uint64_t bound, messages, violations, reports;
    uint64_t refused; /* connections the server refused, taken before it goes */
    char tmpdir[64];  /* the self-signed certificate's folder; "" when none */
    /* --metrics-listen: the loop thread keeps now (with the counters above) and copies it to
     * pub after each pass (under pub_lock, which only it and the HTTP thread take) */
    struct metrics_http *metrics;
    struct prom_serve_snapshot now, pub;
    struct prom_serve_meta metrics_meta;
    char metrics_label[320];
    pthread_mutex_t pub_lock;
};

/* A JSON line: {"event":...,"time":...,"session":URI (null when uri is NULL) ... ;
 * serve_event_end closes, flushes and rotates. */
FILE *serve_event_begin(struct serve *sv, const char *event, const char *uri);
void serve_event_end(struct serve *sv, FILE *f);
/* ,"name":"s" with s escaped. */
void serve_json_str(FILE *f, const char *name, const char *s);

/* Expects slot->uri on the listener with serve's session settings and handlers; peer_path is
 * the From-Path the binding request must carry (NULL: anyone). 0 or an errno value. */
int serve_expect(struct serve_slot *slot, const char *peer_path, uint64_t bind_timeout_ns,
                 void (*on_bind_timeout)(void *slot));
/* Opens slot's session as the active side towards sa, To-Path peer_path (tls NULL: TCP);
 * slot->session is set. 0 or an errno value. */
int serve_connect(struct serve_slot *slot, const char *peer_path, const struct sockaddr *sa,
                  socklen_t salen, struct net_tls *tls);

/* ---- serve_sip.c -------------------------------------------------------------------------- */

/* The agent on serve's loop, and the REGISTER with --sip-register. 0, or the exit code. */
int serve_sip_start(struct serve *sv, const struct serve_opts *o);
/* Its Contact URI, printed first (the line a script waits for). */
const char *serve_sip_contact(const struct serve *sv);
/* A SIP slot's MSRP session ended (serve.c's on_end, after its end line): BYE unless the call
 * is over. */
void serve_sip_session_ended(struct serve_slot *slot);
/* Sessions set up by calls that are open, and calls or an unregistration not yet over. */
size_t serve_sip_sessions(const struct serve *sv);
bool serve_sip_busy(const struct serve *sv);
/* Shutdown, in order: BYE every call, forget what is expected and unregister (before the
 * listener goes); close the calls' sessions; end the agent (on the loop thread, outside its
 * callbacks); free the rest (after the last session has ended). */
void serve_sip_stop(struct serve *sv);
void serve_sip_close_sessions(struct serve *sv);
void serve_sip_end_agent(struct serve *sv);
void serve_sip_free(struct serve *sv);

#endif
