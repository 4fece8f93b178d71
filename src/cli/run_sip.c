/*
 * run_sip.c - run's SIP options (run_sip.h): each session set up by SIP through a proxy
 * (topology sip, src/load/topology_sip.c). The options follow the relay's conventions: a user
 * pattern with one %d or %0Nd spread over --sip-users accounts, the password from a file or
 * the environment, never from the command line.
 *
 * Over SIP TLS (a sips: or ;transport=tls URI) the proxy's certificate is verified against
 * --sip-ca FILE unless --sip-insecure says not to: one of the two must be given.
 *
 * Owns: the options' parsing, their checks against the scenario, the password's reading, the
 * SIP TLS contexts' making, their --help lines. May not touch: the sessions (load/), the scenario's loading (scenario/).
 */
#include "cli/run_sip.h"
#include "sip/transport.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "net/tls.h"

#define SIP_USERS_MAX 100000u

void run_sip_usage(FILE *out)
{
    fprintf(out,
            "  --sip-proxy URI      set up every session by SIP through this outbound proxy and\n"
            "                       registrar (sip:HOST:PORT, ;transport=tcp for TCP,\n"
            "                       ;transport=tls or sips:HOST:PORT for TLS; UDP otherwise);\n"
            "                       switches the topology to sip: each worker's\n"
            "                       answering agents REGISTER there, its calling agents INVITE\n"
            "                       them with an MSRP offer and BYE at the session's end; with\n"
            "                       --relay both ends AUTH with the relay first and the\n"
            "                       sessions run through it (a=path relay first, CEMA offered)\n"
            "  --sip-user PATTERN   the SIP users (AOR user and digest name); may hold one %%d\n"
            "                       or %%0Nd (e.g. sip%%04d)\n"
            "  --sip-users N        users 0..N-1 of the pattern, split among the threads (each\n"
            "                       worker registers its own: N >= --threads)\n"
            "  --sip-password-file FILE\n"
            "                       the users' password, on the first line of FILE (or set\n"
            "                       MSRPLOAD_SIP_PASSWORD)\n"
            "  --sip-domain D       the users' domain (default: the proxy's host)\n"
            "  --sip-target URI     INVITE this SIP URI instead of users of our own: an\n"
            "                       external service that answers with its own MSRP end (no\n"
            "                       answering agents, no REGISTER; with --sip-proxy the\n"
            "                       INVITEs go through it, else straight to URI's host)\n"
            "  --sip-ca FILE        SIP over TLS: verify the proxy's (or target's) certificate\n"
            "                       against the CA certificates in FILE (PEM), and that it\n"
            "                       names the URI's host; a failed check fails each REGISTER\n"
            "                       and INVITE, and the run, naming the TLS error\n"
            "  --sip-insecure       SIP over TLS: do not verify the certificate (one of the\n"
            "                       two is required with a sips: or ;transport=tls URI); the\n"
            "                       answering agents' own certificate is made for the run\n");
}

static bool sip_uri_ok(const char *s)
{
    size_t skip = strncmp(s, "sips:", 5) == 0 ? 5 : 4;
    if ((skip == 4 && strncmp(s, "sip:", 4) != 0) || s[skip] == '\0')
        return false;
    /* the transports run's agents have: udp, tcp, tls (sips: over TCP means TLS too) */
    const char *t = strcasestr(s, ";transport=");
    if (t != NULL) {
        size_t n = strcspn(t + 11, ";?>");
        bool known = n == 3 && (strncasecmp(t + 11, "udp", 3) == 0 ||
                                strncasecmp(t + 11, "tcp", 3) == 0 ||
                                strncasecmp(t + 11, "tls", 3) == 0);
        if (!known || (skip == 5 && strncasecmp(t + 11, "udp", 3) == 0))
            return false;
    }
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '<' || *p == '>' ||
            *p == '"')
            return false;
    return true;
}

int run_sip_option(struct run_sip_options *o, const char *opt, const char *v, char *err,
                   size_t errlen)
{
    if (strncmp(opt, "--sip-", 6) != 0)
        return 0;
    if (strcmp(opt, "--sip-insecure") == 0) {
        o->insecure = true;
        return 2;
    }
    if (v == NULL) {
        snprintf(err, errlen, "%s needs a value", opt);
        return -1;
    }
    if (strcmp(opt, "--sip-proxy") == 0 || strcmp(opt, "--sip-target") == 0) {
        if (!sip_uri_ok(v) || strlen(v) >= 400) {
            snprintf(err, errlen, "%s %s: expected a SIP URI such as sip:127.0.0.1:5060, "
                     "sip:127.0.0.1:5060;transport=tcp or sips:127.0.0.1:5061 (transports: "
                     "udp, tcp, tls)", opt, v);
            return -1;
        }
        if (opt[6] == 'p')
            o->proxy = v;
        else
            o->target = v;
        return 1;
    }
    if (strcmp(opt, "--sip-user") == 0) {
        if (!scenario_relay_user_ok(v, NULL) || strlen(v) >= 100) {
            snprintf(err, errlen, "--sip-user %s: expected a user name (printable, no quotes, "
                     "at most one %%d or %%0Nd, under 100 characters)", v);
            return -1;
        }
        o->user = v;
        return 1;
    }
    if (strcmp(opt, "--sip-users") == 0) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < 1 ||
            n > SIP_USERS_MAX) {
            snprintf(err, errlen, "--sip-users %s: expected a whole number from 1 to %u", v,
                     SIP_USERS_MAX);
            return -1;
        }
        o->users = n;
        return 1;
    }
    if (strcmp(opt, "--sip-domain") == 0) {
        bool ok = v[0] != '\0' && strlen(v) < 200;
        for (const char *p = v; *p != '\0' && ok; p++)
            ok = isalnum((unsigned char)*p) || strchr(".-:[]", *p) != NULL;
        if (!ok) {
            snprintf(err, errlen, "--sip-domain %s: expected a host name or address", v);
            return -1;
        }
        o->domain = v;
        return 1;
    }
    if (strcmp(opt, "--sip-password-file") == 0) {
        o->password_file = v;
        return 1;
    }
    if (strcmp(opt, "--sip-ca") == 0) {
        if (v[0] == '\0' || strlen(v) >= 500) {
            snprintf(err, errlen, "--sip-ca %s: expected a PEM file of CA certificates", v);
            return -1;
        }
        o->ca_file = v;
        return 1;
    }
    return 0;
}

bool run_sip_tls(const struct scenario *sc)
{
    const char *via = sc->sip.proxy[0] ? sc->sip.proxy : sc->sip.target;
    const char *t = strcasestr(via, ";transport=");
    return strncasecmp(via, "sips:", 5) == 0 || (t != NULL && strncasecmp(t + 11, "tls", 3) == 0);
}

/* SIP over TLS verifies the proxy unless told not to (MSRP's ca_file is optional, but a SIP
 * user's digest goes over this connection: not checking must be asked for). */
static int sip_tls_check(const struct scenario *sc, char *err, size_t errlen)
{
    const char *via = sc->sip.proxy[0] ? sc->sip.proxy : sc->sip.target;
    const char *which = sc->sip.proxy[0] ? "--sip-proxy" : "--sip-target";
    bool ca = sc->sip.ca_file[0] != '\0';
    if (!run_sip_tls(sc)) {
        if (ca || sc->sip.insecure) {
            snprintf(err, errlen, "%s: the SIP %s %s is not SIP over TLS (sips: or "
                     ";transport=tls), so there is no certificate to verify",
                     ca ? "--sip-ca (or topology.sip.ca_file)"
                        : "--sip-insecure (or topology.sip.insecure)",
                     sc->sip.proxy[0] ? "proxy" : "target", via);
            return -1;
        }
        return 0;
    }
    if (ca && sc->sip.insecure) {
        snprintf(err, errlen, "--sip-ca %s and --sip-insecure (or topology.sip's ca_file and "
                 "insecure in %s): give one (verify the SIP proxy's certificate against the "
                 "file, or do not verify it)", sc->sip.ca_file, sc->path);
        return -1;
    }
    if (!ca && !sc->sip.insecure) {
        snprintf(err, errlen, "%s %s is SIP over TLS: give --sip-ca FILE to verify its "
                 "certificate (tools/sip/start.sh prints its own as SIP_CERT), or --sip-insecure "
                 "not to verify it (topology.sip's ca_file or insecure in the scenario)", which,
                 via);
        return -1;
    }
    return 0;
}

int run_sip_apply(struct scenario *sc, const struct run_sip_options *o, char *err,
                  size_t errlen)
{
    bool any = o->proxy || o->user || o->domain || o->target || o->password_file || o->users ||
               o->ca_file || o->insecure;
    if (any) {
        /* kind "relay" (the file's, or --relay's) becomes sip through that relay */
        if (sc->topology == SCENARIO_TARGET) {
            snprintf(err, errlen, "--sip-* options set sessions up by SIP; %s's topology is "
                     "\"target\" (--target does not go with them)", sc->path);
            return -1;
        }
        sc->topology = SCENARIO_SIP;
    }
    if (sc->topology != SCENARIO_SIP)
        return 0;
    if (o->proxy)
        snprintf(sc->sip.proxy, sizeof(sc->sip.proxy), "%s", o->proxy);
    if (o->target)
        snprintf(sc->sip.target, sizeof(sc->sip.target), "%s", o->target);
    if (o->user)
        snprintf(sc->sip.user, sizeof(sc->sip.user), "%s", o->user);
    if (o->domain)
        snprintf(sc->sip.domain, sizeof(sc->sip.domain), "%s", o->domain);
    if (o->users)
        sc->sip.users = (uint32_t)o->users;
    /* the command line's choice replaces the scenario's (both on it: sip_tls_check says) */
    if (o->ca_file || o->insecure) {
        snprintf(sc->sip.ca_file, sizeof(sc->sip.ca_file), "%s", o->ca_file ? o->ca_file : "");
        sc->sip.insecure = o->insecure;
    }
    if (sc->sip.proxy[0] == '\0' && sc->sip.target[0] == '\0') {
        snprintf(err, errlen, "the sip topology needs a proxy (--sip-proxy URI or "
                 "topology.sip.proxy in %s), or a --sip-target URI", sc->path);
        return -1;
    }
    if (sc->sip.user[0] == '\0') {
        snprintf(err, errlen, "the sip topology needs its users: --sip-user PATTERN (e.g. "
                 "sip%%04d with --sip-users N) or topology.sip.user in %s", sc->path);
        return -1;
    }
    if (sip_tls_check(sc, err, errlen) != 0)
        return -1;
    /* Where the number of users came from, for the errors about it. */
    char users_from[300];
    if (o->users)
        snprintf(users_from, sizeof(users_from), "--sip-users %u", (unsigned)sc->sip.users);
    else
        snprintf(users_from, sizeof(users_from), "%.200s: topology.sip.users %u", sc->path,
                 (unsigned)sc->sip.users);
    bool pattern = false;
    scenario_relay_user_ok(sc->sip.user, &pattern);
    if (sc->sip.users > 1 && !pattern) {
        snprintf(err, errlen, "%s: the user %s has no %%d or %%0Nd to number them", users_from,
                 sc->sip.user);
        return -1;
    }
    /* The proxy's host resolves here, not in each worker (which would only exit 1). */
    struct sip_addr proxy_addr;
    if (sc->sip.proxy[0] != '\0' && sip_addr_from_uri(&proxy_addr, sc->sip.proxy) != 0) {
        snprintf(err, errlen, "%s%.200s %s: not a SIP URI whose host resolves", o->proxy ? "" : sc->path,
                 o->proxy ? "--sip-proxy" : ": topology.sip.proxy", sc->sip.proxy);
        return -1;
    }
    if (scenario_transport_ws(sc->transport)) {
        snprintf(err, errlen, "the sip topology runs its MSRP sessions over tcp or tls, not %s",
                 scenario_transport_name(sc->transport));
        return -1;
    }
    if (scenario_has_relay(sc)) {
        /* Through a relay both ends are ours, over the relay's TCP (or TLS) address. */
        if (sc->sip.target[0] != '\0') {
            snprintf(err, errlen, "--sip-target %s and the relay %s: through a relay both ends "
                     "are msrpload's own (AUTH each), so the sip topology calls its own users "
                     "through --sip-proxy", sc->sip.target, sc->relay.uri);
            return -1;
        }
        for (int i = 0; i < 2; i++)
            if (scenario_transport_ws(sc->end_transport[i]) || sc->relay.uri[0] == '\0') {
                snprintf(err, errlen, "the sip topology through a relay runs both ends over tcp "
                         "or tls to the relay's msrp:// or msrps:// address (--relay URI or "
                         "topology.relay.uri), not over a WebSocket");
                return -1;
            }
    }
    /* Each worker registers users of its own (two workers binding one AOR would have the
     * proxy fork every INVITE to both). */
    uint64_t users = sc->sip.users > 0 ? sc->sip.users : 1;
    uint64_t threads = sc->threads < sc->concurrency ? sc->threads : sc->concurrency;
    /* With --shard each shard plays its slice of the users (topology_sip.c sip_init): this
     * shard's must cover its threads. */
    uint64_t slice = users;
    if (o->shard_count > 1 && o->shard_index >= 1)
        slice = users * o->shard_index / o->shard_count -
                users * (o->shard_index - 1) / o->shard_count;
    if (sc->sip.target[0] == '\0' && slice < threads) {
        if (o->shard_count > 1)
            snprintf(err, errlen, "%s: shard %u/%u plays %llu of the SIP users, for %llu "
                     "threads: each worker registers users of its own, so give at least %llu "
                     "users per shard (or fewer --threads)", users_from, o->shard_index,
                     o->shard_count, (unsigned long long)slice, (unsigned long long)threads,
                     (unsigned long long)threads);
        else
            snprintf(err, errlen, "%s: %llu SIP user%s for %llu threads: each worker registers "
                     "users of its own, so give --sip-users %llu or more (or --threads %llu)",
                     users_from, (unsigned long long)users, users == 1 ? "" : "s",
                     (unsigned long long)threads, (unsigned long long)threads,
                     (unsigned long long)users);
        return -1;
    }
    return 0;
}

json_t *run_sip_config_json(const struct scenario *sc)
{
    bool tls = run_sip_tls(sc);
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:b, s:s, s:b}", "proxy", sc->sip.proxy, "user",
                     sc->sip.user, "users", (json_int_t)sc->sip.users, "domain", sc->sip.domain,
                     "target", sc->sip.target, "tls", tls, "ca_file", sc->sip.ca_file,
                     "tls_verified", tls && !sc->sip.insecure);
}

int run_sip_tls_setup(const struct scenario *sc, struct net_tls **client, struct net_tls **server)
{
    *client = *server = NULL;
    if (sc->topology != SCENARIO_SIP || !run_sip_tls(sc))
        return 0;
    char err[512], dir[] = "/tmp/msrpload-sip-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "msrpload run: cannot create a temporary directory: %s\n",
                strerror(errno));
        return -1;
    }
    /* the answering agents' listener: the proxy opens TLS to their Contact */
    char cert[64], key[64];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    int e = net_tls_make_self_signed(cert, key, "localhost", err, sizeof(err));
    if (e == 0)
        e = net_tls_server_create(server, cert, key, NULL, err, sizeof(err));
    unlink(cert);
    unlink(key);
    rmdir(dir);
    if (e == 0)
        e = net_tls_client_create(client, sc->sip.insecure ? NULL : sc->sip.ca_file, NULL, NULL,
                                  err, sizeof(err));
    if (e != 0) {
        fprintf(stderr, "msrpload run: SIP over TLS%s%s: %s\n",
                *server != NULL && !sc->sip.insecure ? ", --sip-ca " : "",
                *server != NULL && !sc->sip.insecure ? sc->sip.ca_file : "", err);
        net_tls_destroy(*server);
        *server = NULL;
        return -1;
    }
    return 0;
}

int run_sip_password(const struct scenario *sc, const struct run_sip_options *o, char *out,
                     size_t cap)
{
    const char *file = o->password_file;
    const char *env = getenv("MSRPLOAD_SIP_PASSWORD");
    if (file == NULL && env != NULL && env[0] != '\0') {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    if (file == NULL && sc->sip.password_file[0] != '\0')
        file = sc->sip.password_file;
    if (file == NULL) {
        fprintf(stderr, "msrpload run: the SIP users need a password: --sip-password-file FILE, "
                        "or MSRPLOAD_SIP_PASSWORD in the environment\n");
        return -1;
    }
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        fprintf(stderr, "msrpload run: SIP password file %s: %s\n", file, strerror(errno));
        return -1;
    }
    bool got = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    out[got ? strcspn(out, "\r\n") : 0] = '\0';
    if (out[0] == '\0') {
        fprintf(stderr, "msrpload run: SIP password file %s: the first line is empty\n", file);
        return -1;
    }
    return 0;
}
