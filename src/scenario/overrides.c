/*
 * overrides.c - the command line's values over a loaded scenario (msrpload run's options):
 * each option's value checked as it is read, with the scenario's own bounds, then all of them
 * applied together with the rules that tie them to the file (the concurrency following
 * --sessions, a relay's user and transport, the targets' transport, a shard's share).
 *
 * Owns: what an override means and its messages, which name the option ("--threads takes
 * ..."), never a JSON path. May not touch: the options that are not the scenario's (--out,
 * --quiet, the relay password: reading it is I/O, cli/run.c's), the file, anything but the
 * caller's structs and error buffer.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/scenario.h"
#include "wire/uri.h"

/* Command-line bounds where the scenario file has none of its own. */
#define MAX_RATE 1e9
#define MAX_DURATION_S (86400.0 * 30)
#define MAX_SHARDS 65536

void scenario_overrides_init(struct scenario_overrides *o)
{
    memset(o, 0, sizeof *o);
    o->session_rate = o->rate = o->duration = -1;
}

/* An integer from min to max, in decimal digits only. */
static int parse_u64(const char *opt, const char *v, uint64_t min, uint64_t max, uint64_t *out,
                     char *err, size_t errlen)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] < '0' || v[0] > '9' || n < min ||
        n > max) {
        snprintf(err, errlen, "%s takes an integer from %llu to %llu, got '%s'", opt,
                 (unsigned long long)min, (unsigned long long)max, v);
        return -1;
    }
    *out = n;
    return 0;
}

/* A finite number >= 0 (or > 0) and at most max; unit says what it counts in the message.
 * strtod takes "nan" and "inf", which no comparison would refuse: isfinite does. */
static int parse_number(const char *opt, const char *v, const char *unit, bool zero_ok,
                        double max, double *out, char *err, size_t errlen)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || !isfinite(d) || d < 0 || (!zero_ok && d == 0) || d > max) {
        snprintf(err, errlen, "%s takes a number of %s %s 0 and at most %.15g, got '%s'", opt,
                 unit, zero_ok ? ">=" : ">", max, v);
        return -1;
    }
    *out = d;
    return 0;
}

/* --batch-window: "auto" or seconds from 0 to SCENARIO_MAX_BATCH_WINDOW_S. */
static int parse_batch_window(struct scenario_overrides *o, const char *v, char *err,
                              size_t errlen)
{
    o->batch_window_given = true;
    o->batch_window_auto = strcmp(v, "auto") == 0;
    o->batch_window_s = 0;
    if (o->batch_window_auto)
        return 0;
    char *end;
    o->batch_window_s = strtod(v, &end);
    if (end == v || *end != '\0' ||
        !(o->batch_window_s >= 0 && o->batch_window_s <= SCENARIO_MAX_BATCH_WINDOW_S)) {
        snprintf(err, errlen, "--batch-window takes auto or seconds from 0 to %g, got '%s'",
                 SCENARIO_MAX_BATCH_WINDOW_S, v);
        return -1;
    }
    return 0;
}

/* "I/N" with 1 <= I <= N <= MAX_SHARDS. */
static int parse_shard(struct scenario_overrides *o, const char *v, char *err, size_t errlen)
{
    unsigned i, n;
    int used = 0;
    if (v[0] < '1' || v[0] > '9' || sscanf(v, "%u/%u%n", &i, &n, &used) != 2 ||
        v[used] != '\0' || strchr(v, '+') != NULL || strchr(v, ' ') != NULL || i < 1 ||
        n < i || n > MAX_SHARDS) {
        snprintf(err, errlen, "--shard takes I/N with 1 <= I <= N, got '%s'", v);
        return -1;
    }
    o->shard_index = i;
    o->shard_count = n;
    return 0;
}

/* A URI for --target or --relay: MSRP, short enough to be kept whole, over TCP or a WebSocket:
 * RFC 4975 section 6 specifies MSRP over TCP (URIs designating it MUST include the "tcp"
 * transport parameter) and RFC 7977 5.2.1 adds "ws"; this tool speaks nothing else, so
 * another transport would be used as one of those. Which of the two fits the transport is
 * checked once every option is known (check_targets, apply_relay). */
static bool msrp_uri_ok(const char *opt, const char *v, char *err, size_t errlen)
{
    struct msrp_uri u;
    char first[sizeof(((struct scenario *)NULL)->targets[0])]; /* a target's pattern filled */
    scenario_target_format(v, 0, first, sizeof(first));
    if (strcmp(opt, "--target") != 0)
        snprintf(first, sizeof(first), "%s", v);
    enum msrp_uri_error e = msrp_uri_parse(first, strlen(first), &u);
    if (e != MSRP_URI_OK) {
        snprintf(err, errlen, "%s %s: not an MSRP URI (%s)", opt, v, msrp_uri_error_text(e));
        return false;
    }
    if (strlen(v) >= sizeof(((struct scenario *)NULL)->targets[0])) {
        snprintf(err, errlen, "%s: a URI of at most %zu bytes, got %zu", opt,
                 sizeof(((struct scenario *)NULL)->targets[0]) - 1, strlen(v));
        return false;
    }
    if (!msrp_span_eq_nocase(u.transport, MSRP_SPAN_LIT("tcp")) &&
        !msrp_span_eq_nocase(u.transport, MSRP_SPAN_LIT("ws"))) {
        snprintf(err, errlen, "%s %s: the transport must be tcp (;tcp) or ws (;ws), got ;%.*s",
                 opt, v, (int)u.transport.len, u.transport.ptr);
        return false;
    }
    return true;
}

/* --transport, --caller-transport, --answerer-transport. */
static int parse_transport(const char *opt, const char *v, enum scenario_transport *out,
                           bool *given, char *err, size_t errlen)
{
    if (scenario_transport_parse(v, out) != 0) {
        snprintf(err, errlen, "%s takes tcp, tls, ws or wss, got '%s'", opt, v);
        return -1;
    }
    *given = true;
    return 0;
}

static int add_target(struct scenario_overrides *o, const char *v, char *err, size_t errlen)
{
    if (!msrp_uri_ok("--target", v, err, errlen))
        return -1;
    if (o->num_targets == SCENARIO_MAX_TARGETS) {
        snprintf(err, errlen, "at most %d targets", SCENARIO_MAX_TARGETS);
        return -1;
    }
    o->targets[o->num_targets++] = v;
    return 0;
}

int scenario_override_option(struct scenario_overrides *o, const char *opt, const char *v,
                             char *err, size_t errlen)
{
    int rc;
    if (strcmp(opt, "--threads") == 0)
        rc = parse_u64(opt, v, 1, SCENARIO_MAX_THREADS, &o->threads, err, errlen);
    else if (strcmp(opt, "--sessions") == 0)
        rc = parse_u64(opt, v, 1, SCENARIO_MAX_SESSIONS, &o->sessions, err, errlen);
    else if (strcmp(opt, "--concurrency") == 0)
        rc = parse_u64(opt, v, 1, SCENARIO_MAX_CONCURRENCY, &o->concurrency, err, errlen);
    else if (strcmp(opt, "--session-rate") == 0)
        rc = parse_number(opt, v, "sessions per second", true, MAX_RATE, &o->session_rate, err,
                          errlen);
    else if (strcmp(opt, "--rate") == 0)
        rc = parse_number(opt, v, "messages per second", false, MAX_RATE, &o->rate, err, errlen);
    else if (strcmp(opt, "--duration") == 0)
        rc = parse_number(opt, v, "seconds", false, MAX_DURATION_S, &o->duration, err, errlen);
    else if (strcmp(opt, "--batch-window") == 0)
        rc = parse_batch_window(o, v, err, errlen);
    else if (strcmp(opt, "--shard") == 0)
        rc = parse_shard(o, v, err, errlen);
    else if (strcmp(opt, "--relay") == 0)
        o->relay_uri = v, rc = 0;
    else if (strcmp(opt, "--relay-ws") == 0)
        o->relay_ws_uri = v, rc = 0;
    else if (strcmp(opt, "--transport") == 0)
        rc = parse_transport(opt, v, &o->transport, &o->transport_given, err, errlen);
    else if (strcmp(opt, "--caller-transport") == 0)
        rc = parse_transport(opt, v, &o->end_transport[SCENARIO_CALLER],
                             &o->end_transport_given[SCENARIO_CALLER], err, errlen);
    else if (strcmp(opt, "--answerer-transport") == 0)
        rc = parse_transport(opt, v, &o->end_transport[SCENARIO_ANSWERER],
                             &o->end_transport_given[SCENARIO_ANSWERER], err, errlen);
    else if (strcmp(opt, "--relay-user") == 0)
        o->relay_user = v, rc = 0;
    else if (strcmp(opt, "--relay-users") == 0)
        rc = parse_u64(opt, v, 1, UINT32_MAX, &o->relay_users, err, errlen);
    else if (strcmp(opt, "--relay-expires") == 0)
        rc = parse_u64(opt, v, 1, UINT32_MAX, &o->relay_expires, err, errlen);
    else if (strcmp(opt, "--target") == 0)
        rc = add_target(o, v, err, errlen);
    else if (strcmp(opt, "--seed") == 0) {
        rc = parse_u64(opt, v, 0, INT64_MAX, &o->seed, err, errlen);
        o->seed_given = rc == 0;
    }
    else
        return 0;
    return rc == 0 ? 1 : -1;
}

/* --threads .. --batch-window over the file's load section. */
static int apply_load(struct scenario *sc, const struct scenario_overrides *o, char *err,
                      size_t errlen)
{
    if (o->threads)
        sc->threads = (unsigned)o->threads;
    if (o->sessions) {
        sc->sessions = o->sessions;
        if (!sc->concurrency_given)
            sc->concurrency = o->sessions; /* the default follows sessions (scenarios/README.md) */
    }
    if (o->concurrency)
        sc->concurrency = o->concurrency;
    if (sc->concurrency > SCENARIO_MAX_CONCURRENCY) {
        snprintf(err, errlen,
                 "--sessions %llu: without --concurrency (or load.concurrency) as many sessions "
                 "run at once, and at most %llu may; give --concurrency",
                 (unsigned long long)o->sessions, (unsigned long long)SCENARIO_MAX_CONCURRENCY);
        return -1;
    }
    if (sc->concurrency > sc->sessions)
        sc->concurrency = sc->sessions; /* --sessions below the file's concurrency */
    if (o->session_rate >= 0)
        sc->session_rate = o->session_rate;
    /* The stages say the rate (or the sessions open at once) and the run's length. */
    const char *beside = sc->num_stages == 0                        ? NULL
                         : o->rate > 0                              ? "--rate"
                         : o->duration > 0                          ? "--duration"
                         : o->concurrency && sc->mode == SCENARIO_CLOSED ? "--concurrency"
                                                                    : NULL;
    if (beside != NULL) {
        snprintf(err, errlen, "%s: not allowed with the scenario's load.stages, which give the "
                              "%s", beside,
                 strcmp(beside, "--duration") == 0 ? "run's length (their durations added up)"
                 : sc->mode == SCENARIO_OPEN       ? "rate"
                                                   : "sessions open at once");
        return -1;
    }
    if (o->rate > 0) {
        sc->mode = SCENARIO_OPEN;
        sc->rate = o->rate;
    }
    if (o->duration > 0)
        sc->duration_s = o->duration;
    if (o->batch_window_given) {
        sc->batch_window_auto = o->batch_window_auto;
        sc->batch_window_s = o->batch_window_s;
    }
    return 0;
}

/* The relay user once the relay is settled: given, short enough for every account it makes,
 * with a pattern when it spreads over accounts, and enough of them for every shard. */
static int check_relay_user(const struct scenario *sc, const struct scenario_overrides *o,
                            char *err, size_t errlen)
{
    /* run --data's user column names every account (sc->data is set by the loader) */
    if (sc->data != NULL && sc->data->col_user >= 0)
        return 0;
    if (sc->relay.user[0] == '\0') {
        snprintf(err, errlen, "the relay needs a user: --relay-user USER (or "
                              "topology.relay.user)");
        return -1;
    }
    bool pattern = false;
    scenario_relay_user_ok(sc->relay.user, &pattern);
    /* The longest name the pattern makes is the one of the highest account (the numbers only
     * grow wider); a longer one would be cut short, and be another user. */
    char longest[SCENARIO_RELAY_USER_MAX + 64 + 32];
    unsigned last = sc->relay.users > 0 ? sc->relay.users - 1 : 0;
    scenario_relay_user_format(sc->relay.user, last, longest, sizeof(longest));
    if (strlen(longest) > SCENARIO_RELAY_USER_MAX) {
        char where[600];
        if (o->relay_user != NULL)
            snprintf(where, sizeof(where), "--relay-user %s", sc->relay.user);
        else
            snprintf(where, sizeof(where), "%s: $.topology.relay.user", sc->path);
        snprintf(err, errlen,
                 "%s: user names of at most %d characters, but account %u would be %zu long "
                 "(%.40s...)",
                 where, SCENARIO_RELAY_USER_MAX, last, strlen(longest), longest);
        return -1;
    }
    if (sc->relay.users > 1 && !pattern) {
        snprintf(err, errlen, "%u relay users need a pattern in the user name, such as "
                              "load%%04d (got %s)", sc->relay.users, sc->relay.user);
        return -1;
    }
    if (o->shard_count > 1 && pattern && sc->relay.users < o->shard_count) {
        snprintf(err, errlen, "--shard over %u hosts needs at least %u relay users to give each "
                              "its own (got %u)", o->shard_count, o->shard_count,
                 sc->relay.users);
        return -1;
    }
    return 0;
}

/* The kind of address --relay gives: the transport both ends take unless told otherwise. */
static enum scenario_transport relay_kind(const struct scenario *sc, bool ws)
{
    if (ws)
        return sc->relay.ws_secure ? SCENARIO_WSS : SCENARIO_WS;
    return sc->relay.parsed.secure ? SCENARIO_TLS : SCENARIO_TCP;
}

/* --relay (either form) and --relay-ws into the relay's two addresses. */
static int apply_relay_uris(struct scenario *sc, const struct scenario_overrides *o, char *err,
                            size_t errlen)
{
    char why[700];
    bool relay_ws = o->relay_uri != NULL && scenario_uri_is_ws(o->relay_uri);
    if (o->relay_uri != NULL) {
        if (relay_ws) {
            if (scenario_relay_set_ws(sc, o->relay_uri, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "--relay %s", why);
                return -1;
            }
        } else {
            if (!msrp_uri_ok("--relay", o->relay_uri, err, errlen))
                return -1;
            snprintf(sc->relay.uri, sizeof(sc->relay.uri), "%s", o->relay_uri);
            scenario_relay_parse(sc);
        }
        if (sc->topology != SCENARIO_SIP) /* sip through the relay stays sip */
            sc->topology = SCENARIO_RELAY;
        if (!o->transport_given)
            sc->transport = relay_kind(sc, relay_ws);
    }
    if (o->relay_ws_uri != NULL) {
        if (relay_ws) {
            snprintf(err, errlen, "--relay %s and --relay-ws %s: both are WebSocket addresses; "
                     "--relay-ws is the WebSocket one when --relay gives the TCP (or TLS) one",
                     o->relay_uri, o->relay_ws_uri);
            return -1;
        }
        if (!scenario_uri_is_ws(o->relay_ws_uri)) {
            snprintf(err, errlen, "--relay-ws %s: expected ws://HOST:PORT/PATH, wss://... or an "
                     "MSRP URI with ;ws (RFC 7977 5.2.1)", o->relay_ws_uri);
            return -1;
        }
        if (scenario_relay_set_ws(sc, o->relay_ws_uri, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "--relay-ws %s", why);
            return -1;
        }
        if (sc->topology != SCENARIO_SIP)
            sc->topology = SCENARIO_RELAY;
    }
    return 0;
}

/* Each end has the relay address its transport needs, with the matching scheme: a ws or wss
 * end the WebSocket one, a tcp or tls end the TCP one. None is derived from the other: a
 * relay's WebSocket port is its own (Kamailio listens for each on a port of its own). */
static int check_relay_ends(const struct scenario *sc, char *err, size_t errlen)
{
    static const char *const end_key[2] = {"caller_transport", "answerer_transport"};
    static const char *const end_name[2] = {"calling", "answering"};
    for (int i = 0; i < 2; i++) {
        enum scenario_transport t = sc->end_transport[i];
        static const char *const end_opt[2] = {"--caller-transport", "--answerer-transport"};
        char why[128];
        snprintf(why, sizeof(why), "the %s end's transport is %s (%s%s%s)", end_name[i],
                 scenario_transport_name(t), sc->end_transport_given[i] ? end_opt[i] : "",
                 sc->end_transport_given[i] ? ", topology." : "",
                 sc->end_transport_given[i] ? end_key[i] : "--transport, topology.transport");
        bool secure = scenario_transport_secure(t);
        if (scenario_transport_ws(t)) {
            if (sc->relay.ws_uri[0] == '\0') {
                snprintf(err, errlen, "%s: it needs the relay's WebSocket address: --relay "
                         "%s://HOST:PORT/PATH, or --relay-ws URI beside a TCP --relay (or "
                         "topology.relay.uri / topology.relay.ws_uri); msrpload derives none "
                         "from %s", why, secure ? "wss" : "ws",
                         sc->relay.uri[0] ? sc->relay.uri : "the TCP address");
                return -1;
            }
            if (sc->relay.ws_secure != secure) {
                snprintf(err, errlen, "%s, but the relay's WebSocket address %s is %s", why,
                         sc->relay.ws_uri, sc->relay.ws_secure ? "wss (TLS)" : "ws (no TLS)");
                return -1;
            }
        } else {
            if (sc->relay.uri[0] == '\0') {
                snprintf(err, errlen, "%s: it needs the relay's %s address: --relay "
                         "%s://HOST:PORT;tcp (or topology.relay.uri)%s", why,
                         secure ? "TLS" : "TCP", secure ? "msrps" : "msrp",
                         sc->relay.ws_uri[0] ? ", with the WebSocket one in --relay-ws; "
                                               "msrpload derives none from the WebSocket one"
                                             : "");
                return -1;
            }
            if (sc->relay.parsed.secure != secure) {
                snprintf(err, errlen, "relay %s: %s, so it takes an %s:// URI", sc->relay.uri,
                         why, secure ? "msrps" : "msrp");
                return -1;
            }
            if (!msrp_span_eq_nocase(sc->relay.parsed.transport, MSRP_SPAN_LIT("tcp"))) {
                snprintf(err, errlen, "relay %s: %s, so its address has the transport tcp "
                         "(;tcp)", sc->relay.uri, why);
                return -1;
            }
        }
    }
    return 0;
}

/* --relay, --relay-ws, --relay-user, --relay-users and --relay-expires over the file's relay;
 * checked together, and the URIs kept parsed. */
static int apply_relay(struct scenario *sc, const struct scenario_overrides *o, char *err,
                       size_t errlen)
{
    if (apply_relay_uris(sc, o, err, errlen) != 0)
        return -1;
    if (o->relay_user != NULL) {
        if (!scenario_relay_user_ok(o->relay_user, NULL) ||
            strlen(o->relay_user) >= sizeof(sc->relay.user)) {
            snprintf(err, errlen, "--relay-user %s: expected a user name (printable, no quotes, "
                                  "at most one %%d or %%0Nd)", o->relay_user);
            return -1;
        }
        snprintf(sc->relay.user, sizeof(sc->relay.user), "%s", o->relay_user);
    }
    if (o->relay_users > 0)
        sc->relay.users = (uint32_t)o->relay_users;
    if (o->relay_expires > 0)
        sc->relay.expires = (uint32_t)o->relay_expires;
    for (int i = 0; i < 2; i++)
        if (o->end_transport_given[i]) {
            sc->end_transport[i] = o->end_transport[i];
            sc->end_transport_given[i] = true;
        }
    scenario_transports_settle(sc);
    if (sc->topology == SCENARIO_SIP && sc->relay.user[0] != '\0' && !scenario_has_relay(sc)) {
        /* topology.relay's accounts without its address: the sessions would skip the relay */
        snprintf(err, errlen, "%s: kind \"sip\" with topology.relay runs through that relay and "
                 "needs its address: --relay URI (or topology.relay.uri)", sc->path);
        return -1;
    }
    if (!scenario_has_relay(sc)) {
        if (o->relay_user != NULL || o->relay_users > 0 || o->relay_expires > 0) {
            snprintf(err, errlen, "--relay-user, --relay-users and --relay-expires need a relay "
                                  "(--relay URI, topology kind \"relay\", or topology.relay "
                                  "with kind \"sip\")");
            return -1;
        }
        if (o->end_transport_given[0] || o->end_transport_given[1]) {
            snprintf(err, errlen, "--caller-transport and --answerer-transport need a relay "
                                  "(--relay URI or topology kind \"relay\"): both ends are "
                                  "msrpload's own only through one; --transport sets both");
            return -1;
        }
        return 0;
    }
    if (sc->relay.uri[0] == '\0' && sc->relay.ws_uri[0] == '\0') {
        snprintf(err, errlen, "%s: the relay topology needs --relay URI (or "
                              "topology.relay.uri)", sc->path);
        return -1;
    }
    if (check_relay_ends(sc, err, errlen) != 0)
        return -1;
    return check_relay_user(sc, o, err, errlen);
}

/* Every target suits the transport: msrps:// for tls and wss, ";ws" for ws and wss. */
static int check_targets(const struct scenario *sc, const struct scenario_overrides *o,
                         char *err, size_t errlen)
{
    enum scenario_transport t = sc->transport;
    for (unsigned i = 0; i < sc->num_targets; i++) {
        struct msrp_uri u;
        const char *v = sc->targets[i];
        char first[sizeof(sc->targets[0])];
        scenario_target_format(v, 0, first, sizeof(first));
        bool ws = scenario_transport_ws(t), secure = scenario_transport_secure(t);
        if (msrp_uri_parse(first, strlen(first), &u) == MSRP_URI_OK && u.secure == secure &&
            msrp_span_eq_nocase(u.transport, ws ? MSRP_SPAN_LIT("ws") : MSRP_SPAN_LIT("tcp")))
            continue;
        char where[600];
        if (o->num_targets > 0)
            snprintf(where, sizeof(where), "--target %s", v);
        else
            snprintf(where, sizeof(where), "%s: $.topology.targets[%u]", sc->path, i);
        snprintf(err, errlen, "%s: the transport is %s%s, so targets are %s://...;%s URIs",
                 where, scenario_transport_name(t),
                 o->transport_given ? " (--transport)" : "", secure ? "msrps" : "msrp",
                 ws ? "ws" : "tcp");
        return -1;
    }
    return 0;
}

/* Share `index` (1-based) of `total` split `count` ways; the first shards take the remainder. */
static uint64_t shard_share(uint64_t total, unsigned index, unsigned count)
{
    return total / count + (index - 1 < total % count);
}

/* send.think waits between a closed loop's messages; the open loop's rate says when they leave. */
static int check_think(const struct scenario *sc, char *err, size_t errlen)
{
    if (sc->mode != SCENARIO_OPEN)
        return 0;
    for (unsigned i = 0; i < sc->num_steps; i++)
        if (sc->steps[i].kind == SCN_STEP_SEND && sc->steps[i].u.send.think.max > 0) {
            snprintf(err, errlen, "--rate: not allowed with the scenario's send.think (step %u): "
                                  "a think time paces a closed loop only", i);
            return -1;
        }
    return 0;
}

int scenario_apply_overrides(struct scenario *sc, const struct scenario_overrides *o, char *err,
                             size_t errlen)
{
    if (apply_load(sc, o, err, errlen) != 0 || check_think(sc, err, errlen) != 0)
        return -1;
    if (o->seed_given) {
        sc->seed = o->seed;
        sc->seed_given = true;
    }
    if (o->num_targets > 0 && (o->relay_uri != NULL || o->relay_ws_uri != NULL)) {
        snprintf(err, errlen, "--target and --relay exclude each other");
        return -1;
    }
    if (o->transport_given)
        sc->transport = o->transport;
    if (apply_relay(sc, o, err, errlen) != 0)
        return -1;
    if (o->num_targets > 0) {
        sc->topology = SCENARIO_TARGET;
        sc->num_targets = o->num_targets;
        for (unsigned t = 0; t < o->num_targets; t++)
            snprintf(sc->targets[t], sizeof(sc->targets[t]), "%s", o->targets[t]);
        scenario_transports_settle(sc);
    }
    if (sc->topology == SCENARIO_TARGET && check_targets(sc, o, err, errlen) != 0)
        return -1;
    /* Only a relay has an AUTH to leave unrefreshed (checked once --relay and --target are in). */
    if (sc->endings[SCENARIO_ENDING_NO_REAUTH] > 0 && sc->topology != SCENARIO_RELAY) {
        snprintf(err, errlen, "$.load.endings.no_reauth: only through a relay (topology.kind "
                              "\"relay\" or --relay)");
        return -1;
    }
    if (o->shard_count > 0) {
        /* The scenario describes the whole load over every host; this one runs its share. */
        if (sc->sessions < o->shard_count) {
            snprintf(err, errlen, "--shard %u/%u: %llu sessions cannot be shared by %u hosts",
                     o->shard_index, o->shard_count, (unsigned long long)sc->sessions,
                     o->shard_count);
            return -1;
        }
        sc->sessions = shard_share(sc->sessions, o->shard_index, o->shard_count);
        sc->concurrency = shard_share(sc->concurrency, o->shard_index, o->shard_count);
        if (sc->concurrency == 0)
            sc->concurrency = 1;
        sc->session_rate /= o->shard_count;
        sc->rate /= o->shard_count;
        scenario_stages_scale(sc, o->shard_index, o->shard_count);
    }
    return 0;
}
