/*
 * sections.c - the "load", "topology" and "answer" objects of a scenario file: each read by a
 * table of its keys, then the rules that tie keys together; and the relay user name pattern.
 *
 * Owns: what these keys mean, their bounds and defaults' interplay. May not touch: the
 * wording of messages (reader.c), steps, the case object, anything beyond struct scenario.
 */
#include "scenario/internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "wire/uri.h"
#include "wire/values.h"

#define ACCEPT_WHAT "media types separated by spaces (\"text/plain\", \"text/*\" or \"*\")"
#define DELAY_WHAT "a number of seconds >= 0 or an object with \"min\" and \"max\""
#define RELAY_USER_WHAT "a user name (printable, no quotes, at most one %d or %0Nd)"

/* ---- load --------------------------------------------------------------------------------- */

/* "auto", or seconds from 0 (off) to SCENARIO_MAX_BATCH_WINDOW_S. */
static int read_batch_window(struct scn__ctx *c, const json_t *v, void *base)
{
    static const char what[] = "\"auto\" or a number of seconds from 0 to 0.1";
    struct scenario *sc = base;
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "auto") != 0)
            return scn__expected(c, what, v, true);
        sc->batch_window_auto = true;
        sc->batch_window_s = 0;
        return 0;
    }
    if (!json_is_number(v))
        return scn__expected(c, what, v, false);
    double s = json_number_value(v);
    if (!(s >= 0 && s <= SCENARIO_MAX_BATCH_WINDOW_S))
        return scn__expected(c, what, v, true);
    sc->batch_window_auto = false;
    sc->batch_window_s = s;
    return 0;
}

/* load.seed: an integer 0..2^63-1, so that any seed the report records can be given back. */
static int read_seed(struct scn__ctx *c, const json_t *v, void *base)
{
    struct scenario *sc = base;
    json_int_t x;
    if (scn__get_int(c, v, 0, INT_NO_MAX, &x) != 0)
        return -1;
    sc->seed = (uint64_t)x;
    sc->seed_given = true;
    return 0;
}

/* Given in the file, the concurrency no longer follows --sessions. */
static int read_concurrency(struct scn__ctx *c, const json_t *v, void *base)
{
    struct scenario *sc = base;
    json_int_t x;
    if (scn__get_int(c, v, 1, (json_int_t)SCENARIO_MAX_CONCURRENCY, &x) != 0)
        return -1;
    sc->concurrency = (uint64_t)x;
    sc->concurrency_given = true;
    return 0;
}

/* load.session_lifetime: seconds, fixed or drawn as send.think's (distrib.c). */
static int read_lifetime(struct scn__ctx *c, const json_t *v, void *base)
{
    struct scenario *sc = base;
    distrib_free(&sc->session_lifetime);
    if (scn__read_distrib(c, v, false, &sc->session_lifetime) != 0)
        return -1;
    if (!(sc->session_lifetime.max > 0))
        return scn__fail(c, "expected a lifetime above 0 seconds");
    sc->has_lifetime = true;
    return 0;
}

/* load.endings: {"clean": W, "abrupt": W, "reset": W, "silent": W, "no_close_notify": W,
 * "no_reauth": W}, weights >= 0, some > 0; no_reauth only through a relay (checked with the
 * topology). */
static int read_endings(struct scn__ctx *c, const json_t *v, void *base)
{
    struct scenario *sc = base;
    if (scn__need_object(c, v) != 0)
        return -1;
    double w[SCENARIO_ENDINGS] = {0}, total = 0;
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)v, key, x) {
        unsigned k = 0;
        while (k < SCENARIO_ENDINGS && strcmp(key, scenario_ending_names[k]) != 0)
            k++;
        size_t mark = scn__path_push(c, ".%s", key);
        if (k == SCENARIO_ENDINGS)
            return scn__fail(c, "unknown ending (expected clean, abrupt, reset, silent, "
                                 "no_close_notify or no_reauth)");
        if (scn__get_number(c, x, true, &w[k]) != 0)
            return -1;
        total += w[k];
        scn__path_pop(c, mark);
    }
    if (!(total > 0))
        return scn__fail(c, "expected at least one weight above 0");
    memcpy(sc->endings, w, sizeof(w));
    return 0;
}

int scn__check_load(struct scn__ctx *c, const json_t *load)
{
    /* As the README lists them; the table below is the order they are read in. */
    static const char *const allowed[] = {"threads",     "sessions", "concurrency", "session_rate",
                                          "ramp_up",     "duration", "warm_up",     "mode",
                                          "outstanding", "rate",     "batch_window", "stages",
                                          "seed",        "session_lifetime", "endings",
                                          NULL};
    /* In the order of enum scenario_mode. */
    static const char *const modes[] = {"closed", "open", NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_INT("threads", struct scenario, threads, 0, MAX_THREADS),
        SCN_KEY_INT("sessions", struct scenario, sessions, 1, (json_int_t)SCENARIO_MAX_SESSIONS),
        SCN_KEY_CUSTOM("concurrency", read_concurrency),
        SCN_KEY_NUMBER("session_rate", struct scenario, session_rate, true),
        SCN_KEY_SECONDS("ramp_up", struct scenario, ramp_up_s, true),
        SCN_KEY_SECONDS("duration", struct scenario, duration_s, false),
        SCN_KEY_SECONDS("warm_up", struct scenario, warm_up_s, true),
        SCN_KEY_ENUM("mode", struct scenario, mode, modes, NULL),
        SCN_KEY_INT("outstanding", struct scenario, outstanding, 1, MAX_OUTSTANDING),
        SCN_KEY_CUSTOM("batch_window", read_batch_window),
        SCN_KEY_NUMBER("rate", struct scenario, rate, false),
        SCN_KEY_CUSTOM("seed", read_seed),
        SCN_KEY_CUSTOM("session_lifetime", read_lifetime),
        SCN_KEY_CUSTOM("endings", read_endings),
    };
    struct scenario *sc = c->sc;

    if (scn__need_object(c, load) != 0 || scn__check_keys(c, load, allowed) != 0 ||
        SCN__READ_KEYS(c, load, keys, sc) != 0)
        return -1;

    /* The rules between keys, once each key is known to be right on its own. */
    if (json_object_get(load, "endings") != NULL && !sc->has_lifetime) {
        scn__path_push(c, ".endings");
        return scn__fail(c, "only allowed with load.session_lifetime");
    }
    if (json_object_get(load, "stages") != NULL)
        return scn__check_stages(c, load); /* stages.c: with their own rules */
    bool has_rate = json_object_get(load, "rate") != NULL;
    if (json_object_get(load, "concurrency") != NULL && sc->concurrency > sc->sessions) {
        scn__path_push(c, ".concurrency");
        return scn__fail(c, "expected an integer <= load.sessions (%llu), got %llu",
                         (unsigned long long)sc->sessions, (unsigned long long)sc->concurrency);
    }
    if (sc->mode == SCENARIO_OPEN && !has_rate)
        return scn__fail(c, "\"rate\" is required when mode is \"open\"");
    if (sc->mode == SCENARIO_CLOSED && has_rate) {
        scn__path_push(c, ".rate");
        return scn__fail(c, "\"rate\" is only allowed when mode is \"open\"");
    }
    return 0;
}

/* ---- topology ----------------------------------------------------------------------------- */

/* A target's or the relay's URI over transport t (msrp:// or msrps://, ";tcp", or ";ws" over a
 * WebSocket, RFC 7977 5.2.1); any: either scheme will do (a relay address no end uses yet). */
static int check_uri(struct scn__ctx *c, const json_t *v, char *dst, enum scenario_transport t,
                     bool any, bool pattern)
{
    bool tls = scenario_transport_secure(t);
    const char *param = scenario_transport_ws(t) ? "ws" : "tcp";
    const char *what = any ? "an MSRP URI" : tls ? "an msrps:// URI" : "an msrp:// URI";
    char buf[SHOW_STRING_MAX * 6 + 8];

    if (!json_is_string(v))
        return scn__expected(c, what, v, false);
    if (scn__check_length(c, v, sizeof c->sc->targets[0]) != 0)
        return -1;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    struct msrp_uri u;
    /* A target's session-id pattern: the URI is checked as the first session fills it in. */
    char first[sizeof c->sc->targets[0]];
    bool filled = pattern && scenario_target_format(s, 0, first, sizeof(first));
    enum msrp_uri_error e = msrp_uri_parse(filled ? first : s, filled ? strlen(first) : len, &u);
    scn__describe(v, true, buf, sizeof buf);
    if (e != MSRP_URI_OK)
        return scn__fail(c, "expected %s, got %s (%s)", what, buf, msrp_uri_error_text(e));
    if (!any && u.secure != tls)
        return scn__fail(c, "expected %s as transport is \"%s\", got %s", what,
                         scenario_transport_name(t), buf);
    /* msrp and msrps run over TCP (RFC 4975 section 6) or a WebSocket (RFC 7977 5.2.1). */
    if (!msrp_span_eq_nocase(u.transport, msrp_span_make(param, strlen(param))))
        return scn__fail(c, "expected %s with transport \"%s\", got %s", what, param, buf);
    memcpy(dst, s, len + 1);
    return 0;
}

static int check_target(struct scn__ctx *c, const json_t *v, char *dst)
{
    return check_uri(c, v, dst, c->sc->transport, false, true);
}

/* The relay's WebSocket address (relay.uri in a ws form, or relay.ws_uri), given once. */
static int read_relay_ws(struct scn__ctx *c, const json_t *v, struct scenario *sc)
{
    static const char what[] = "ws://HOST:PORT/PATH, wss://... or an MSRP URI with ;ws";
    if (!json_is_string(v))
        return scn__expected(c, what, v, false);
    if (sc->relay.ws_uri[0] != '\0')
        return scn__fail(c, "the relay's WebSocket address is given twice (relay.uri is one "
                            "already: give the TCP address there)");
    char err[700];
    if (scenario_relay_set_ws(sc, json_string_value(v), err, sizeof err) != 0)
        return scn__fail(c, "%s", err);
    return 0;
}

/* relay.uri: the TCP (or TLS) address, or the WebSocket one in a ws form. Its scheme must
 * suit the ends over tcp or tls (transports are read before the relay). */
static int read_relay_uri(struct scn__ctx *c, const json_t *v, void *base)
{
    struct scenario *sc = base;
    if (json_is_string(v) && scenario_uri_is_ws(json_string_value(v)))
        return read_relay_ws(c, v, sc);
    int tcp_end = -1;
    for (int i = 1; i >= 0; i--)
        if (!scenario_transport_ws(sc->end_transport[i]))
            tcp_end = i;
    enum scenario_transport t = tcp_end >= 0 ? sc->end_transport[tcp_end] : SCENARIO_TCP;
    if (check_uri(c, v, sc->relay.uri, t, tcp_end < 0, false) != 0)
        return -1;
    scenario_relay_parse(sc);
    return 0;
}

static int read_relay_ws_uri(struct scn__ctx *c, const json_t *v, void *base)
{
    struct scenario *sc = base;
    if (json_is_string(v) && !scenario_uri_is_ws(json_string_value(v)))
        return scn__expected(c, "ws://HOST:PORT/PATH, wss://... or an MSRP URI with ;ws", v,
                             true);
    return read_relay_ws(c, v, sc);
}

/* topology.caller_transport / answerer_transport: one end's own (relay topology only). */
static int read_end_transport(struct scn__ctx *c, const json_t *v, struct scenario *sc, int end)
{
    static const char what[] = "one of \"tcp\", \"tls\", \"ws\", \"wss\"";
    if (sc->topology != SCENARIO_RELAY)
        return scn__fail(c, "only allowed when kind is \"relay\" (both ends are msrpload's "
                            "own only through a relay)");
    if (!json_is_string(v) ||
        scenario_transport_parse(json_string_value(v), &sc->end_transport[end]) != 0)
        return scn__expected(c, what, v, true);
    sc->end_transport_given[end] = true;
    return 0;
}

static int read_caller_transport(struct scn__ctx *c, const json_t *v, void *base)
{
    return read_end_transport(c, v, base, SCENARIO_CALLER);
}

static int read_answerer_transport(struct scn__ctx *c, const json_t *v, void *base)
{
    return read_end_transport(c, v, base, SCENARIO_ANSWERER);
}

static bool relay_user_valid(const char *user)
{
    return scenario_relay_user_ok(user, NULL);
}

/* A user name for AUTH: printable, no quote or backslash (it goes into a quoted digest
 * parameter), and at most one printf integer conversion (%d, %u or %0Nd) for --relay-users. */
bool scenario_relay_user_ok(const char *user, bool *has_pattern)
{
    unsigned conversions = 0;
    if (user[0] == '\0')
        return false;
    for (const char *p = user; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            return false;
        if (ch != '%')
            continue;
        if (p[1] == '%') {
            p++;
            continue;
        }
        p++;
        if (*p == '0')
            p++;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p != 'd' && *p != 'u')
            return false;
        conversions++;
    }
    if (has_pattern != NULL)
        *has_pattern = conversions == 1;
    return conversions <= 1;
}

void scenario_relay_user_format(const char *user, uint64_t account, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (const char *p = user; *p != '\0' && o + 1 < cap; p++) {
        if (*p != '%') {
            out[o++] = *p;
            continue;
        }
        if (p[1] == '%') {
            out[o++] = '%';
            p++;
            continue;
        }
        p++;
        bool zero = *p == '0';
        if (zero)
            p++;
        unsigned width = 0;
        while (*p >= '0' && *p <= '9' && width < 64)
            width = width * 10 + (unsigned)(*p++ - '0');
        while (*p >= '0' && *p <= '9')
            p++;
        /* *p is 'd' or 'u' (checked by the loader): the number, padded to width. */
        int n = snprintf(out + o, cap - o, zero ? "%0*llu" : "%*llu", (int)width,
                         (unsigned long long)account);
        if (n < 0)
            break;
        o += (size_t)n < cap - o ? (size_t)n : cap - o - 1;
    }
    out[o] = '\0';
}

static int check_relay(struct scn__ctx *c, const json_t *relay)
{
    static const char *const allowed[] = {"uri",     "ws_uri", "user", "users", "password_file",
                                          "expires", NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_CUSTOM("uri", read_relay_uri),
        SCN_KEY_CUSTOM("ws_uri", read_relay_ws_uri),
        SCN_KEY_STRING("user", struct scenario, relay.user, RELAY_USER_WHAT, false,
                       relay_user_valid),
        SCN_KEY_INT("users", struct scenario, relay.users, 1, UINT32_MAX),
        SCN_KEY_STRING("password_file", struct scenario, relay.password_file, FILE_WHAT, true,
                       NULL),
        SCN_KEY_INT("expires", struct scenario, relay.expires, 1, UINT32_MAX),
    };
    if (scn__need_object(c, relay) != 0 || scn__check_keys(c, relay, allowed) != 0)
        return -1;
    return SCN__READ_KEYS(c, relay, keys, c->sc);
}

static bool sip_uri_valid(const char *s)
{
    bool sips = strncmp(s, "sips:", 5) == 0;
    if (strncmp(s, "sip:", 4) != 0 && !sips)
        return false;
    /* the agents' transports: udp, tcp, tls (sips: is TLS, never UDP) */
    const char *t = strcasestr(s, ";transport=");
    if (t != NULL) {
        size_t n = strcspn(t + 11, ";?");
        bool udp = n == 3 && strncasecmp(t + 11, "udp", 3) == 0;
        if (n != 3 || (sips && udp) ||
            !(udp || strncasecmp(t + 11, "tcp", 3) == 0 || strncasecmp(t + 11, "tls", 3) == 0))
            return false;
    }
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '<' || *p == '>' ||
            *p == '"')
            return false;
    return true;
}

static bool sip_domain_valid(const char *s)
{
    for (const char *p = s; *p != '\0'; p++)
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == ':' || *p == '[' ||
              *p == ']'))
            return false;
    return true;
}

/* topology.sip: the SIP side of kind "sip" (topology_sip.c). */
static int check_sip(struct scn__ctx *c, const json_t *sip)
{
    static const char *const allowed[] = {"proxy",         "user",    "users",    "domain",
                                          "target",        "password_file", "ca_file",
                                          "insecure",      NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_STRING("proxy", struct scenario, sip.proxy,
                       "a SIP URI (sip:HOST:PORT, ;transport=udp, tcp or tls, or sips:)", true,
                       sip_uri_valid),
        SCN_KEY_STRING("user", struct scenario, sip.user, RELAY_USER_WHAT, true,
                       relay_user_valid),
        SCN_KEY_INT("users", struct scenario, sip.users, 1, 100000),
        SCN_KEY_STRING("domain", struct scenario, sip.domain, "a host name or address", true,
                       sip_domain_valid),
        SCN_KEY_STRING("target", struct scenario, sip.target, "a SIP URI (sip:USER@HOST:PORT)",
                       true, sip_uri_valid),
        SCN_KEY_STRING("password_file", struct scenario, sip.password_file, FILE_WHAT, true,
                       NULL),
        /* SIP over TLS: run_sip.c checks they go with a sips: or ;transport=tls URI */
        SCN_KEY_STRING("ca_file", struct scenario, sip.ca_file, FILE_WHAT, true, NULL),
        SCN_KEY_BOOL("insecure", struct scenario, sip.insecure),
    };
    if (scn__need_object(c, sip) != 0 || scn__check_keys(c, sip, allowed) != 0)
        return -1;
    return SCN__READ_KEYS(c, sip, keys, c->sc);
}

static int check_targets(struct scn__ctx *c, const json_t *targets)
{
    struct scenario *sc = c->sc;
    if (sc->topology != SCENARIO_TARGET)
        return scn__fail(c, "\"targets\" is only allowed when kind is \"target\"");
    const char *what = "an array of 1 to 64 MSRP URIs";
    if (!json_is_array(targets) || json_array_size(targets) == 0)
        return scn__expected(c, what, targets, false);
    if (json_array_size(targets) > SCENARIO_MAX_TARGETS)
        return scn__fail(c, "expected %s, got an array of %zu", what, json_array_size(targets));
    for (size_t idx = 0; idx < json_array_size(targets); idx++) {
        size_t mark = scn__path_push(c, "[%zu]", idx);
        if (check_target(c, json_array_get(targets, idx), sc->targets[idx]) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    sc->num_targets = (unsigned)json_array_size(targets);
    return 0;
}

int scn__check_topology(struct scn__ctx *c, const json_t *topo)
{
    static const char *const allowed[] = {"kind",    "transport",         "caller_transport",
                                          "answerer_transport", "targets", "ca_file",
                                          "relay",   "sip",             NULL};
    /* In the order of enum scenario_topology, and of enum scenario_transport. */
    static const char *const kinds[] = {"embedded", "target", "relay", "sip", NULL};
    static const char *const transports[] = {"tcp", "tls", "ws", "wss", NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_ENUM("kind", struct scenario, topology, kinds, NULL),
        SCN_KEY_ENUM("transport", struct scenario, transport, transports, NULL),
        SCN_KEY_CUSTOM("caller_transport", read_caller_transport),
        SCN_KEY_CUSTOM("answerer_transport", read_answerer_transport),
    };
    struct scenario *sc = c->sc;
    const json_t *v;
    size_t mark;

    if (scn__need_object(c, topo) != 0 || scn__check_keys(c, topo, allowed) != 0 ||
        SCN__READ_KEYS(c, topo, keys, sc) != 0)
        return -1;
    scenario_transports_settle(sc);

    if ((v = json_object_get(topo, "targets")) != NULL) {
        mark = scn__path_push(c, ".targets");
        if (check_targets(c, v) != 0)
            return -1;
        scn__path_pop(c, mark);
    } else if (sc->topology == SCENARIO_TARGET) {
        return scn__fail(c, "\"targets\" is required when kind is \"target\"");
    }

    if ((v = json_object_get(topo, "relay")) != NULL) {
        mark = scn__path_push(c, ".relay");
        if (sc->topology != SCENARIO_RELAY && sc->topology != SCENARIO_SIP)
            return scn__fail(c, "\"relay\" is only allowed when kind is \"relay\" or \"sip\"");
        if (check_relay(c, v) != 0)
            return -1;
        scn__path_pop(c, mark);
    }

    if ((v = json_object_get(topo, "sip")) != NULL) {
        mark = scn__path_push(c, ".sip");
        if (sc->topology != SCENARIO_SIP)
            return scn__fail(c, "\"sip\" is only allowed when kind is \"sip\"");
        if (check_sip(c, v) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    /* The SIP-signalled MSRP streams run over TCP or TLS (RFC 4975 section 8's TCP/MSRP and
     * TCP/TLS/MSRP); WebSocket ends are not offered by this topology. */
    if (sc->topology == SCENARIO_SIP && scenario_transport_ws(sc->transport))
        return scn__fail(c, "kind \"sip\" runs its MSRP sessions over \"tcp\" or \"tls\", "
                            "not \"%s\"", scenario_transport_name(sc->transport));

    if ((v = json_object_get(topo, "ca_file")) != NULL) {
        mark = scn__path_push(c, ".ca_file");
        /* The embedded endpoints' certificate is made for the run, so a CA file could only be
         * for target endpoints or a relay, and only TLS verifies anything. */
        if (sc->topology == SCENARIO_EMBEDDED || !sc->tls)
            return scn__fail(c, "\"ca_file\" is only allowed when kind is \"target\" or "
                                "\"relay\" and an end's transport is \"tls\" or \"wss\"");
        if (scn__copy_string(c, v, FILE_WHAT, sc->ca_file, sizeof sc->ca_file) != 0)
            return -1;
        if (sc->ca_file[0] == '\0')
            return scn__expected(c, FILE_WHAT, v, true);
        scn__path_pop(c, mark);
    }
    return 0;
}

/* ---- answer ------------------------------------------------------------------------------- */

/* ---- answer ------------------------------------------------------------------------------- */

/*
 * The session matches the Content-Type against each space-separated entry: "*" alone matches
 * anything, a "*" subtype any subtype of its type, anything else type and subtype exactly;
 * parameters are not compared, so an entry with them could never match.
 */
static bool accept_types_valid(const char *s)
{
    unsigned entries = 0;
    while (*s != '\0') {
        while (*s == ' ')
            s++;
        const char *end = s;
        while (*end != '\0' && *end != ' ')
            end++;
        if (end == s)
            break;
        size_t n = (size_t)(end - s);
        entries++;
        if (!(n == 1 && *s == '*')) {
            struct msrp_media_type mt;
            if (!msrp_media_type_parse(msrp_span_make(s, n), &mt) || mt.params.len != 0 ||
                msrp_span_eq(mt.type, MSRP_SPAN_LIT("*")))
                return false;
        }
        s = end;
    }
    return entries > 0;
}

static uint64_t seconds_to_ns(double s)
{
    return (uint64_t)llround(s * 1e9);
}


/* answer.delay: seconds, or a range of them to draw from. */
static int read_delay(struct scn__ctx *c, const json_t *v, void *base)
{
    struct scenario *sc = base;
    double lo, hi;

    if (json_is_number(v)) {
        if (json_number_value(v) < 0)
            return scn__expected(c, DELAY_WHAT, v, true);
        if (scn__get_seconds(c, v, true, &lo) != 0)
            return -1;
        sc->answer_delay_min_ns = sc->answer_delay_max_ns = seconds_to_ns(lo);
        return 0;
    }
    if (!json_is_object(v))
        return scn__expected(c, DELAY_WHAT, v, false);
    const json_t *vmin, *vmax;
    if (scn__get_min_max(c, v, &vmin, &vmax) != 0)
        return -1;
    size_t mark = scn__path_push(c, ".min");
    if (scn__get_seconds(c, vmin, true, &lo) != 0)
        return -1;
    scn__path_pop(c, mark);
    scn__path_push(c, ".max");
    if (scn__get_seconds(c, vmax, true, &hi) != 0)
        return -1;
    if (hi < lo) {
        char buf[SHOW_STRING_MAX * 6 + 8], buf2[SHOW_STRING_MAX * 6 + 8];
        return scn__fail(c, "expected a number of seconds >= min (%s), got %s",
                         scn__describe(vmin, true, buf, sizeof buf),
                         scn__describe(vmax, true, buf2, sizeof buf2));
    }
    scn__path_pop(c, mark);
    sc->answer_delay_min_ns = seconds_to_ns(lo);
    sc->answer_delay_max_ns = seconds_to_ns(hi);
    return 0;
}

/* A fraction 0..1 (of SEND chunks left unanswered). */
static int read_drop(struct scn__ctx *c, const json_t *v, void *base)
{
    struct scenario *sc = base;
    if (!json_is_number(v))
        return scn__expected(c, "a number 0..1", v, false);
    double d = json_number_value(v);
    if (!(d >= 0 && d <= 1))
        return scn__expected(c, "a number 0..1", v, true);
    sc->answer_drop = d;
    return 0;
}

int scn__check_answer(struct scn__ctx *c, const json_t *ans)
{
    static const char *const allowed[] = {"status", "accept_types",       "max_message", "delay",
                                          "drop",   "reject_after_bytes", "check_sha256",
                                          "accept_wrapped_types", NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_INT("status", struct scenario, answer_status, 200, 999),
        SCN_KEY_STRING("accept_types", struct scenario, accept_types, ACCEPT_WHAT, false,
                       accept_types_valid),
        SCN_KEY_INT("max_message", struct scenario, max_message, 1, INT_NO_MAX),
        SCN_KEY_CUSTOM("delay", read_delay),
        SCN_KEY_CUSTOM("drop", read_drop),
        SCN_KEY_INT("reject_after_bytes", struct scenario, answer_reject_after, 1, INT_NO_MAX),
        SCN_KEY_BOOL("check_sha256", struct scenario, answer_check_sha256),
        SCN_KEY_STRING("accept_wrapped_types", struct scenario, accept_wrapped_types,
                       ACCEPT_WHAT, false, accept_types_valid),
    };
    if (scn__need_object(c, ans) != 0 || scn__check_keys(c, ans, allowed) != 0)
        return -1;
    return SCN__READ_KEYS(c, ans, keys, c->sc);
}

bool scenario_target_format(const char *uri, uint64_t n, char *out, size_t cap)
{
    bool has_pattern = false;
    if (strchr(uri, '%') == NULL || !scenario_relay_user_ok(uri, &has_pattern) || !has_pattern) {
        snprintf(out, cap, "%s", uri);
        return false;
    }
    scenario_relay_user_format(uri, n, out, cap);
    return true;
}
