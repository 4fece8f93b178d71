/*
 * serve_sip.c - `msrpload serve --sip`: one SIP user agent (sip/ua.h) on serve's loop that
 * answers every INVITE offering an MSRP stream, and, with --sip-register, keeps its address
 * registered with a registrar.
 *
 * A call's offer is read and answered with sip/sdp_msrp.c: the answer's a=path is a URI on
 * serve's own listener with a fresh random session id (RFC 4975 section 8.2: the URI "MUST be
 * assigned for this particular session" and "SHOULD be hard to guess"). When the caller
 * connects (the RFC 4975 section 8.5 default, or a=setup / CEMA as sdp_msrp.c settles them),
 * that URI is expected on the listener with the offer's path as the From-Path its binding
 * request must carry (section 5.4: without mutual TLS the listening device "infers the
 * identity of the connecting device from the associated session description"); when serve is
 * the active side it connects once the ACK came, to where sdp_msrp.c says. Either way the
 * session is one of serve's answering sessions (serve.c's handlers and JSON lines).
 *
 * Owns: the agent, the calls' life (answer, 486 / 488, BYE both ways, the bind deadline) and
 * their JSON lines (call-*, register). May not touch: the session's rules (msrp/), the SDP rules
 * (sip/sdp_msrp.c), SIP itself (sip/ua.c), or the options' syntax (serve_options.c).
 *
 * A call's struct lives while its SIP call, its expectation on the listener or its MSRP
 * session does; a callback that may end one of them from inside another holds it (busy).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/serve.h"
#include "msrp/server.h"
#include "msrp/session.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/tls.h"
#include "sip/sdp_msrp.h"
#include "sip/ua.h"
#include "wire/idgen.h"

#define SESSION_ID_LEN 20
#define ANSWER_MAX 8192

struct serve_call {
    struct serve_slot slot; /* slot.call points back here */
    struct serve_sip *sip;
    struct serve_call *prev, *next;
    struct sip_call *call; /* NULL once the SIP call has ended */
    char call_id[160];
    bool answered;          /* slot.uri is this call's session URI */
    int busy;               /* callbacks under way that still use the struct */
    char cause[256];        /* why serve rejected the call or sent BYE; "" when it did not */
    /* serve connects (the answer said a=setup:active): where, and the To-Path */
    bool active;
    char connect_host[SIP_SDP_ADDR_MAX];
    uint16_t connect_port;
    bool connect_tls;
    char *peer_path;
    /* the answer's accept-types and accept-wrapped-types: the session's (slot points here) */
    char types[SIP_SDP_TYPES_MAX];
    char wrapped[SIP_SDP_TYPES_MAX];
};

struct serve_sip {
    struct serve *sv;
    struct sip_ua *ua;
    struct serve_call *calls;
    size_t ncalls; /* SIP calls not ended */
    size_t max_calls;
    uint64_t bind_timeout_ns;
    struct msrp_idgen ids;
    struct net_tls *tls_client; /* made when serve first connects over TLS */
    char registrar[256];
    char user[64]; /* the agent's user part, also the SDP o= username */
    int expires;
    bool registering;    /* --sip-register given and not unregistered */
    bool unregistering;  /* an unregistration waits for its answer */
    bool stopped;
    bool started; /* set up completely: the summary line is worth printing */
    uint64_t sdp_version;
    uint64_t answered, rejected;
};

/* ---- a call's struct ---------------------------------------------------------------------- */

static struct serve_call *call_of(struct serve_slot *slot)
{
    return slot->call;
}

static void call_unlink_free(struct serve_call *sc)
{
    struct serve_sip *sip = sc->sip;
    if (sc->prev != NULL)
        sc->prev->next = sc->next;
    else
        sip->calls = sc->next;
    if (sc->next != NULL)
        sc->next->prev = sc->prev;
    free(sc->peer_path);
    free(sc);
}

/* Frees sc once nothing refers to it: no SIP call, no expectation, no session, no caller. */
static void maybe_free(struct serve_call *sc)
{
    if (sc->busy == 0 && sc->call == NULL && !sc->slot.expected && sc->slot.session == NULL)
        call_unlink_free(sc);
}

/* Stops expecting the call's session on the listener, when it is still expected. */
static void forget_expected(struct serve_call *sc)
{
    struct serve *sv = sc->sip->sv;
    if (sc->slot.expected && sv->srv != NULL)
        msrp_server_forget(sv->srv, sc->slot.uri);
    sc->slot.expected = false;
}

static void set_cause(struct serve_call *sc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_cause(struct serve_call *sc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sc->cause, sizeof(sc->cause), fmt, ap);
    va_end(ap);
}

/* Ends the call with a BYE (cause: why). The call's end comes through on_ended. */
static void hang_up(struct serve_call *sc)
{
    if (sc->call == NULL)
        return;
    sc->busy++;
    sip_call_bye(sc->call); /* EINVAL when a BYE is already out: that one ends the call */
    sc->busy--;
}

/* ---- the JSON lines ----------------------------------------------------------------------- */

static FILE *call_line(struct serve_call *sc, const char *event)
{
    struct serve *sv = sc->sip->sv;
    FILE *f = serve_event_begin(sv, event, sc->answered ? sc->slot.uri : NULL);
    serve_json_str(f, "call_id", sc->call_id);
    return f;
}

/* ---- the agent's callbacks ---------------------------------------------------------------- */

static void reject(struct serve_call *sc, int status)
{
    sc->sip->rejected++;
    sip_call_reject(sc->call, status); /* on_ended follows at once */
}

/* The session URI for a new call: serve's scheme, host and port, a fresh random id. */
static int make_uri(struct serve_call *sc)
{
    struct serve_sip *sip = sc->sip;
    struct serve *sv = sip->sv;
    char id[SESSION_ID_LEN + 1];
    if (msrp_idgen_ident(&sip->ids, id, SESSION_ID_LEN) != 0)
        return EIO;
    id[SESSION_ID_LEN] = '\0';
    int n = snprintf(sc->slot.uri, sizeof(sc->slot.uri), "%s://%s:%u/%s;tcp",
                     sv->tls_on ? "msrps" : "msrp", sv->host_in_uris,
                     (unsigned)msrp_server_port(sv->srv), id);
    return n > 0 && (size_t)n < sizeof(sc->slot.uri) ? 0 : ENAMETOOLONG;
}

static void on_bind_timeout(void *user)
{
    struct serve_slot *slot = user;
    struct serve_call *sc = call_of(slot);
    struct serve *sv = slot->sv;
    slot->expected = false; /* the server has forgotten it */
    FILE *f = serve_event_begin(sv, "bind-timeout", slot->uri);
    serve_json_str(f, "call_id", sc->call_id);
    serve_event_end(sv, f);
    sc->busy++;
    set_cause(sc, "no MSRP connection bound the session within --sip-bind-timeout");
    hang_up(sc);
    sc->busy--;
    maybe_free(sc);
}

/* An IPv4 or IPv6 literal (brackets taken off into bare): no name to resolve. */
static bool numeric_host(const char *host, char *bare, size_t cap)
{
    size_t n = strlen(host);
    if (host[0] == '[' && n >= 2 && host[n - 1] == ']')
        snprintf(bare, cap, "%.*s", (int)(n - 2), host + 1);
    else
        snprintf(bare, cap, "%s", host);
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, bare, buf) == 1 || inet_pton(AF_INET6, bare, buf) == 1;
}

/* Reads the offer and answers: 200 with our SDP, or 486 / 488 / 500 with the cause. */
static void answer_offer(struct serve_call *sc, const char *sdp, size_t len)
{
    struct serve_sip *sip = sc->sip;
    struct serve *sv = sip->sv;
    if (sip->stopped || sv->stopping) {
        set_cause(sc, "serve is shutting down");
        reject(sc, 503);
        return;
    }
    if (sip->ncalls > sip->max_calls) {
        set_cause(sc, "busy: %zu calls already, the --sip-max-calls limit", sip->max_calls);
        reject(sc, 486);
        return;
    }
    if (len == 0) {
        set_cause(sc, "the INVITE carries no SDP offer (an offer in the ACK is not supported)");
        reject(sc, 488);
        return;
    }
    static struct sip_sdp_msrp_desc offer; /* large; the loop thread only */
    char why[200];
    enum sip_sdp_error e = sip_sdp_msrp_parse(sdp, len, &offer, why, sizeof(why));
    if (e != SIP_SDP_OK) {
        set_cause(sc, "unusable offer: %s", why);
        reject(sc, 488);
        return;
    }
    if (offer.port != 0 && offer.tls != sv->tls_on) {
        set_cause(sc, "the offer's MSRP stream is %s but serve listens %s",
                  offer.tls ? "TCP/TLS/MSRP" : "TCP/MSRP", sv->tls_on ? "with TLS" : "without TLS");
        reject(sc, 488);
        return;
    }
    if (make_uri(sc) != 0) {
        set_cause(sc, "cannot make a session URI");
        reject(sc, 500);
        return;
    }
    struct sip_sdp_msrp_local local = {
        .path = sc->slot.uri,
        .accept_types = sv->accept_types,
        .accept_wrapped_types = sv->wrapped_types,
        .setup = SIP_SDP_SETUP_NONE, /* to actpass: passive, as RFC 4975's model would be */
        .cema = true,                /* answered only when offered (RFC 6714) */
        .user = sip->user,
        .sess_id = (uint64_t)time(NULL),
        .sess_version = ++sip->sdp_version,
    };
    static char answer[ANSWER_MAX];
    static struct sip_sdp_msrp_result res;
    size_t alen = 0;
    int rc = sip_sdp_msrp_answer(&offer, &local, false, answer, sizeof(answer), &alen, &res);
    if (rc != 0) {
        set_cause(sc, "cannot write the answer: %s", rc == ENOSPC ? "too long" : res.reason);
        reject(sc, 500);
        return;
    }
    if (res.verdict != SIP_SDP_ACCEPT) {
        /* A declined stream (port 0) leaves no session to serve: 488 as for a REJECT. */
        set_cause(sc, "%s", res.reason);
        reject(sc, 488);
        return;
    }
    sc->active = res.active;
    if (res.active && !numeric_host(res.connect_host, sc->connect_host, sizeof(sc->connect_host))) {
        /* Resolving a name would block the loop every call and session shares. */
        set_cause(sc, "the offer has serve connect to the host name '%s'; serve connects to "
                  "numeric addresses only", res.connect_host);
        reject(sc, 488);
        return;
    }
    if (res.active) {
        sc->connect_port = res.connect_port;
        sc->connect_tls = res.connect_tls;
    }
    /* RFC 4975 section 8.6: the offerer "MUST NOT send content of a type not signaled by the
     * peer": the call's session takes what the answer signalled, not all of --accept-types. */
    snprintf(sc->types, sizeof(sc->types), "%s", res.types);
    snprintf(sc->wrapped, sizeof(sc->wrapped), "%s", res.wrapped_types);
    sc->slot.accept_types = sc->types;
    sc->slot.wrapped_types = sc->wrapped[0] != '\0' ? sc->wrapped : NULL;
    sc->peer_path = strdup(res.peer_path);
    if (sc->peer_path == NULL) {
        set_cause(sc, "out of memory");
        reject(sc, 500);
        return;
    }
    if (!res.active) {
        /* Expected before the 200 leaves: a caller may connect as soon as it reads it. */
        rc = serve_expect(&sc->slot, sc->peer_path, sip->bind_timeout_ns, on_bind_timeout);
        if (rc != 0) {
            set_cause(sc, "cannot expect %s on the listener: %s", sc->slot.uri, strerror(rc));
            reject(sc, 500);
            return;
        }
        sc->slot.expected = true;
    }
    sc->answered = true;
    if (sip_call_answer(sc->call, 200, answer, alen) != 0 || sc->call == NULL)
        return; /* on_ended said why and forgot the expectation */
    sip->answered++;
    if (sv->log_level <= LOG_SESSIONS) {
        FILE *f = call_line(sc, "call-answered");
        serve_json_str(f, "path", sc->slot.uri);
        serve_json_str(f, "peer_path", sc->peer_path);
        serve_json_str(f, "role", res.active ? "active" : "passive");
        fprintf(f, ",\"cema\":%s", res.cema ? "true" : "false");
        serve_json_str(f, "accept_types", res.types);
        serve_event_end(sv, f);
    }
}

static void on_incoming(void *ctx, struct sip_call *call, const char *sdp, size_t len)
{
    struct serve_sip *sip = ctx;
    struct serve *sv = sip->sv;
    struct serve_call *sc = calloc(1, sizeof(*sc));
    if (sc == NULL) {
        sip_call_reject(call, 500); /* on_ended finds no struct and says nothing */
        return;
    }
    sc->sip = sip;
    sc->slot.sv = sv;
    sc->slot.call = sc;
    sc->call = call;
    snprintf(sc->call_id, sizeof(sc->call_id), "%s", sip_call_id(call));
    sc->next = sip->calls;
    if (sip->calls != NULL)
        sip->calls->prev = sc;
    sip->calls = sc;
    sip->ncalls++;
    sip_call_set_user(call, sc);
    if (sv->log_level <= LOG_SESSIONS) {
        char from[512];
        sip_call_from(call, from, sizeof(from));
        FILE *f = call_line(sc, "call-incoming");
        serve_json_str(f, "from", from);
        serve_event_end(sv, f);
    }
    sc->busy++;
    answer_offer(sc, sdp, len);
    sc->busy--;
    maybe_free(sc);
}

/* serve is the active side: it connects once the caller has its answer and ACKed it. */
static void connect_out(struct serve_call *sc)
{
    struct serve_sip *sip = sc->sip;
    struct sockaddr_storage ss;
    socklen_t sslen;
    int rc = net_addr_resolve(sc->connect_host, sc->connect_port, &ss, &sslen);
    if (rc != 0) {
        set_cause(sc, "cannot resolve %s to connect to", sc->connect_host);
        hang_up(sc);
        return;
    }
    if (sc->connect_tls && sip->tls_client == NULL) {
        char err[256];
        /* No CA: peers' self-signed certificates are taken, as the load runner's are. */
        if (net_tls_client_create(&sip->tls_client, NULL, NULL, NULL, err, sizeof(err)) != 0) {
            set_cause(sc, "no TLS client context: %s", err);
            hang_up(sc);
            return;
        }
    }
    rc = serve_connect(&sc->slot, sc->peer_path, (struct sockaddr *)&ss, sslen,
                       sc->connect_tls ? sip->tls_client : NULL);
    if (rc != 0) {
        sc->slot.session = NULL;
        set_cause(sc, "cannot connect to %s:%u: %s", sc->connect_host,
                  (unsigned)sc->connect_port, strerror(rc));
        hang_up(sc);
    }
}

static void on_established(void *ctx, struct sip_call *call, const char *sdp, size_t len)
{
    (void)ctx;
    (void)sdp;
    (void)len;
    struct serve_call *sc = sip_call_user(call);
    if (sc == NULL)
        return;
    struct serve *sv = sc->sip->sv;
    sc->busy++;
    if (sv->log_level <= LOG_SESSIONS) {
        FILE *f = call_line(sc, "call-established");
        serve_event_end(sv, f);
    }
    if (sc->active && sc->slot.session == NULL)
        connect_out(sc);
    sc->busy--;
    maybe_free(sc);
}

static void on_ended(void *ctx, struct sip_call *call, enum sip_call_end why, int status,
                     const char *reason)
{
    struct serve_sip *sip = ctx;
    struct serve_call *sc = sip_call_user(call);
    if (sc == NULL)
        return;
    struct serve *sv = sip->sv;
    sc->busy++;
    sc->call = NULL;
    sip->ncalls--;
    bool orderly = why == SIP_END_LOCAL_BYE || why == SIP_END_REMOTE_BYE;
    if (sv->log_level <= (orderly ? LOG_SESSIONS : LOG_PROBLEMS)) {
        FILE *f = call_line(sc, "call-ended");
        serve_json_str(f, "why", sip_call_end_name(why));
        fprintf(f, ",\"status\":%d", status);
        serve_json_str(f, "reason", reason != NULL ? reason : "");
        if (sc->cause[0] != '\0')
            serve_json_str(f, "cause", sc->cause);
        serve_event_end(sv, f);
    }
    /* The call is over, so is its MSRP session (as in RFC 4975 section 11.1's example flow,
     * no keyword: after the BYE both ends invalidate the session's state). */
    forget_expected(sc);
    if (sc->slot.session != NULL)
        msrp_session_close(sc->slot.session);
    sc->busy--;
    maybe_free(sc);
}

static void on_registered(void *ctx, struct sip_ua *ua, int status, int expires)
{
    struct serve_sip *sip = ctx;
    struct serve *sv = sip->sv;
    bool ok = status >= 200 && status < 300;
    if (sip->unregistering && !sip->registering)
        sip->unregistering = false; /* the answer to the unregistration */
    if (sv->log_level <= (ok ? LOG_SESSIONS : LOG_PROBLEMS)) {
        FILE *f = serve_event_begin(sv, "register", NULL);
        serve_json_str(f, "registrar", sip->registrar);
        serve_json_str(f, "aor", sip_ua_aor(ua));
        fprintf(f, ",\"status\":%d,\"expires\":%d", status, expires);
        serve_event_end(sv, f);
    }
}

/* ---- serve.c's entry points --------------------------------------------------------------- */

void serve_sip_session_ended(struct serve_slot *slot)
{
    struct serve_call *sc = call_of(slot);
    sc->busy++;
    if (sc->call != NULL) {
        if (sc->cause[0] == '\0') /* else a BYE is out already, for that cause */
            set_cause(sc, "the MSRP session ended");
        hang_up(sc);
    }
    sc->busy--;
    maybe_free(sc);
}

int serve_sip_start(struct serve *sv, const struct serve_opts *o)
{
    struct serve_sip *sip = calloc(1, sizeof(*sip));
    if (sip == NULL || msrp_idgen_init(&sip->ids) != 0) {
        free(sip);
        fprintf(stderr, "msrpload serve: out of memory or no randomness\n");
        return EXIT_FAILED;
    }
    sv->sip = sip;
    sip->sv = sv;
    sip->max_calls = (size_t)o->sip_max_calls;
    sip->bind_timeout_ns = (uint64_t)(o->sip_bind_timeout * 1e9);
    sip->expires = (int)o->sip_expires;
    snprintf(sip->user, sizeof(sip->user), "%s", o->sip_user_part);
    struct sip_ua_config cfg = {
        .transport = {.kind = o->sip_kind, .host = o->sip_host, .port = o->sip_port},
        .user = o->sip_user_part,
        .password = o->sip_password[0] != '\0' ? o->sip_password : NULL,
        .cb = {.on_registered = on_registered, .on_incoming = on_incoming,
               .on_established = on_established, .on_ended = on_ended},
        .ctx = sip,
    };
    char err[512];
    int rc = sip_ua_create(sv->loop, &cfg, &sip->ua, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "msrpload serve: --sip %s: %s\n", o->sip, err);
        return rc == EINVAL ? EXIT_USAGE : EXIT_UNREACHABLE;
    }
    if (o->sip_register != NULL) {
        snprintf(sip->registrar, sizeof(sip->registrar), "%s", o->sip_register);
        rc = sip_ua_register(sip->ua, o->sip_register, sip->expires);
        if (rc != 0) {
            fprintf(stderr,
                    "msrpload serve: --sip-register %s: not a SIP URI with a numeric host, or "
                    "cannot send to it: %s\n",
                    o->sip_register, strerror(rc));
            return rc == EINVAL ? EXIT_USAGE : EXIT_UNREACHABLE;
        }
        sip->registering = true;
    }
    sip->started = true;
    return 0;
}

const char *serve_sip_contact(const struct serve *sv)
{
    return sip_ua_contact_uri(sv->sip->ua);
}

size_t serve_sip_sessions(const struct serve *sv)
{
    size_t n = 0;
    if (sv->sip == NULL)
        return 0;
    for (const struct serve_call *sc = sv->sip->calls; sc != NULL; sc = sc->next)
        n += sc->slot.session != NULL;
    return n;
}

bool serve_sip_busy(const struct serve *sv)
{
    return sv->sip->ncalls > 0 || sv->sip->unregistering;
}

void serve_sip_stop(struct serve *sv)
{
    struct serve_sip *sip = sv->sip;
    if (sip == NULL)
        return;
    if (!sip->stopped) {
        sip->stopped = true;
        for (struct serve_call *sc = sip->calls, *next; sc != NULL; sc = next) {
            sc->busy++;
            if (sc->call != NULL) {
                if (sc->cause[0] == '\0') /* else a BYE is out already, for that cause */
                    set_cause(sc, "serve is shutting down");
                hang_up(sc);
            }
            sc->busy--;
            next = sc->next; /* read while sc is held: it may go now */
            maybe_free(sc);
        }
        if (sip->registering && sip->ua != NULL && sip_ua_unregister(sip->ua) == 0)
            sip->unregistering = true;
        sip->registering = false;
    }
    /* The listener goes next: nothing may stay expected on it. */
    for (struct serve_call *sc = sip->calls, *next; sc != NULL; sc = next) {
        next = sc->next;
        forget_expected(sc);
        maybe_free(sc);
    }
}

void serve_sip_close_sessions(struct serve *sv)
{
    for (struct serve_call *sc = sv->sip->calls; sc != NULL; sc = sc->next)
        if (sc->slot.session != NULL)
            msrp_session_close(sc->slot.session);
}

void serve_sip_end_agent(struct serve *sv)
{
    struct serve_sip *sip = sv->sip;
    if (sip == NULL || sip->ua == NULL)
        return;
    struct sip_ua *ua = sip->ua;
    sip_ua_destroy(ua); /* on_ended for each call left: its line, its session closed */
    sip->ua = NULL;
    sip->unregistering = false;
}

void serve_sip_free(struct serve *sv)
{
    struct serve_sip *sip = sv->sip;
    if (sip == NULL)
        return;
    serve_sip_end_agent(sv);
    /* msrp_session_abort_all() ran: no session is left to refer to a call. */
    while (sip->calls != NULL)
        call_unlink_free(sip->calls);
    net_tls_destroy(sip->tls_client);
    if (sip->started)
        fprintf(stderr, "msrpload serve: %" PRIu64 " calls answered, %" PRIu64 " rejected\n",
                sip->answered, sip->rejected);
    free(sip);
    sv->sip = NULL;
}
