/*
 * serve.c - `msrpload serve`: an answering MSRP endpoint for a user's own client or relay to
 * talk to, which doubles as a checker of that client.
 *
 * Without SIP there is no SDP, so every session is announced by printing its URI, and the first
 * request on a session binds whatever From-Path it carries (RFC 4975 section 5.4 with no
 * expected peer). Each complete message, each protocol violation by the peer and each session
 * event becomes one JSON line. When a session ends its URI is expected again, so a client can
 * reconnect as often as it likes. With --sip, serve_sip.c answers INVITEs and each call brings
 * a session of its own (serve_expect / serve_connect with the peer's path from the SDP), which
 * the same handlers serve; its end is the call's (serve_sip_session_ended).
 *
 * One net_loop in the main thread does everything. Signals only set a flag and wake the loop
 * (both async-signal-safe); the loop notices the flag within one pass and shuts down in order.
 *
 * Owns: setting up the answering sessions from the options (serve_options.c reads and checks
 * the command line), their event log (JSON lines), their live metrics (--metrics-listen,
 * published by the loop thread after each pass, served by cli/metrics_http.c), signals, the
 * orderly shutdown and the exit code. May not touch: the options' syntax and usage errors (serve_options.c), the session's
 * protocol rules and deliberate violations (msrp/) or the transport (net/); it reacts to their
 * callbacks.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/metrics_http.h"
#include "cli/serve.h"
#include "msrp/cpim_peer.h"
#include "msrp/peerrules.h"
#include "msrp/server.h"
#include "msrp/session.h"
#include "net/loop.h"
#include "net/tls.h"
#include "net/transport_ws.h"
#include "report/jsonw.h"
#include "report/prom.h"
#include "scenario/scenario.h"
#include "wire/idgen.h"
#include "wire/uri.h"

#define SERVE_MAX_FDS 65536
#define SERVE_RANDOM_ID_LEN 16
#define SERVE_WAIT_MS 200
/* How long sessions get to flush and close at shutdown before serve exits regardless. */
#define SERVE_CLOSE_GRACE_NS (1000ull * 1000000ull)
#define SERVE_ALT_DELAY_MAX_NS (100ull * 1000000ull) /* --alt: a 200 waits up to 100 ms */

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
FILE *serve_event_begin(struct serve *sv, const char *event, const char *uri)
{
    char when[48];
    utc_now(when, sizeof(when));
    FILE *f = sv->log;
    fprintf(f, "{\"event\":\"%s\",\"time\":\"%s\",\"session\":", event, when);
    if (uri != NULL)
        jsonw_string(f, uri, strlen(uri));
    else
        fputs("null", f);
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

void serve_event_end(struct serve *sv, FILE *f)
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

void serve_json_str(FILE *f, const char *name, const char *s)
{
    json_field_str(f, name, s, strlen(s));
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
    slot->expected = false; /* the server's expectation is the session's now */
}

static void serve_bound(struct msrp_session *s)
{
    struct serve_slot *slot = slot_of(s);
    struct serve *sv = slot->sv;
    sv->bound++;
    if (sv->log_level > LOG_SESSIONS)
        return;
    FILE *f = serve_event_begin(sv, "bound", slot->uri);
    const char *peer = msrp_session_peer(s);
    json_field_str(f, "peer", peer, strlen(peer));
    serve_event_end(sv, f);
}

static void serve_violation(struct msrp_session *s, const struct msrp_peer_violation *v);

static void serve_received(struct msrp_session *s, const struct msrp_received *m)
{
    struct serve_slot *slot = slot_of(s);
    struct serve *sv = slot->sv;
    const struct msrp_reasm_done *done = m->info;
    sv->messages++;
    sv->now.payload_bytes += done != NULL ? done->total : 0;
    struct msrp_cpim_result cr;
    msrp_cpim_handle(s, m, slot->accept_types ? slot->accept_types : sv->accept_types,
                     slot->accept_types ? slot->wrapped_types : sv->wrapped_types, !sv->no_imdn,
                     &cr);
    if (cr.verdict == MSRP_CPIM_MALFORMED) {
        struct msrp_peer_violation v = {"cpim", cr.detail};
        serve_violation(s, &v);
    }
    if (sv->log_level > LOG_ALL)
        return;
    const struct msrp_reasm_done *d = m->info;
    FILE *f = serve_event_begin(sv, "message", slot->uri);
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
    serve_event_end(sv, f);
}

static void serve_report(struct msrp_session *s, const struct msrp_report_in *r)
{
    struct serve_slot *slot = slot_of(s);
    struct serve *sv = slot->sv;
    sv->reports++;
    if (sv->log_level > LOG_ALL)
        return;
    FILE *f = serve_event_begin(sv, "report", slot->uri);
    json_field_str(f, "message_id", r->message_id.ptr, r->message_id.len);
    fprintf(f, ",\"status\":%d,\"byte_range\":[%" PRIu64 ",", r->status, r->range.start);
    json_u64_or_null(f, r->range.end);
    putc(',', f);
    json_u64_or_null(f, r->range.total);
    putc(']', f);
    serve_event_end(sv, f);
}

static void serve_violation(struct msrp_session *s, const struct msrp_peer_violation *v)
{
    struct serve_slot *slot = slot_of(s);
    struct serve *sv = slot->sv;
    const char *kind = v->kind != NULL ? v->kind : "unknown";
    if (msrp_peer_rules_allows(kind))
        return;
    sv->violations++;
    FILE *f = serve_event_begin(sv, "violation", slot->uri);
    const char *detail = v->detail != NULL ? v->detail : "";
    json_field_str(f, "kind", kind, strlen(kind));
    json_field_str(f, "detail", detail, strlen(detail));
    /* The rule broken, by its id in scenarios/conformance/requirements.json, where the kind
     * names one: serve checks clients against the rules the conformance cases check. */
    const char *req = msrp_peer_rules_requirement(kind);
    if (req != NULL)
        json_field_str(f, "requirement", req, strlen(req));
    serve_event_end(sv, f);
}

static void serve_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    struct serve_slot *slot = msrp_session_user(s);
    struct serve *sv = slot->sv;
    slot->session = NULL;
    if ((unsigned)why < PROM_SERVE_END_KINDS)
        sv->now.ends[why]++;
    bool orderly = why == MSRP_END_CLOSED || why == MSRP_END_PEER_CLOSED;
    if (sv->log_level <= (orderly ? LOG_SESSIONS : LOG_PROBLEMS)) {
        FILE *f = serve_event_begin(sv, "end", slot->uri);
        const char *reason = msrp_session_end_name(why);
        json_field_str(f, "reason", reason, strlen(reason));
        json_field_str(f, "detail", detail, strlen(detail));
        serve_event_end(sv, f);
    }
    /* A call's session is the call's: its end ends the call (BYE), and its URI is not
     * expected again (RFC 4975 section 8.2: assigned for this particular session). */
    if (slot->call != NULL) {
        serve_sip_session_ended(slot);
        return;
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
    FILE *f = serve_event_begin(sv, "refused", slot->uri);
    json_field_str(f, "kind", r->kind, strlen(r->kind));
    json_field_str(f, "message_id", r->message_id, strlen(r->message_id));
    fprintf(f, ",\"status\":%d", r->status);
    json_field_str(f, "detail", r->detail, strlen(r->detail));
    serve_event_end(sv, f);
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
    serve_event_end(sv, f);
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
    FILE *f = serve_event_begin(sv, "bind-timeout", slot->uri);
    serve_event_end(sv, f);
}

/* The settings every answering session of serve gets, for slot's URI. */
static void session_config(struct serve_slot *slot, struct msrp_session_config *cfg)
{
    struct serve *sv = slot->sv;
    msrp_session_config_default(cfg);
    cfg->local_uri = slot->uri;
    cfg->peer_path = NULL; /* no SDP: the first request binds its From-Path */
    cfg->accept_types = slot->accept_types ? slot->accept_types : sv->accept_types;
    cfg->keep_bodies_max = MSRP_CPIM_KEEP_MAX; /* message/cpim bodies are read (cpim_peer.h) */
    cfg->keep_bodies_type = "message/cpim";
    cfg->violate = sv->violate;
    if (sv->alt) {
        /* Per-chunk success REPORTs (RFC 4975 section 7.1.3 allows them), and 200s held back
         * 0 to 100 ms each, drawn per response: they may overtake one another and leave
         * together in one write, far inside the 30 s a sender waits (section 7.1.1). */
        cfg->violate = "per-chunk-reports";
        cfg->response_delay_min_ns = 0;
        cfg->response_delay_max_ns = SERVE_ALT_DELAY_MAX_NS;
    }
    cfg->idle_timeout_ns = sv->idle_timeout_ns;
    cfg->stall_timeout_ns = sv->stall_timeout_ns;
    cfg->reasm.max_extents = sv->max_extents;
}

int serve_expect(struct serve_slot *slot, const char *peer_path, uint64_t bind_timeout_ns,
                 void (*on_bind_timeout)(void *slot))
{
    struct msrp_session_config cfg;
    session_config(slot, &cfg);
    cfg.peer_path = peer_path;
    return msrp_server_expect(slot->sv->srv, &cfg, &serve_handlers, slot, bind_timeout_ns,
                              on_bind_timeout);
}

int serve_connect(struct serve_slot *slot, const char *peer_path, const struct sockaddr *sa,
                  socklen_t salen, struct net_tls *tls)
{
    struct msrp_session_config cfg;
    session_config(slot, &cfg);
    cfg.peer_path = peer_path;
    return msrp_session_connect(slot->sv->loop, &cfg, sa, salen, tls, &serve_handlers, slot,
                                &slot->session);
}

static int expect_slot(struct serve_slot *slot, uint64_t bind_timeout_ns)
{
    return serve_expect(slot, NULL, bind_timeout_ns, serve_bind_timeout);
}

static size_t sessions_alive(const struct serve *sv)
{
    size_t n = 0;
    for (size_t i = 0; i < sv->nslots; i++)
        n += sv->slots[i].session != NULL;
    return n + serve_sip_sessions(sv);
}

/* ---- live metrics ------------------------------------------------------------------------- */

/* On the loop thread, after each pass (at most SERVE_WAIT_MS apart): the figures now. */
static void metrics_publish(struct serve *sv)
{
    if (sv->metrics == NULL)
        return;
    struct prom_serve_snapshot *n = &sv->now;
    n->bound = sv->bound;
    n->messages = sv->messages;
    n->reports = sv->reports;
    n->violations = sv->violations;
    n->refused = sv->srv != NULL ? msrp_server_refused(sv->srv) : sv->refused;
    n->open = sessions_alive(sv);
    n->expected = sv->live;
    pthread_mutex_lock(&sv->pub_lock);
    sv->pub = *n;
    pthread_mutex_unlock(&sv->pub_lock);
}

/* On the HTTP thread: the last published figures as Prometheus text. */
static char *metrics_render(void *arg, size_t *len)
{
    struct serve *sv = arg;
    struct prom_serve_snapshot snap;
    pthread_mutex_lock(&sv->pub_lock);
    snap = sv->pub;
    pthread_mutex_unlock(&sv->pub_lock);
    return prom_render_serve(&snap, &sv->metrics_meta, len);
}

/* --metrics-listen: a bad value is a usage error (2), an address we cannot listen on 3, as
 * for --listen. Returns 0, or the exit code. */
static int metrics_start(struct serve *sv, const struct serve_opts *o)
{
    char err[512];
    /* The label names the address served, with the port really listened on. */
    snprintf(sv->metrics_label, sizeof(sv->metrics_label), "%s:%u", o->host_in_uris,
             (unsigned)msrp_server_port(sv->srv));
    sv->metrics_meta.listen = sv->metrics_label;
    for (int i = 1; i < MSRP_END_KINDS && i < PROM_SERVE_END_KINDS; i++)
        sv->metrics_meta.end_names[i] = msrp_session_end_name((enum msrp_session_end)i);
    pthread_mutex_init(&sv->pub_lock, NULL);
    enum metrics_http_error e =
        metrics_http_start(&sv->metrics, o->metrics_listen, metrics_render, sv, err, sizeof(err));
    if (e != METRICS_HTTP_OK) {
        fprintf(stderr, "msrpload serve: %s\n", err);
        return e == METRICS_HTTP_BAD_VALUE ? EXIT_USAGE : EXIT_UNREACHABLE;
    }
    fprintf(stderr, "msrpload serve: metrics at %s\n", metrics_http_url(sv->metrics));
    return 0;
}

/* ---- setting up --------------------------------------------------------------------------- */

/* --log FILE, or standard output. Returns 0, or the exit code to stop with. */
static int open_log(struct serve *sv, const struct serve_opts *o)
{
    sv->log = stdout;
    if (o->log != NULL) {
        sv->log = fopen(o->log, "a");
        if (sv->log == NULL) {
            fprintf(stderr, "msrpload serve: --log %s: %s\n", o->log, strerror(errno));
            return EXIT_USAGE;
        }
    }
    return 0;
}

/*
 * --tls: the server context from --cert and --key, or from a self-signed certificate made in
 * a temporary folder (sv->tmpdir, removed at teardown). Returns 0, or the exit code.
 */
static int setup_tls(struct serve *sv, const struct serve_opts *o)
{
    char err[512];
    const char *cert = o->cert, *key = o->key;
    char cert_tmp[128], key_tmp[128];
    if (cert == NULL) {
        snprintf(sv->tmpdir, sizeof(sv->tmpdir), "/tmp/msrpload-serve-XXXXXX");
        if (mkdtemp(sv->tmpdir) == NULL) {
            fprintf(stderr, "msrpload serve: cannot make a temporary folder: %s\n",
                    strerror(errno));
            sv->tmpdir[0] = '\0';
            return EXIT_FAILED;
        }
        snprintf(cert_tmp, sizeof(cert_tmp), "%s/cert.pem", sv->tmpdir);
        snprintf(key_tmp, sizeof(key_tmp), "%s/key.pem", sv->tmpdir);
        /* The certificate names the host of the URIs when it is a name; it always covers
         * 127.0.0.1 and ::1 as well. */
        const char *uri_host = o->host_in_uris;
        const char *cn = uri_host[0] != '[' && strspn(uri_host, "0123456789.") != strlen(uri_host)
                             ? uri_host
                             : "localhost";
        if (net_tls_make_self_signed(cert_tmp, key_tmp, cn, err, sizeof(err)) != 0) {
            fprintf(stderr, "msrpload serve: cannot make a certificate: %s\n", err);
            return EXIT_FAILED;
        }
        fprintf(stderr,
                "msrpload serve: --tls without --cert/--key: using a self-signed certificate "
                "for %s (%s, removed on exit)\n",
                cn, cert_tmp);
        cert = cert_tmp;
        key = key_tmp;
    }
    if (net_tls_server_create(&sv->tls, cert, key, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "msrpload serve: %s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

/* The event loop and the listener with its handlers. Returns 0, or the exit code. */
static int start_server(struct serve *sv, const struct serve_opts *o)
{
    char err[512];
    int e = net_loop_create(&sv->loop, SERVE_MAX_FDS);
    if (e != 0) {
        fprintf(stderr, "msrpload serve: cannot create the event loop: %s\n", strerror(e));
        return EXIT_FAILED;
    }
    /* A well-formed address we cannot listen on (in use, not ours, no permission) is exit 3,
     * the code for an address that cannot be used; a malformed one was exit 2 before. */
    struct net_transport_setup ts = sv->tls ? net_transport_tls(sv->tls) : net_transport_tcp();
    if (o->ws) {
        /* One chunk per WebSocket message (RFC 7977 5.1): the chunk end finder says where. */
        struct net_ws_opts wo = {.server = true, .boundary = msrp_ws_boundary};
        struct net_transport_setup below = ts;
        ts = net_transport_ws(&sv->ws, &below, &wo);
    }
    if (msrp_server_create_via(sv->loop, o->host, o->port, &ts, &sv->srv, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "msrpload serve: cannot listen on %s: %s\n", o->listen, err);
        return EXIT_UNREACHABLE;
    }
    msrp_server_on_session(sv->srv, serve_session);
    msrp_server_on_event(sv->srv, serve_server_event, sv);
    msrp_server_set_violate(sv->srv, o->violate);
    msrp_server_set_first_request_timeout(sv->srv, (uint64_t)(o->first_request_timeout * 1e9));
    return 0;
}

/*
 * One slot per session answered: the --session-id ones, then random ids. Each gets its URI
 * (with the port really listened on) and is expected. Returns 0, or the exit code.
 */
static int expect_slots(struct serve *sv, const struct serve_opts *o)
{
    uint16_t real_port = msrp_server_port(sv->srv);
    /* With --sip the calls bring their own sessions: none other unless asked for. */
    sv->nslots = o->sessions != 0 ? (size_t)o->sessions
                                  : (o->nids > 0 ? o->nids : (o->sip != NULL ? 0 : 1));
    sv->slots = calloc(sv->nslots, sizeof(*sv->slots));
    struct msrp_idgen ids;
    if (sv->slots == NULL || msrp_idgen_init(&ids) != 0) {
        fprintf(stderr, "msrpload serve: out of memory or no randomness\n");
        return EXIT_FAILED;
    }
    for (size_t i = 0; i < sv->nslots; i++) {
        struct serve_slot *slot = &sv->slots[i];
        slot->sv = sv;
        char random_id[SERVE_RANDOM_ID_LEN + 1], numbered[128];
        const char *id = i < o->nids ? o->ids[i] : random_id;
        if (o->id_pattern != NULL) {
            scenario_target_format(o->id_pattern, i, numbered, sizeof(numbered));
            id = numbered;
        } else if (i >= o->nids) {
            if (msrp_idgen_ident(&ids, random_id, SERVE_RANDOM_ID_LEN) != 0) {
                fprintf(stderr, "msrpload serve: the random generator failed\n");
                return EXIT_FAILED;
            }
            random_id[SERVE_RANDOM_ID_LEN] = '\0';
        }
        int n = snprintf(slot->uri, sizeof(slot->uri), "%s://%s:%u/%s;%s",
                         o->tls ? "msrps" : "msrp", o->host_in_uris, real_port, id,
                         o->ws ? "ws" : "tcp");
        struct msrp_uri parsed;
        if (n < 0 || (size_t)n >= sizeof(slot->uri) ||
            msrp_uri_parse(slot->uri, (size_t)n, &parsed) != MSRP_URI_OK)
            return serve_usage_error("cannot make a valid MSRP URI for session '%s'", id);
        int e = expect_slot(slot, sv->bind_timeout_ns);
        if (e != 0) {
            /* Distinct ids can still name one session: host and session-id rules of 6.1. */
            fprintf(stderr, "msrpload serve: cannot expect %s: %s\n", slot->uri, strerror(e));
            return e == EEXIST ? EXIT_USAGE : EXIT_FAILED;
        }
        sv->live++;
    }
    return 0;
}

/* Everything serve needs before it answers, from the options read. Returns 0, or the exit
 * code to stop with (serve_teardown() releases what was made either way). */
static int serve_setup(struct serve *sv, const struct serve_opts *o)
{
    sv->violate = o->violate;
    sv->alt = o->alt;
    sv->accept_types = o->accept_list;
    sv->tls_on = o->tls;
    sv->ws_on = o->ws;
    sv->host_in_uris = o->host_in_uris;
    sv->wrapped_types = o->wrapped_list[0] != '\0' ? o->wrapped_list : NULL;
    sv->no_imdn = o->no_imdn;
    sv->bind_timeout_ns = (uint64_t)(o->bind_timeout * 1e9);
    sv->idle_timeout_ns = (uint64_t)(o->idle_timeout * 1e9);
    sv->stall_timeout_ns = (uint64_t)(o->stall_timeout * 1e9);
    sv->max_extents = (size_t)o->max_extents; /* 0: the reassembler's default */
    sv->log_level = o->log_level;
    sv->log_path = o->log;
    sv->log_max_bytes = o->log_max_bytes;
    int rc = open_log(sv, o);
    if (rc == 0 && o->tls)
        rc = setup_tls(sv, o);
    if (rc == 0)
        rc = start_server(sv, o);
    if (rc == 0)
        rc = expect_slots(sv, o);
    if (rc == 0 && o->sip != NULL)
        rc = serve_sip_start(sv, o);
    if (rc == 0 && o->metrics_listen != NULL)
        rc = metrics_start(sv, o);
    return rc;
}

/* Signal handlers, then the URIs on standard output. */
static void announce(struct serve *sv)
{
    /* Handlers first: whoever reads the URIs may signal at once. */
    signal_loop = sv->loop;
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* The URIs come first and alone, so that a script can read them before any event: the SIP
     * agent's Contact first (with --sip), then the sessions'. */
    if (sv->sip != NULL)
        printf("%s\n", serve_sip_contact(sv));
    for (size_t i = 0; i < sv->nslots; i++)
        printf("%s\n", sv->slots[i].uri);
    fflush(stdout);
}

/* ---- running ------------------------------------------------------------------------------ */

static int serve_run(struct serve *sv)
{
    int rc = EXIT_OK;
    while (stop_signal == 0) {
        metrics_publish(sv);
        if (net_loop_run_once(sv->loop, SERVE_WAIT_MS) < 0) {
            fprintf(stderr, "msrpload serve: event loop failed: %s\n", strerror(errno));
            rc = EXIT_FAILED;
            break;
        }
        /* With --sip the calls are served whatever became of the static slots. */
        if (sv->nslots > 0 && sv->live == 0 && sv->sip == NULL) {
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
    if (sv->sip != NULL)
        serve_sip_stop(sv); /* BYEs, expectations forgotten, unregistration */
    sv->refused = msrp_server_refused(sv->srv);
    msrp_server_destroy(sv->srv);
    sv->srv = NULL;
    for (size_t i = 0; i < sv->nslots; i++)
        if (sv->slots[i].session != NULL)
            msrp_session_close(sv->slots[i].session);
    if (sv->sip != NULL)
        serve_sip_close_sessions(sv);
    uint64_t deadline = net_now_ns() + SERVE_CLOSE_GRACE_NS;
    while ((sessions_alive(sv) > 0 || (sv->sip != NULL && serve_sip_busy(sv))) &&
           net_now_ns() < deadline)
        if (net_loop_run_once(sv->loop, 20) < 0)
            break;
    /* Calls whose BYE got no answer in time end now (their lines say so). */
    if (sv->sip != NULL)
        serve_sip_end_agent(sv);
    /* Refused connections may still be flushing their 481: give them a moment too. */
    for (int k = 0; k < 3; k++)
        net_loop_run_once(sv->loop, 5);
    /* Whoever has not finished within the grace time ends now, so nothing outlives the loop. */
    msrp_session_abort_all();
    return rc;
}

/* ---- teardown ----------------------------------------------------------------------------- */

static void remove_temp_cert(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/cert.pem", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    unlink(path);
    rmdir(dir);
}

/* Releases whatever serve_setup() made, however far it got. */
static void serve_teardown(struct serve *sv)
{
    signal_loop = NULL;
    if (sv->metrics != NULL) {
        metrics_http_stop(sv->metrics); /* no scrape reads sv after this */
        pthread_mutex_destroy(&sv->pub_lock);
    }
    if (sv->sip != NULL)
        serve_sip_stop(sv); /* harmless when done already: only forgets what is left */
    if (sv->srv != NULL)
        msrp_server_destroy(sv->srv);
    if (sv->sip != NULL)
        serve_sip_end_agent(sv);
    msrp_session_abort_all();
    if (sv->sip != NULL)
        serve_sip_free(sv);
    if (sv->loop != NULL)
        net_loop_destroy(sv->loop);
    free(sv->slots);
    net_tls_destroy(sv->tls);
    if (sv->log != NULL && sv->log != stdout)
        fclose(sv->log);
    if (sv->tmpdir[0] != '\0')
        remove_temp_cert(sv->tmpdir);
}

int cmd_serve(int argc, char **argv)
{
    struct serve_opts o;
    struct serve sv = {0};
    int rc = serve_read_options(argc, argv, &o);
    if (rc < 0) {
        rc = serve_setup(&sv, &o);
        if (rc == EXIT_OK) {
            announce(&sv);
            rc = serve_run(&sv);
            fprintf(stderr,
                    "msrpload serve: %" PRIu64 " sessions bound, %" PRIu64
                    " messages received, %" PRIu64 " violations, %" PRIu64 " reports, %" PRIu64
                    " connections refused%s\n",
                    sv.bound, sv.messages, sv.violations, sv.reports, sv.refused,
                    stop_signal != 0 ? " (stopped by a signal)" : "");
        }
    }
    serve_teardown(&sv);
    serve_free_options(&o);
    return rc;
}
