/*
 * serve.c - `msrpload serve`: an answering MSRP endpoint for a user's own client or relay to
 * talk to, which doubles as a checker of that client.
 *
 * There is no SDP here, so every session is announced by printing its URI, and the first
 * request on a session binds whatever From-Path it carries (RFC 4975 section 5.4 with no
 * expected peer). Each complete message, each protocol violation by the peer and each session
 * event becomes one JSON line. When a session ends its URI is expected again, so a client can
 * reconnect as often as it likes.
 *
 * One net_loop in the main thread does everything. Signals only set a flag and wake the loop
 * (both async-signal-safe); the loop notices the flag within one pass and shuts down in order.
 *
 * Owns: the command line, the answering sessions' event log (JSON lines), signals and the
 * exit code. May not touch: the session's protocol rules and deliberate violations (msrp/) or
 * the transport (net/); it reacts to their callbacks.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "msrp/peerrules.h"
#include "msrp/server.h"
#include "msrp/session.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/tls.h"
#include "report/jsonw.h"
#include "wire/idgen.h"
#include "wire/uri.h"

#define SERVE_MAX_FDS 65536
#define SERVE_RANDOM_ID_LEN 16
#define SERVE_MAX_SESSIONS 100000
#define SERVE_WAIT_MS 200
/* How long sessions get to flush and close at shutdown before serve exits regardless. */
#define SERVE_CLOSE_GRACE_NS (1000ull * 1000000ull)
#define SERVE_IDLE_TIMEOUT_S 300.0
#define SERVE_STALL_TIMEOUT_S 60.0
#define SERVE_FIRST_REQUEST_TIMEOUT_S 30.0
#define SERVE_MIN_LOG_BYTES 1024
#define SERVE_ALT_DELAY_MAX_NS (100ull * 1000000ull) /* --alt: a 200 waits up to 100 ms */

/* Which lines --log-level keeps: each event has one of these levels, and lines at or above
 * the chosen one are written. */
enum log_level { LOG_ALL = 0, LOG_SESSIONS = 1, LOG_PROBLEMS = 2 };

static void serve_usage(FILE *out)
{
    fprintf(out,
            "usage: msrpload serve --listen HOST:PORT [--session-id ID ...] [--sessions N]\n"
            "                      [--tls [--cert FILE --key FILE]] [--accept-types LIST]\n"
            "                      [--bind-timeout S] [--uri-host HOST] [--log FILE]\n"
            "                      [--log-max-bytes N] [--log-level all|sessions|problems]\n"
            "                      [--idle-timeout S] [--stall-timeout S]\n"
            "                      [--first-request-timeout S] [--max-extents N]\n"
            "\n"
            "Runs an answering MSRP endpoint (RFC 4975) for your own client or relay to talk to,\n"
            "and checks what that peer does. First it prints the URI of each session it answers,\n"
            "one per line (msrp://HOST:PORT/ID;tcp, or msrps:// with --tls); give one of them to\n"
            "your client as the To-Path. The first request on a session binds the peer whose\n"
            "From-Path it carries. After a session ends, the same URI is expected again, so the\n"
            "client may reconnect.\n"
            "\n"
            "options:\n"
            "  --listen HOST:PORT   address to listen on; IPv6 as [::1]:PORT; port 0 picks a free\n"
            "                       port (the URIs show the real one)\n"
            "  --session-id ID      a session to answer (may repeat; session-id characters of\n"
            "                       RFC 4975 section 9)\n"
            "  --sessions N         answer N sessions in all: the --session-id ones, then random\n"
            "                       ids (default: one random id when no --session-id is given)\n"
            "  --tls                msrps: TLS on the listening socket; without --cert/--key a\n"
            "                       self-signed certificate is made in a temporary folder\n"
            "  --cert FILE, --key FILE\n"
            "                       the server certificate and private key (PEM)\n"
            "  --accept-types LIST  media types accepted, separated by spaces or commas\n"
            "                       (\"text/plain image/*\"); others get 415 (default \"*\")\n"
            "  --bind-timeout S     a session that nobody binds within S seconds of the start is\n"
            "                       given up (a bind-timeout line); when every session has been\n"
            "                       given up, serve exits 1 (default 0: wait forever)\n"
            "  --uri-host HOST      host written in the URIs (default: the --listen host; useful\n"
            "                       when listening on 0.0.0.0 or ::)\n"
            "  --log FILE           append the JSON lines to FILE instead of standard output\n"
            "  --log-max-bytes N    with --log: once FILE reaches N bytes (suffix k, m or g\n"
            "                       allowed; at least 1024) it is renamed FILE.1, replacing an\n"
            "                       older FILE.1, and a new FILE is started: at most about 2N\n"
            "                       bytes on disk (default: no limit)\n"
            "  --log-level LEVEL    all (default): every line; sessions: no message and report\n"
            "                       lines; problems: only violation, refused and bind-timeout\n"
            "                       lines and end lines with a reason other than closed or\n"
            "                       peer-closed\n"
            "  --idle-timeout S     a connection handed to a session that brings no complete\n"
            "                       chunk for S to 1.25 S seconds is closed (end reason\n"
            "                       idle-timeout): idle peers and endless bodies alike (default\n"
            "                       300; 0: never)\n"
            "  --stall-timeout S    a peer that does not read our responses is not read either\n"
            "                       while more than 1 MiB of them wait; still so after S seconds,\n"
            "                       it is closed (reason write-overflow; default 60, 0: never)\n"
            "  --first-request-timeout S\n"
            "                       a new connection must send its first request's head within\n"
            "                       S seconds or is closed (a refused line) (default 30)\n"
            "  --max-extents N      separate out-of-order byte ranges one incoming message may\n"
            "                       have before it is refused with 413 (default 4096; more costs\n"
            "                       CPU per chunk for heavily shuffled messages)\n"
            "  --alt                a testing aid: answer in another way the RFC allows, to\n"
            "                       show a client (or the conform suite) takes it: a success\n"
            "                       REPORT per chunk as it arrives (RFC 4975 7.1.3), and each\n"
            "                       200 to a message chunk held back 0 to 100 ms, so responses\n"
            "                       overtake one another and leave batched in one write\n"
            "\n"
            "After the URIs, one JSON object per line, each with \"event\" and \"time\" (UTC,\n"
            "ISO 8601 with milliseconds) and \"session\" (the session URI):\n"
            "  message       a complete or aborted incoming message: message_id,\n"
            "                content_type, size, sha256 (hex; null when aborted), chunks,\n"
            "                aborted, out_of_order, overlap_bytes, overlap_unchecked (bytes\n"
            "                received again too far back to compare: more than 16 KiB back)\n"
            "  violation     the peer broke RFC 4975: kind (a stable name such as byte-range,\n"
            "                reused-tid, path-order, to-path, from-path, overlap-conflict,\n"
            "                malformed-first-request, chunks-in-order) and detail; and\n"
            "                requirement, the rule's id in scenarios/conformance/\n"
            "                requirements.json, where the kind names one\n"
            "  refused       serve refused something: kind (too-large, reassembly-limit:\n"
            "                a message answered 413, with message_id; unknown-session,\n"
            "                first-request-timeout, to-path-too-long: a connection before\n"
            "                any session took it; descriptors: connections closed at once for\n"
            "                want of file descriptors, at most one line a second) and detail\n"
            "                Lines about a connection no session took have \"session\": null\n"
            "                and \"peer\" (its address).\n"
            "  report        a REPORT arrived: message_id, status, byte_range\n"
            "  bound         a peer bound the session: peer (its address)\n"
            "  end           the session ended: reason and detail; its URI is expected again\n"
            "  bind-timeout  nobody bound the session within --bind-timeout\n"
            "\n"
            "SIGINT or SIGTERM closes the sessions, prints a summary on standard error and\n"
            "exits 0.\n"
            "exit codes: 0 stopped by a signal, 1 failure (every session given up), 2 usage error\n"
            "            (bad option or address), 3 cannot listen on the address\n");
}

struct serve;

struct serve_slot {
    struct serve *sv;
    char uri[MSRP_URI_MAX + 1];
    /* The session on an accepted connection (bound or not), NULL while only expected. */
    struct msrp_session *session;
};

struct serve {
    struct net_loop *loop;
    struct msrp_server *srv;
    struct net_tls *tls;
    FILE *log;
    struct serve_slot *slots;
    size_t nslots;
    size_t live; /* slots not given up */
    char accept_types[256];
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
};

static volatile sig_atomic_t stop_signal;
static struct net_loop *volatile signal_loop;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
    if (signal_loop != NULL)
        net_loop_wake(signal_loop);
}

/* ---- JSON lines --------------------------------------------------------------------------- */

static void utc_now(char *out, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

/* Starts a line: {"event":...,"time":...,"session":... ; event_end closes and flushes it. */
static FILE *event_begin(struct serve *sv, const char *event, const char *uri)
{
    char when[48];
    utc_now(when, sizeof(when));
    FILE *f = sv->log;
    fprintf(f, "{\"event\":\"%s\",\"time\":\"%s\",\"session\":", event, when);
    jsonw_string(f, uri, strlen(uri));
    return f;
}

/* --log-max-bytes: FILE becomes FILE.1 and a new FILE starts. */
static void rotate_log(struct serve *sv)
{
    char old[4096];
    if (snprintf(old, sizeof(old), "%s.1", sv->log_path) >= (int)sizeof(old))
        return;
    fclose(sv->log);
    sv->log = NULL;
    if (rename(sv->log_path, old) != 0)
        fprintf(stderr, "msrpload serve: --log-max-bytes: cannot rename %s to %s: %s\n",
                sv->log_path, old, strerror(errno));
    sv->log = fopen(sv->log_path, "a");
    if (sv->log == NULL) {
        fprintf(stderr, "msrpload serve: --log %s: cannot reopen: %s; no more lines\n",
                sv->log_path, strerror(errno));
        sv->log = fopen("/dev/null", "a");
        if (sv->log == NULL)
            sv->log = stderr;
    }
}

static void event_end(struct serve *sv, FILE *f)
{
    fputs("}\n", f);
    /* Each line is flushed at once: a test or a tail -f sees it as it happens. */
    if ((fflush(f) != 0 || ferror(f)) && !sv->log_failed) {
        sv->log_failed = true;
        fprintf(stderr, "msrpload serve: cannot write the log: %s\n", strerror(errno));
    }
    if (sv->log_max_bytes > 0 && sv->log_path != NULL) {
        long size = ftell(f);
        if (size >= 0 && (uint64_t)size >= sv->log_max_bytes)
            rotate_log(sv);
    }
}

static void json_field_str(FILE *f, const char *name, const char *s, size_t len)
{
    fprintf(f, ",\"%s\":", name);
    jsonw_string(f, s, len);
}

static void json_u64_or_null(FILE *f, uint64_t v)
{
    if (v == MSRP_RANGE_UNKNOWN)
        fputs("null", f);
    else
        fprintf(f, "%" PRIu64, v);
}

/* ---- session events ----------------------------------------------------------------------- */

static int expect_slot(struct serve_slot *slot, uint64_t bind_timeout_ns);

static struct serve_slot *slot_of(struct msrp_session *s)
{
    return msrp_session_user(s);
}

/* A connection was handed to the slot's session: it is ours to close from now on. */
static void serve_session(struct msrp_session *s, void *user)
{
    struct serve_slot *slot = user;
    slot->session = s;
}

static void serve_bound(struct msrp_session *s)
{
    struct serve_slot *slot = slot_of(s);
    struct serve *sv = slot->sv;
    sv->bound++;
    if (sv->log_level > LOG_SESSIONS)
        return;
    FILE *f = event_begin(sv, "bound", slot->uri);
    const char *peer = msrp_session_peer(s);
    json_field_str(f, "peer", peer, strlen(peer));
    event_end(sv, f);
}

static void serve_received(struct msrp_session *s, const struct msrp_received *m)
{
    struct serve_slot *slot = slot_of(s);
    struct serve *sv = slot->sv;
    sv->messages++;
    if (sv->log_level > LOG_ALL)
        return;
    const struct msrp_reasm_done *d = m->info;
    FILE *f = event_begin(sv, "message", slot->uri);
    json_field_str(f, "message_id", d->message_id, strlen(d->message_id));
    json_field_str(f, "content_type", m->content_type.ptr, m->content_type.len);
    fprintf(f, ",\"size\":%" PRIu64 ",\"sha256\":", d->total);
    if (m->aborted) {
        fputs("null", f);
    } else {
        putc('"', f);
        for (size_t i = 0; i < sizeof(d->sha256); i++)
            fprintf(f, "%02x", d->sha256[i]);
        putc('"', f);
    }
    fprintf(f, ",\"chunks\":%" PRIu64 ",\"aborted\":%s,\"out_of_order\":%s", d->chunks,
            m->aborted ? "true" : "false", d->out_of_order ? "true" : "false");
    fprintf(f, ",\"overlap_bytes\":%" PRIu64 ",\"overlap_unchecked\":%" PRIu64, d->overlap_bytes,
            d->overlap_unchecked);
    event_end(sv, f);
}

static void serve_report(struct msrp_session *s, const struct msrp_report_in *r)
{
    struct serve_slot *slot = slot_of(s);
    struct serve *sv = slot->sv;
    sv->reports++;
    if (sv->log_level > LOG_ALL)
        return;
    FILE *f = event_begin(sv, "report", slot->uri);
    json_field_str(f, "message_id", r->message_id.ptr, r->message_id.len);
    fprintf(f, ",\"status\":%d,\"byte_range\":[%" PRIu64 ",", r->status, r->range.start);
    json_u64_or_null(f, r->range.end);
    putc(',', f);
    json_u64_or_null(f, r->range.total);
    putc(']', f);
    event_end(sv, f);
}

static void serve_violation(struct msrp_session *s, const struct msrp_peer_violation *v)
{
    struct serve_slot *slot = slot_of(s);
    struct serve *sv = slot->sv;
    const char *kind = v->kind != NULL ? v->kind : "unknown";
    if (msrp_peer_rules_allows(kind))
        return;
    sv->violations++;
    FILE *f = event_begin(sv, "violation", slot->uri);
    const char *detail = v->detail != NULL ? v->detail : "";
    json_field_str(f, "kind", kind, strlen(kind));
    json_field_str(f, "detail", detail, strlen(detail));
    /* The rule broken, by its id in scenarios/conformance/requirements.json, where the kind
     * names one: serve checks clients against the rules the conformance cases check. */
    const char *req = msrp_peer_rules_requirement(kind);
    if (req != NULL)
        json_field_str(f, "requirement", req, strlen(req));
    event_end(sv, f);
}

static void serve_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    struct serve_slot *slot = msrp_session_user(s);
    struct serve *sv = slot->sv;
    slot->session = NULL;
    bool orderly = why == MSRP_END_CLOSED || why == MSRP_END_PEER_CLOSED;
    if (sv->log_level <= (orderly ? LOG_SESSIONS : LOG_PROBLEMS)) {
        FILE *f = event_begin(sv, "end", slot->uri);
        const char *reason = msrp_session_end_name(why);
        json_field_str(f, "reason", reason, strlen(reason));
        json_field_str(f, "detail", detail, strlen(detail));
        event_end(sv, f);
    }
    /* A client may come back: expect the same URI again, now without a deadline. */
    if (!sv->stopping && expect_slot(slot, 0) != 0) {
        fprintf(stderr, "msrpload serve: cannot expect %s again\n", slot->uri);
        sv->live--;
    }
}

static void serve_refused(struct msrp_session *s, const struct msrp_refusal *r)
{
    struct serve_slot *slot = slot_of(s);
    struct serve *sv = slot->sv;
    FILE *f = event_begin(sv, "refused", slot->uri);
    json_field_str(f, "kind", r->kind, strlen(r->kind));
    json_field_str(f, "message_id", r->message_id, strlen(r->message_id));
    fprintf(f, ",\"status\":%d", r->status);
    json_field_str(f, "detail", r->detail, strlen(r->detail));
    event_end(sv, f);
}

/* A connection no session took: "session" is null, "peer" says whose it was. */
static void serve_server_event(const struct msrp_server_event *ev, void *user)
{
    struct serve *sv = user;
    if (strcmp(ev->event, "violation") == 0)
        sv->violations++;
    char when[48];
    utc_now(when, sizeof(when));
    FILE *f = sv->log;
    fprintf(f, "{\"event\":\"%s\",\"time\":\"%s\",\"session\":null", ev->event, when);
    json_field_str(f, "peer", ev->peer, strlen(ev->peer));
    json_field_str(f, "kind", ev->kind, strlen(ev->kind));
    json_field_str(f, "detail", ev->detail, strlen(ev->detail));
    event_end(sv, f);
}

static const struct msrp_session_handlers serve_handlers = {
    .on_bound = serve_bound,
    .on_received = serve_received,
    .on_report = serve_report,
    .on_violation = serve_violation,
    .on_end = serve_end,
    .on_refused = serve_refused,
};

static void serve_bind_timeout(void *user)
{
    struct serve_slot *slot = user;
    struct serve *sv = slot->sv;
    sv->live--; /* given up: not expected any more */
    FILE *f = event_begin(sv, "bind-timeout", slot->uri);
    event_end(sv, f);
}

static int expect_slot(struct serve_slot *slot, uint64_t bind_timeout_ns)
{
    struct serve *sv = slot->sv;
    struct msrp_session_config cfg;
    msrp_session_config_default(&cfg);
    cfg.local_uri = slot->uri;
    cfg.peer_path = NULL; /* no SDP: the first request binds its From-Path */
    cfg.accept_types = sv->accept_types;
    cfg.violate = sv->violate;
    if (sv->alt) {
        /* Per-chunk success REPORTs (RFC 4975 section 7.1.3 allows them), and 200s held back
         * 0 to 100 ms each, drawn per response: they may overtake one another and leave
         * together in one write, far inside the 30 s a sender waits (section 7.1.1). */
        cfg.violate = "per-chunk-reports";
        cfg.response_delay_min_ns = 0;
        cfg.response_delay_max_ns = SERVE_ALT_DELAY_MAX_NS;
    }
    cfg.idle_timeout_ns = sv->idle_timeout_ns;
    cfg.stall_timeout_ns = sv->stall_timeout_ns;
    cfg.reasm.max_extents = sv->max_extents;
    return msrp_server_expect(sv->srv, &cfg, &serve_handlers, slot, bind_timeout_ns,
                              serve_bind_timeout);
}

/* ---- command line ------------------------------------------------------------------------- */

struct serve_opts {
    const char *listen;
    const char **ids;
    size_t nids;
    long sessions; /* 0: not given */
    bool tls;
    const char *cert, *key;
    const char *accept_types;
    const char *violate;
    bool alt;
    const char *log;
    const char *uri_host;
    double bind_timeout;
    double idle_timeout, stall_timeout, first_request_timeout;
    uint64_t log_max_bytes;
    long max_extents;
    enum log_level log_level;
};

/* Seconds: 0 or more, at most 10^9. */
static bool parse_seconds(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(d >= 0) || d > 1e9)
        return false;
    *out = d;
    return true;
}

/* Bytes with an optional k, m or g suffix (powers of 1024). */
static bool parse_bytes(const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || v[0] == '-')
        return false;
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'm' || *end == 'M')
        shift = 20;
    else if (*end == 'g' || *end == 'G')
        shift = 30;
    if (shift != 0)
        end++;
    if (*end != '\0' || n > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)n << shift;
    return true;
}

/*
 * "--name VALUE" or "--name=VALUE": returns the value and advances *i, or NULL when argv[*i]
 * is not this option. A missing value is reported and *missing set.
 */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "msrpload serve: %s needs a value\n", name);
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("msrpload serve: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n\n", stderr);
    serve_usage(stderr);
    return EXIT_USAGE;
}

/* Returns -1 when parsing should stop with *rc as the exit code. */
static int parse_opts(int argc, char **argv, struct serve_opts *o, int *rc)
{
    o->ids = calloc((size_t)argc, sizeof(*o->ids));
    if (o->ids == NULL) {
        *rc = EXIT_FAILED;
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            serve_usage(stdout);
            *rc = EXIT_OK;
            return -1;
        }
        if (strcmp(argv[i], "--tls") == 0) {
            o->tls = true;
            continue;
        }
        if (strcmp(argv[i], "--alt") == 0) {
            o->alt = true;
            continue;
        }
        if ((v = opt_value(argc, argv, &i, "--listen", &missing)) != NULL) {
            o->listen = v;
        } else if ((v = opt_value(argc, argv, &i, "--session-id", &missing)) != NULL) {
            o->ids[o->nids++] = v;
        } else if ((v = opt_value(argc, argv, &i, "--sessions", &missing)) != NULL) {
            char *end;
            errno = 0;
            o->sessions = strtol(v, &end, 10);
            if (errno != 0 || end == v || *end != '\0' || o->sessions < 1 ||
                o->sessions > SERVE_MAX_SESSIONS) {
                *rc = usage_error("--sessions wants a number from 1 to 100000, not '%s'", v);
                return -1;
            }
        } else if ((v = opt_value(argc, argv, &i, "--cert", &missing)) != NULL) {
            o->cert = v;
        } else if ((v = opt_value(argc, argv, &i, "--key", &missing)) != NULL) {
            o->key = v;
        } else if ((v = opt_value(argc, argv, &i, "--accept-types", &missing)) != NULL) {
            o->accept_types = v;
        } else if ((v = opt_value(argc, argv, &i, "--violate", &missing)) != NULL) {
            /* Not in --help: it makes serve break one RFC rule on purpose, for the tests that
             * prove each conformance case can fail (msrp_session_violations lists them). */
            if (!msrp_session_violation_known(v)) {
                *rc = usage_error("--violate: unknown violation '%s'", v);
                return -1;
            }
            o->violate = v;
        } else if ((v = opt_value(argc, argv, &i, "--log", &missing)) != NULL) {
            o->log = v;
        } else if ((v = opt_value(argc, argv, &i, "--uri-host", &missing)) != NULL) {
            o->uri_host = v;
        } else if ((v = opt_value(argc, argv, &i, "--idle-timeout", &missing)) != NULL) {
            if (!parse_seconds(v, &o->idle_timeout)) {
                *rc = usage_error("--idle-timeout wants seconds (0 or more), not '%s'", v);
                return -1;
            }
        } else if ((v = opt_value(argc, argv, &i, "--stall-timeout", &missing)) != NULL) {
            if (!parse_seconds(v, &o->stall_timeout)) {
                *rc = usage_error("--stall-timeout wants seconds (0 or more), not '%s'", v);
                return -1;
            }
        } else if ((v = opt_value(argc, argv, &i, "--first-request-timeout", &missing)) != NULL) {
            if (!parse_seconds(v, &o->first_request_timeout) || o->first_request_timeout == 0) {
                *rc =
                    usage_error("--first-request-timeout wants seconds (more than 0), not '%s'", v);
                return -1;
            }
        } else if ((v = opt_value(argc, argv, &i, "--log-max-bytes", &missing)) != NULL) {
            if (!parse_bytes(v, &o->log_max_bytes) || o->log_max_bytes < SERVE_MIN_LOG_BYTES) {
                *rc = usage_error("--log-max-bytes wants a size of at least 1024 bytes (k, m, g "
                                  "suffixes allowed), not '%s'",
                                  v);
                return -1;
            }
        } else if ((v = opt_value(argc, argv, &i, "--log-level", &missing)) != NULL) {
            if (strcmp(v, "all") == 0) {
                o->log_level = LOG_ALL;
            } else if (strcmp(v, "sessions") == 0) {
                o->log_level = LOG_SESSIONS;
            } else if (strcmp(v, "problems") == 0) {
                o->log_level = LOG_PROBLEMS;
            } else {
                *rc = usage_error("--log-level wants all, sessions or problems, not '%s'", v);
                return -1;
            }
        } else if ((v = opt_value(argc, argv, &i, "--max-extents", &missing)) != NULL) {
            char *end;
            errno = 0;
            o->max_extents = strtol(v, &end, 10);
            if (errno != 0 || end == v || *end != '\0' || o->max_extents < 1 ||
                o->max_extents > 1000000) {
                *rc = usage_error("--max-extents wants a number from 1 to 1000000, not '%s'", v);
                return -1;
            }
        } else if ((v = opt_value(argc, argv, &i, "--bind-timeout", &missing)) != NULL) {
            char *end;
            errno = 0;
            o->bind_timeout = strtod(v, &end);
            if (errno != 0 || end == v || *end != '\0' || !(o->bind_timeout >= 0) ||
                o->bind_timeout > 1e9) {
                *rc = usage_error("--bind-timeout wants seconds (0 or more), not '%s'", v);
                return -1;
            }
        } else if (missing) {
            *rc = EXIT_USAGE;
            return -1;
        } else {
            *rc = usage_error("unknown option or argument '%s'", argv[i]);
            return -1;
        }
    }
    if (o->listen == NULL) {
        *rc = usage_error("%s", "--listen HOST:PORT is required");
        return -1;
    }
    if ((o->cert != NULL) != (o->key != NULL)) {
        *rc = usage_error("%s", "--cert and --key go together");
        return -1;
    }
    if (o->log_max_bytes > 0 && o->log == NULL) {
        *rc = usage_error("%s", "--log-max-bytes needs --log FILE (standard output cannot be "
                                "rotated)");
        return -1;
    }
    if ((o->cert != NULL) && !o->tls) {
        *rc = usage_error("%s", "--cert and --key need --tls");
        return -1;
    }
    if (o->sessions != 0 && (size_t)o->sessions < o->nids) {
        *rc = usage_error("%s", "--sessions is smaller than the number of --session-id");
        return -1;
    }
    return 0;
}

/*
 * Splits HOST:PORT ([v6]:PORT for IPv6). host gets the bare host; uri_host the form a URI
 * wants (brackets kept). Returns false on a malformed address.
 */
static bool split_listen(const char *s, char *host, size_t hostlen, char *uri_host,
                         size_t urilen, uint16_t *port)
{
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= hostlen ||
            close == s + 1)
            return false;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        colon = close + 1;
        if ((size_t)(colon - s) >= urilen)
            return false;
        memcpy(uri_host, s, (size_t)(colon - s));
        uri_host[colon - s] = '\0';
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || colon == s || memchr(s, ':', (size_t)(colon - s)) != NULL ||
            (size_t)(colon - s) >= hostlen || (size_t)(colon - s) >= urilen)
            return false;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        strcpy(uri_host, host);
    }
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
        return false;
    long v = strtol(p, NULL, 10);
    if (v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* RFC 4975 section 9: session-id = 1*( unreserved / "+" / "=" / "/" ). */
static bool valid_session_id(const char *id)
{
    static const char extra[] = "-._~+=/";
    if (*id == '\0')
        return false;
    for (const char *p = id; *p != '\0'; p++) {
        char c = *p;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && strchr(extra, c) == NULL)
            return false;
    }
    return true;
}

static void remove_temp_cert(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/cert.pem", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    unlink(path);
    rmdir(dir);
}

/* ---- running ------------------------------------------------------------------------------ */

static size_t sessions_alive(const struct serve *sv)
{
    size_t n = 0;
    for (size_t i = 0; i < sv->nslots; i++)
        n += sv->slots[i].session != NULL;
    return n;
}

static int serve_run(struct serve *sv)
{
    int rc = EXIT_OK;
    while (stop_signal == 0) {
        if (net_loop_run_once(sv->loop, SERVE_WAIT_MS) < 0) {
            fprintf(stderr, "msrpload serve: event loop failed: %s\n", strerror(errno));
            rc = EXIT_FAILED;
            break;
        }
        if (sv->live == 0) {
            fprintf(stderr, "msrpload serve: no session left to serve (bind timeouts)\n");
            rc = EXIT_FAILED;
            break;
        }
    }
    /*
     * Orderly shutdown: stop listening and expecting first, so nothing new arrives, then let
     * every session flush what it has queued (responses, REPORTs) and close.
     */
    sv->stopping = true;
    sv->refused = msrp_server_refused(sv->srv);
    msrp_server_destroy(sv->srv);
    sv->srv = NULL;
    for (size_t i = 0; i < sv->nslots; i++)
        if (sv->slots[i].session != NULL)
            msrp_session_close(sv->slots[i].session);
    uint64_t deadline = net_now_ns() + SERVE_CLOSE_GRACE_NS;
    while (sessions_alive(sv) > 0 && net_now_ns() < deadline)
        if (net_loop_run_once(sv->loop, 20) < 0)
            break;
    /* Refused connections may still be flushing their 481: give them a moment too. */
    for (int k = 0; k < 3; k++)
        net_loop_run_once(sv->loop, 5);
    /* Whoever has not finished within the grace time ends now, so nothing outlives the loop. */
    msrp_session_abort_all();
    return rc;
}

int cmd_serve(int argc, char **argv)
{
    struct serve_opts o = {.idle_timeout = SERVE_IDLE_TIMEOUT_S,
                           .stall_timeout = SERVE_STALL_TIMEOUT_S,
                           .first_request_timeout = SERVE_FIRST_REQUEST_TIMEOUT_S};
    struct serve sv = {0};
    char tmpdir[64] = "";
    int rc = EXIT_OK;
    if (parse_opts(argc, argv, &o, &rc) != 0)
        goto out;

    char host[256], uri_host[300];
    uint16_t port;
    if (!split_listen(o.listen, host, sizeof(host), uri_host, sizeof(uri_host), &port)) {
        rc = usage_error("--listen wants HOST:PORT (IPv6 as [::1]:PORT), not '%s'", o.listen);
        goto out;
    }
    if (o.uri_host != NULL) {
        bool v6 = strchr(o.uri_host, ':') != NULL && o.uri_host[0] != '[';
        snprintf(uri_host, sizeof(uri_host), v6 ? "[%s]" : "%s", o.uri_host);
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (net_addr_resolve(host, port, &ss, &sslen) != 0) {
        fprintf(stderr, "msrpload serve: cannot resolve '%s' (from --listen %s)\n", host,
                o.listen);
        rc = EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; i < o.nids; i++) {
        if (!valid_session_id(o.ids[i])) {
            rc = usage_error("'%s' is not a session-id (RFC 4975 section 9)", o.ids[i]);
            goto out;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(o.ids[i], o.ids[j]) == 0) {
                rc = usage_error("--session-id %s is given twice", o.ids[i]);
                goto out;
            }
        }
    }
    if (o.alt && o.violate != NULL) {
        rc = usage_error("--alt and --violate do not go together%s", "");
        goto out;
    }
    sv.violate = o.violate;
    sv.alt = o.alt;
    if (o.accept_types != NULL) {
        if (strlen(o.accept_types) >= sizeof(sv.accept_types)) {
            rc = usage_error("%s", "--accept-types is too long");
            goto out;
        }
        strcpy(sv.accept_types, o.accept_types);
        for (char *p = sv.accept_types; *p != '\0'; p++)
            if (*p == ',')
                *p = ' ';
    } else {
        strcpy(sv.accept_types, "*");
    }
    sv.bind_timeout_ns = (uint64_t)(o.bind_timeout * 1e9);
    sv.idle_timeout_ns = (uint64_t)(o.idle_timeout * 1e9);
    sv.stall_timeout_ns = (uint64_t)(o.stall_timeout * 1e9);
    sv.max_extents = (size_t)o.max_extents; /* 0: the reassembler's default */
    sv.log_level = o.log_level;
    sv.log_path = o.log;
    sv.log_max_bytes = o.log_max_bytes;

    sv.log = stdout;
    if (o.log != NULL) {
        sv.log = fopen(o.log, "a");
        if (sv.log == NULL) {
            fprintf(stderr, "msrpload serve: --log %s: %s\n", o.log, strerror(errno));
            rc = EXIT_USAGE;
            goto out;
        }
    }

    char err[512];
    if (o.tls) {
        const char *cert = o.cert, *key = o.key;
        char cert_tmp[128], key_tmp[128];
        if (cert == NULL) {
            snprintf(tmpdir, sizeof(tmpdir), "/tmp/msrpload-serve-XXXXXX");
            if (mkdtemp(tmpdir) == NULL) {
                fprintf(stderr, "msrpload serve: cannot make a temporary folder: %s\n",
                        strerror(errno));
                tmpdir[0] = '\0';
                rc = EXIT_FAILED;
                goto out;
            }
            snprintf(cert_tmp, sizeof(cert_tmp), "%s/cert.pem", tmpdir);
            snprintf(key_tmp, sizeof(key_tmp), "%s/key.pem", tmpdir);
            /* The certificate names the host of the URIs when it is a name; it always covers
             * 127.0.0.1 and ::1 as well. */
            const char *cn = uri_host[0] != '[' && strspn(uri_host, "0123456789.") !=
                                                       strlen(uri_host)
                                 ? uri_host
                                 : "localhost";
            if (net_tls_make_self_signed(cert_tmp, key_tmp, cn, err, sizeof(err)) != 0) {
                fprintf(stderr, "msrpload serve: cannot make a certificate: %s\n", err);
                rc = EXIT_FAILED;
                goto out;
            }
            fprintf(stderr,
                    "msrpload serve: --tls without --cert/--key: using a self-signed certificate "
                    "for %s (%s, removed on exit)\n",
                    cn, cert_tmp);
            cert = cert_tmp;
            key = key_tmp;
        }
        if (net_tls_server_create(&sv.tls, cert, key, NULL, err, sizeof(err)) != 0) {
            fprintf(stderr, "msrpload serve: %s\n", err);
            rc = EXIT_USAGE;
            goto out;
        }
    }

    int e = net_loop_create(&sv.loop, SERVE_MAX_FDS);
    if (e != 0) {
        fprintf(stderr, "msrpload serve: cannot create the event loop: %s\n", strerror(e));
        rc = EXIT_FAILED;
        goto out;
    }
    /* A well-formed address we cannot listen on (in use, not ours, no permission) is exit 3,
     * the code for an address that cannot be used; a malformed one was exit 2 above. */
    if (msrp_server_create(sv.loop, host, port, sv.tls, &sv.srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "msrpload serve: cannot listen on %s: %s\n", o.listen, err);
        rc = EXIT_UNREACHABLE;
        goto out;
    }
    msrp_server_on_session(sv.srv, serve_session);
    msrp_server_on_event(sv.srv, serve_server_event, &sv);
    msrp_server_set_violate(sv.srv, o.violate);
    msrp_server_set_first_request_timeout(sv.srv, (uint64_t)(o.first_request_timeout * 1e9));
    uint16_t real_port = msrp_server_port(sv.srv);

    sv.nslots = o.sessions != 0 ? (size_t)o.sessions : (o.nids > 0 ? o.nids : 1);
    sv.slots = calloc(sv.nslots, sizeof(*sv.slots));
    struct msrp_idgen ids;
    if (sv.slots == NULL || msrp_idgen_init(&ids) != 0) {
        fprintf(stderr, "msrpload serve: out of memory or no randomness\n");
        rc = EXIT_FAILED;
        goto out;
    }
    for (size_t i = 0; i < sv.nslots; i++) {
        struct serve_slot *slot = &sv.slots[i];
        slot->sv = &sv;
        char random_id[SERVE_RANDOM_ID_LEN + 1];
        const char *id = i < o.nids ? o.ids[i] : random_id;
        if (i >= o.nids) {
            if (msrp_idgen_ident(&ids, random_id, SERVE_RANDOM_ID_LEN) != 0) {
                fprintf(stderr, "msrpload serve: the random generator failed\n");
                rc = EXIT_FAILED;
                goto out;
            }
            random_id[SERVE_RANDOM_ID_LEN] = '\0';
        }
        int n = snprintf(slot->uri, sizeof(slot->uri), "%s://%s:%u/%s;tcp",
                         o.tls ? "msrps" : "msrp", uri_host, real_port, id);
        struct msrp_uri parsed;
        if (n < 0 || (size_t)n >= sizeof(slot->uri) ||
            msrp_uri_parse(slot->uri, (size_t)n, &parsed) != MSRP_URI_OK) {
            rc = usage_error("cannot make a valid MSRP URI for session '%s'", id);
            goto out;
        }
        e = expect_slot(slot, sv.bind_timeout_ns);
        if (e != 0) {
            /* Distinct ids can still name one session: host and session-id rules of 6.1. */
            fprintf(stderr, "msrpload serve: cannot expect %s: %s\n", slot->uri, strerror(e));
            rc = e == EEXIST ? EXIT_USAGE : EXIT_FAILED;
            goto out;
        }
        sv.live++;
    }
    /* Handlers first: whoever reads the URIs may signal at once. */
    signal_loop = sv.loop;
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* The URIs come first and alone, so that a script can read them before any event. */
    for (size_t i = 0; i < sv.nslots; i++)
        printf("%s\n", sv.slots[i].uri);
    fflush(stdout);

    rc = serve_run(&sv);
    fprintf(stderr,
            "msrpload serve: %" PRIu64 " sessions bound, %" PRIu64 " messages received, %" PRIu64
            " violations, %" PRIu64 " reports, %" PRIu64 " connections refused%s\n",
            sv.bound, sv.messages, sv.violations, sv.reports,
            sv.refused,
            stop_signal != 0 ? " (stopped by a signal)" : "");
out:
    signal_loop = NULL;
    if (sv.srv != NULL)
        msrp_server_destroy(sv.srv);
    msrp_session_abort_all();
    if (sv.loop != NULL)
        net_loop_destroy(sv.loop);
    free(sv.slots);
    net_tls_destroy(sv.tls);
    if (sv.log != NULL && sv.log != stdout)
        fclose(sv.log);
    if (tmpdir[0] != '\0')
        remove_temp_cert(tmpdir);
    free(o.ids);
    return rc;
}
