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

/* A URI for --target or --relay: MSRP, short enough to be kept whole, and over TCP: RFC 4975
 * section 6 specifies MSRP over TCP only (URIs designating it MUST include the "tcp" transport
 * parameter); this tool speaks nothing else, so another transport would be used as TCP. */
static bool tcp_uri_ok(const char *opt, const char *v, char *err, size_t errlen)
{
    struct msrp_uri u;
    enum msrp_uri_error e = msrp_uri_parse(v, strlen(v), &u);
    if (e != MSRP_URI_OK) {
        snprintf(err, errlen, "%s %s: not an MSRP URI (%s)", opt, v, msrp_uri_error_text(e));
        return false;
    }
    if (strlen(v) >= sizeof(((struct scenario *)NULL)->targets[0])) {
        snprintf(err, errlen, "%s: a URI of at most %zu bytes, got %zu", opt,
                 sizeof(((struct scenario *)NULL)->targets[0]) - 1, strlen(v));
        return false;
    }
    if (!msrp_span_eq_nocase(u.transport, MSRP_SPAN_LIT("tcp"))) {
        snprintf(err, errlen, "%s %s: the transport must be tcp (;tcp), got ;%.*s", opt, v,
                 (int)u.transport.len, u.transport.ptr);
        return false;
    }
    return true;
}

static int add_target(struct scenario_overrides *o, const char *v, char *err, size_t errlen)
{
    if (!tcp_uri_ok("--target", v, err, errlen))
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
    else if (strcmp(opt, "--relay-user") == 0)
        o->relay_user = v, rc = 0;
    else if (strcmp(opt, "--relay-users") == 0)
        rc = parse_u64(opt, v, 1, UINT32_MAX, &o->relay_users, err, errlen);
    else if (strcmp(opt, "--relay-expires") == 0)
        rc = parse_u64(opt, v, 1, UINT32_MAX, &o->relay_expires, err, errlen);
    else if (strcmp(opt, "--target") == 0)
        rc = add_target(o, v, err, errlen);
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

/* --relay, --relay-user, --relay-users and --relay-expires over the file's relay; checked
 * together, and the URI kept parsed. */
static int apply_relay(struct scenario *sc, const struct scenario_overrides *o, char *err,
                       size_t errlen)
{
    if (o->relay_uri != NULL) {
        if (!tcp_uri_ok("--relay", o->relay_uri, err, errlen))
            return -1;
        sc->topology = SCENARIO_RELAY;
        snprintf(sc->relay.uri, sizeof(sc->relay.uri), "%s", o->relay_uri);
        scenario_relay_parse(sc);
        sc->tls = sc->relay.parsed.secure;
    }
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
    if (sc->topology != SCENARIO_RELAY) {
        if (o->relay_user != NULL || o->relay_users > 0 || o->relay_expires > 0) {
            snprintf(err, errlen, "--relay-user, --relay-users and --relay-expires need a relay "
                                  "(--relay URI or topology kind \"relay\")");
            return -1;
        }
        return 0;
    }
    if (sc->relay.uri[0] == '\0') {
        snprintf(err, errlen, "%s: the relay topology needs --relay URI (or "
                              "topology.relay.uri)", sc->path);
        return -1;
    }
    if (sc->relay.parsed.secure != sc->tls) {
        snprintf(err, errlen, "relay %s: the scenario's transport is %s", sc->relay.uri,
                 sc->tls ? "tls (msrps)" : "tcp (msrp)");
        return -1;
    }
    return check_relay_user(sc, o, err, errlen);
}

/* Share `index` (1-based) of `total` split `count` ways; the first shards take the remainder. */
static uint64_t shard_share(uint64_t total, unsigned index, unsigned count)
{
    return total / count + (index - 1 < total % count);
}

int scenario_apply_overrides(struct scenario *sc, const struct scenario_overrides *o, char *err,
                             size_t errlen)
{
    if (apply_load(sc, o, err, errlen) != 0)
        return -1;
    if (o->num_targets > 0 && o->relay_uri != NULL) {
        snprintf(err, errlen, "--target and --relay exclude each other");
        return -1;
    }
    if (apply_relay(sc, o, err, errlen) != 0)
        return -1;
    if (o->num_targets > 0) {
        sc->topology = SCENARIO_TARGET;
        sc->num_targets = o->num_targets;
        for (unsigned t = 0; t < o->num_targets; t++) {
            snprintf(sc->targets[t], sizeof(sc->targets[t]), "%s", o->targets[t]);
            if ((strncmp(o->targets[t], "msrps:", 6) == 0) != sc->tls) {
                snprintf(err, errlen, "--target %s: the scenario's transport is %s",
                         o->targets[t], sc->tls ? "tls (msrps)" : "tcp (msrp)");
                return -1;
            }
        }
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
    }
    return 0;
}
