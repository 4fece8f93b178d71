/*
 * serve_options.c - the command line of `msrpload serve`: its --help, each option read and
 * bounded, how the options combine, the listening address (split and resolved, not opened)
 * and the session ids.
 *
 * Owns: the options' syntax, their bounds and defaults, and every usage error (--sip's URI
 * and password file included). May not touch:
 * anything that runs (the log file, TLS, the listener and the sessions are serve.c's) or any
 * protocol rule (msrp/ says which --violate names exist; this file only asks).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/serve.h"
#include "msrp/session.h"
#include "net/conn.h"
#include "scenario/scenario.h"

#define SERVE_MAX_SESSIONS 100000
#define SERVE_MIN_LOG_BYTES 1024
#define SERVE_IDLE_TIMEOUT_S 300.0
#define SERVE_STALL_TIMEOUT_S 60.0
#define SERVE_FIRST_REQUEST_TIMEOUT_S 30.0
#define SERVE_SIP_MAX_CALLS 1000
#define SERVE_SIP_BIND_TIMEOUT_S 30.0
#define SERVE_SIP_EXPIRES_S 600

static void serve_usage(FILE *out)
{
    fprintf(out,
            "usage: msrpload serve --listen HOST:PORT [--session-id ID ...] [--sessions N]\n"
            "                      [--tls [--cert FILE --key FILE]] [--ws] [--accept-types LIST]\n"
            "                      [--accept-wrapped-types LIST] [--no-imdn]\n"
            "                      [--bind-timeout S] [--uri-host HOST] [--log FILE]\n"
            "                      [--log-max-bytes N] [--log-level all|sessions|problems]\n"
            "                      [--idle-timeout S] [--stall-timeout S]\n"
            "                      [--first-request-timeout S] [--max-extents N]\n"
            "                      [--sip URI [--sip-user USER] [--sip-max-calls N]\n"
            "                       [--sip-bind-timeout S] [--sip-register URI\n"
            "                       --sip-password-file FILE [--sip-expires S]]]\n"
            "\n"
            "Runs an answering MSRP endpoint (RFC 4975) for your own client or relay to talk to,\n"
            "and checks what that peer does. First it prints the URI of each session it answers,\n"
            "one per line (msrp://HOST:PORT/ID;tcp, msrps:// with --tls, ID;ws with --ws); give\n"
            "one of them to your client as the To-Path. The first request on a session binds the\n"
            "peer whose From-Path it carries. After a session ends, the same URI is expected\n"
            "again, so the client may reconnect.\n"
            "\n"
            "With --sip, serve is also a SIP user agent that answers calls: each INVITE whose SDP\n"
            "offers an MSRP stream (RFC 4975 section 8) is answered 200 with an a=path of its own\n"
            "on the --listen socket, a fresh session id per call, and that session is served like\n"
            "the others; the caller's MSRP connection must carry the offer's path as From-Path.\n"
            "A BYE from the caller closes the session; the session's end sends a BYE.\n"
            "\n"
            "options:\n"
            "  --listen HOST:PORT   address to listen on; IPv6 as [::1]:PORT; port 0 picks a free\n"
            "                       port (the URIs show the real one)\n"
            "  --session-id ID      a session to answer (may repeat; session-id characters of\n"
            "                       RFC 4975 section 9)\n"
            "  --sessions N         answer N sessions in all: the --session-id ones, then random\n"
            "                       ids (default: one random id when no --session-id is given)\n"
            "                       A lone --session-id with one %%d, %%u or %%0Nd (s%%d) names\n"
            "                       them all instead: s0 to s<N-1>, as run --target fills in\n"
            "                       msrp://HOST:PORT/s%%d;tcp\n"
            "  --tls                msrps: TLS on the listening socket; without --cert/--key a\n"
            "                       self-signed certificate is made in a temporary folder\n"
            "  --ws                 WebSocket (RFC 7977): clients upgrade with the subprotocol\n"
            "                       msrp (any request path); wss with --tls. serve is then a test\n"
            "                       peer for WebSocket clients, not the relay RFC 7977 describes\n"
            "  --cert FILE, --key FILE\n"
            "                       the server certificate and private key (PEM)\n"
            "  --accept-types LIST  media types accepted, separated by spaces or commas\n"
            "                       (\"text/plain image/*\"); others get 415 (default \"*\")\n"
            "  --accept-wrapped-types LIST\n"
            "                       media types accepted only inside message/cpim (RFC 4975\n"
            "                       section 8.6); a CPIM message wrapping a type in neither list\n"
            "                       is a violation (kind cpim). Each message/cpim message is\n"
            "                       checked (RFC 3862, RFC 5438) and, when it asks for\n"
            "                       positive-delivery, answered with a delivery notification\n"
            "                       (message/imdn+xml inside message/cpim) on the same session\n"
            "  --no-imdn            check CPIM but never send a delivery notification (a peer\n"
            "                       that does not notify)\n"
            "  --bind-timeout S     a session that nobody binds within S seconds of the start is\n"
            "                       given up (a bind-timeout line); when every session has been\n"
            "                       given up, serve exits 1 (default 0: wait forever)\n"
            "  --uri-host HOST      host written in the URIs (default: the --listen host; useful\n"
            "                       when listening on 0.0.0.0 or ::)\n"
            "  --metrics-listen HOST:PORT\n"
            "                       serve live Prometheus metrics (sessions bound, open and\n"
            "                       ended, messages, bytes, REPORTs, violations; docs/metrics.md)\n"
            "                       at http://HOST:PORT/metrics; port 0 picks a free one\n"
            "                       (printed on standard error)\n"
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
            "  --sip URI            answer SIP calls on URI: sip:HOST:PORT (UDP) or\n"
            "                       sip:HOST:PORT;transport=tcp, HOST numeric, port 0 picks a\n"
            "                       free one; sip:USER@HOST:PORT sets the user. Its Contact\n"
            "                       (sip:USER@HOST:PORT...) is printed before the session URIs,\n"
            "                       and no session is answered but the calls' unless\n"
            "                       --session-id or --sessions asks. An offer serve cannot take\n"
            "                       (no MSRP stream, no accept-type in common, TCP/TLS/MSRP\n"
            "                       without --tls or the other way round) gets 488; an offer\n"
            "                       with a=setup:passive makes serve connect to the caller\n"
            "                       (numeric hosts only: a name gets 488); serve's msrps\n"
            "                       connections do not verify the peer's certificate; an\n"
            "                       a=msrp-cema offer is answered with CEMA (RFC 6714). A call's\n"
            "                       session accepts the types its answer negotiated. With\n"
            "                       --listen 0.0.0.0 or [::] it needs --uri-host. Not with\n"
            "                       --ws; no SIP over TLS\n"
            "  --sip-user USER      the user part of the agent's address (default: the URI's,\n"
            "                       else msrpload)\n"
            "  --sip-max-calls N    calls at once; one more gets 486 (default 1000)\n"
            "  --sip-bind-timeout S a call whose MSRP session nobody binds within S seconds\n"
            "                       of its 200 is ended with BYE (default 30; when serve\n"
            "                       connects, the session's own connect and response\n"
            "                       timeouts apply)\n"
            "  --sip-register URI   REGISTER sip:USER@HOST with the registrar at URI (e.g.\n"
            "                       sip:127.0.0.1:5060), answering its digest challenge, and\n"
            "                       refresh it at half the granted time; unregistered on exit.\n"
            "                       Needs --sip-user and --sip-password-file\n"
            "  --sip-password-file FILE\n"
            "                       the digest password: the file's first line\n"
            "  --sip-expires S      the registration time asked for (default 600)\n"
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
            "                malformed-first-request, chunks-in-order; cpim: a message/cpim\n"
            "                body or its IMDN breaking RFC 3862, 5438 or 4975 8.6) and detail; and\n"
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
            "  bind-timeout  nobody bound the session within --bind-timeout (for a call's\n"
            "                session: --sip-bind-timeout)\n"
            "With --sip, lines about calls (\"session\": the call's session URI, null before\n"
            "it has one), each with call_id:\n"
            "  call-incoming an INVITE: from (its From URI)\n"
            "  call-answered the 200 sent: path (our a=path), peer_path (the caller's),\n"
            "                role (passive: we wait for the caller's connection; active: we\n"
            "                connect), cema, accept_types (the answer's)\n"
            "  call-established the ACK came\n"
            "  call-ended    the call is over: why (local_bye, remote_bye, rejected,\n"
            "                cancelled, timeout, no_ack, error), status (the final or BYE\n"
            "                response's code) and reason\n"
            "  register      the registrar answered a REGISTER: registrar, aor, status and\n"
            "                expires (0 when refused or unregistered)\n"
            "\n"
            "SIGINT or SIGTERM closes the sessions, prints a summary on standard error and\n"
            "exits 0.\n"
            "exit codes: 0 stopped by a signal, 1 failure (every session given up), 2 usage error\n"
            "            (bad option or address), 3 cannot listen on the address (--listen,\n"
            "            --metrics-listen or --sip)\n");
}

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

/* A whole number from 1 to max. */
static bool parse_count(const char *v, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < 1 || n > max)
        return false;
    *out = n;
    return true;
}

static bool parse_log_level(const char *v, enum log_level *out)
{
    if (strcmp(v, "all") == 0)
        *out = LOG_ALL;
    else if (strcmp(v, "sessions") == 0)
        *out = LOG_SESSIONS;
    else if (strcmp(v, "problems") == 0)
        *out = LOG_PROBLEMS;
    else
        return false;
    return true;
}

int serve_usage_error(const char *fmt, const char *arg)
{
    fputs("msrpload serve: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n\n", stderr);
    serve_usage(stderr);
    return EXIT_USAGE;
}

/* The options without a value (each sets its flag) and those whose value is kept as given. */
struct named_field {
    const char *name;
    size_t off; /* in struct serve_opts */
};

static const struct named_field FLAGS[] = {
    {"--tls", offsetof(struct serve_opts, tls)},
    {"--ws", offsetof(struct serve_opts, ws)},
    {"--alt", offsetof(struct serve_opts, alt)},
    {"--no-imdn", offsetof(struct serve_opts, no_imdn)},
};

static const struct named_field TEXTS[] = {
    {"--listen", offsetof(struct serve_opts, listen)},
    {"--cert", offsetof(struct serve_opts, cert)},
    {"--key", offsetof(struct serve_opts, key)},
    {"--accept-types", offsetof(struct serve_opts, accept_types)},
    {"--accept-wrapped-types", offsetof(struct serve_opts, accept_wrapped_types)},
    {"--log", offsetof(struct serve_opts, log)},
    /* checked as it is opened (serve.c): one parser, metrics_http.c */
    {"--metrics-listen", offsetof(struct serve_opts, metrics_listen)},
    {"--uri-host", offsetof(struct serve_opts, uri_host)},
    {"--sip", offsetof(struct serve_opts, sip)},
    {"--sip-user", offsetof(struct serve_opts, sip_user)},
    {"--sip-register", offsetof(struct serve_opts, sip_register)},
    {"--sip-password-file", offsetof(struct serve_opts, sip_password_file)},
};

/*
 * Reads the option at argv[*i], and its value (advancing *i), into o. Returns -1 to go on, or
 * the exit code to stop with (--help, a usage error).
 */
static int read_option(int argc, char **argv, int *i, struct serve_opts *o)
{
    bool missing = false;
    const char *v;
    if (strcmp(argv[*i], "--help") == 0 || strcmp(argv[*i], "-h") == 0) {
        serve_usage(stdout);
        return EXIT_OK;
    }
    for (size_t k = 0; k < sizeof FLAGS / sizeof FLAGS[0]; k++)
        if (strcmp(argv[*i], FLAGS[k].name) == 0) {
            *(bool *)((char *)o + FLAGS[k].off) = true;
            return -1;
        }
    for (size_t k = 0; k < sizeof TEXTS / sizeof TEXTS[0]; k++)
        if ((v = opt_value(argc, argv, i, TEXTS[k].name, &missing)) != NULL) {
            *(const char **)((char *)o + TEXTS[k].off) = v;
            return -1;
        }
    if ((v = opt_value(argc, argv, i, "--session-id", &missing)) != NULL) {
        o->ids[o->nids++] = v;
    } else if ((v = opt_value(argc, argv, i, "--sessions", &missing)) != NULL) {
        if (!parse_count(v, SERVE_MAX_SESSIONS, &o->sessions))
            return serve_usage_error("--sessions wants a number from 1 to 100000, not '%s'", v);
    } else if ((v = opt_value(argc, argv, i, "--violate", &missing)) != NULL) {
        /* Not in --help: it makes serve break one RFC rule on purpose, for the tests that
         * prove each conformance case can fail (msrp_session_violations lists them). */
        if (!msrp_session_violation_known(v))
            return serve_usage_error("--violate: unknown violation '%s'", v);
        o->violate = v;
    } else if ((v = opt_value(argc, argv, i, "--idle-timeout", &missing)) != NULL) {
        if (!parse_seconds(v, &o->idle_timeout))
            return serve_usage_error("--idle-timeout wants seconds (0 or more), not '%s'", v);
    } else if ((v = opt_value(argc, argv, i, "--stall-timeout", &missing)) != NULL) {
        if (!parse_seconds(v, &o->stall_timeout))
            return serve_usage_error("--stall-timeout wants seconds (0 or more), not '%s'", v);
    } else if ((v = opt_value(argc, argv, i, "--first-request-timeout", &missing)) != NULL) {
        if (!parse_seconds(v, &o->first_request_timeout) || o->first_request_timeout == 0)
            return serve_usage_error(
                "--first-request-timeout wants seconds (more than 0), not '%s'", v);
    } else if ((v = opt_value(argc, argv, i, "--log-max-bytes", &missing)) != NULL) {
        if (!parse_bytes(v, &o->log_max_bytes) || o->log_max_bytes < SERVE_MIN_LOG_BYTES)
            return serve_usage_error("--log-max-bytes wants a size of at least 1024 bytes (k, "
                                     "m, g suffixes allowed), not '%s'",
                                     v);
    } else if ((v = opt_value(argc, argv, i, "--log-level", &missing)) != NULL) {
        if (!parse_log_level(v, &o->log_level))
            return serve_usage_error("--log-level wants all, sessions or problems, not '%s'", v);
    } else if ((v = opt_value(argc, argv, i, "--max-extents", &missing)) != NULL) {
        if (!parse_count(v, 1000000, &o->max_extents))
            return serve_usage_error("--max-extents wants a number from 1 to 1000000, not '%s'", v);
    } else if ((v = opt_value(argc, argv, i, "--sip-max-calls", &missing)) != NULL) {
        if (!parse_count(v, 100000, &o->sip_max_calls))
            return serve_usage_error("--sip-max-calls wants a number from 1 to 100000, not '%s'",
                                     v);
    } else if ((v = opt_value(argc, argv, i, "--sip-expires", &missing)) != NULL) {
        if (!parse_count(v, 86400, &o->sip_expires) || o->sip_expires < 10)
            return serve_usage_error("--sip-expires wants seconds from 10 to 86400, not '%s'", v);
    } else if ((v = opt_value(argc, argv, i, "--sip-bind-timeout", &missing)) != NULL) {
        if (!parse_seconds(v, &o->sip_bind_timeout) || o->sip_bind_timeout == 0)
            return serve_usage_error("--sip-bind-timeout wants seconds (more than 0), not '%s'",
                                     v);
    } else if ((v = opt_value(argc, argv, i, "--bind-timeout", &missing)) != NULL) {
        if (!parse_seconds(v, &o->bind_timeout))
            return serve_usage_error("--bind-timeout wants seconds (0 or more), not '%s'", v);
    } else if (missing) {
        return EXIT_USAGE; /* opt_value said which */
    } else {
        return serve_usage_error("unknown option or argument '%s'", argv[*i]);
    }
    return -1;
}

/* How the options combine, once all are read. Returns -1 when they do, else the exit code. */
static int check_combinations(const struct serve_opts *o)
{
    if (o->listen == NULL)
        return serve_usage_error("%s", "--listen HOST:PORT is required");
    if ((o->cert != NULL) != (o->key != NULL))
        return serve_usage_error("%s", "--cert and --key go together");
    if (o->log_max_bytes > 0 && o->log == NULL)
        return serve_usage_error("%s", "--log-max-bytes needs --log FILE (standard output "
                                       "cannot be rotated)");
    if ((o->cert != NULL) && !o->tls)
        return serve_usage_error("%s", "--cert and --key need --tls");
    if (o->sessions != 0 && (size_t)o->sessions < o->nids)
        return serve_usage_error("%s", "--sessions is smaller than the number of --session-id");
    if (o->sip == NULL && (o->sip_register != NULL || o->sip_user != NULL ||
                           o->sip_password_file != NULL || o->sip_max_calls != 0 ||
                           o->sip_bind_timeout != 0 || o->sip_expires != 0))
        return serve_usage_error("%s", "the --sip-* options need --sip URI");
    if (o->sip != NULL && o->ws)
        return serve_usage_error("%s", "--sip does not go with --ws (the SDP of MSRP over "
                                       "WebSocket is not supported)");
    if (o->sip_register != NULL && (o->sip_user == NULL || o->sip_password_file == NULL))
        return serve_usage_error("%s", "--sip-register needs --sip-user and "
                                       "--sip-password-file");
    if (o->sip_register == NULL && o->sip_expires != 0)
        return serve_usage_error("%s", "--sip-expires needs --sip-register");
    return -1;
}

/*
 * Splits HOST:PORT ([v6]:PORT for IPv6). host gets the bare host; uri_host the form a URI
 * wants (brackets kept). Returns false on a malformed address.
 */
static bool split_listen(const char *s, char *host, size_t hostlen, char *uri_host, size_t urilen,
                         uint16_t *port)
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

/* A SIP user part as the agent writes it: no spaces, quotes, angle brackets, '@' or ':'. */
static bool valid_sip_user(const char *u)
{
    return u[0] != '\0' && strlen(u) < 64 && strpbrk(u, " \t\r\n\"<>@:;") == NULL;
}

/*
 * --sip sip:[USER@]HOST[:PORT][;transport=udp|tcp]: HOST an IPv4 literal or [IPv6] (the agent
 * binds it, so no name), PORT 5060 when left out (RFC 3261 section 19.1.1, from memory, as
 * sip_addr_from_uri()). Returns -1, or the exit code of a usage error.
 */
static int read_sip_uri(struct serve_opts *o)
{
    const char *u = o->sip;
    if (strncasecmp(u, "sip:", 4) != 0)
        return serve_usage_error("--sip wants sip:HOST:PORT[;transport=udp|tcp] (sips: and "
                                 "TLS are not supported), not '%s'", u);
    const char *p = u + 4;
    const char *at = strchr(p, '@');
    char user[64] = "";
    if (at != NULL) {
        if ((size_t)(at - p) >= sizeof(user))
            return serve_usage_error("--sip %s: the user part is too long", u);
        memcpy(user, p, (size_t)(at - p));
        user[at - p] = '\0';
        if (!valid_sip_user(user))
            return serve_usage_error("--sip %s: not a usable user part", u);
        p = at + 1;
    }
    const char *params = strchr(p, ';');
    size_t hp_len = params != NULL ? (size_t)(params - p) : strlen(p);
    char hostport[128];
    if (hp_len == 0 || hp_len >= sizeof(hostport))
        return serve_usage_error("--sip %s: no host, or a host too long", u);
    memcpy(hostport, p, hp_len);
    hostport[hp_len] = '\0';
    char *port_s = NULL;
    if (hostport[0] == '[') {
        char *close = strchr(hostport, ']');
        if (close == NULL)
            return serve_usage_error("--sip %s: an IPv6 host wants [ADDRESS]", u);
        *close = '\0';
        snprintf(o->sip_host, sizeof(o->sip_host), "%s", hostport + 1);
        if (close[1] == ':')
            port_s = close + 2;
        else if (close[1] != '\0')
            return serve_usage_error("--sip %s: junk after the IPv6 host", u);
    } else {
        char *colon = strchr(hostport, ':');
        if (colon != NULL) {
            *colon = '\0';
            port_s = colon + 1;
        }
        snprintf(o->sip_host, sizeof(o->sip_host), "%s", hostport);
    }
    unsigned char addr[16];
    if (inet_pton(AF_INET, o->sip_host, addr) != 1 && inet_pton(AF_INET6, o->sip_host, addr) != 1)
        return serve_usage_error("--sip %s: the host must be a numeric address (the agent "
                                 "listens on it)", u);
    o->sip_port = 5060;
    if (port_s != NULL) {
        char *end;
        errno = 0;
        long port = strtol(port_s, &end, 10);
        if (errno != 0 || end == port_s || *end != '\0' || port < 0 || port > 65535)
            return serve_usage_error("--sip %s: the port is not a number from 0 to 65535", u);
        o->sip_port = (uint16_t)port;
    }
    o->sip_kind = SIP_TP_UDP;
    while (params != NULL) {
        const char *next = strchr(params + 1, ';');
        size_t n = next != NULL ? (size_t)(next - params - 1) : strlen(params + 1);
        const char *param = params + 1;
        if (n == 13 && strncasecmp(param, "transport=udp", 13) == 0)
            o->sip_kind = SIP_TP_UDP;
        else if (n == 13 && strncasecmp(param, "transport=tcp", 13) == 0)
            o->sip_kind = SIP_TP_TCP;
        else
            return serve_usage_error("--sip %s: only the parameter transport=udp or "
                                     "transport=tcp is understood", u);
        params = next;
    }
    const char *name = o->sip_user != NULL ? o->sip_user : user[0] != '\0' ? user : "msrpload";
    if (!valid_sip_user(name))
        return serve_usage_error("--sip-user '%s' is not a usable user part (no spaces, quotes, "
                                 "<, >, @, : or ;)", name);
    snprintf(o->sip_user_part, sizeof(o->sip_user_part), "%s", name);
    return -1;
}

/* --sip-password-file: its first line, without the line end. Returns -1, or the exit code. */
static int read_sip_password(struct serve_opts *o)
{
    const char *path = o->sip_password_file;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "msrpload serve: --sip-password-file %s: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    char line[sizeof(o->sip_password) + 2];
    bool got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    size_t n = got ? strcspn(line, "\r\n") : 0;
    if (n == 0 || n >= sizeof(o->sip_password)) {
        fprintf(stderr,
                "msrpload serve: --sip-password-file %s: line 1 holds no password, or one "
                "longer than %zu bytes\n",
                path, sizeof(o->sip_password) - 1);
        return EXIT_USAGE;
    }
    memcpy(o->sip_password, line, n);
    o->sip_password[n] = '\0';
    return -1;
}

/* Is host (as written in URIs, IPv6 in brackets) 0.0.0.0 or ::, the "any" address? */
static bool host_unspecified(const char *host)
{
    char bare[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(host);
    if (host[0] == '[' && n >= 2 && n - 2 < sizeof(bare)) {
        memcpy(bare, host + 1, n - 2);
        bare[n - 2] = '\0';
    } else if (n < sizeof(bare)) {
        memcpy(bare, host, n + 1);
    } else {
        return false; /* too long for an address */
    }
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, bare, &a4) == 1)
        return a4.s_addr == htonl(INADDR_ANY);
    return inet_pton(AF_INET6, bare, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6);
}

/*
 * What the options name, checked in this order: the listening address (--listen, its host
 * resolved, and --uri-host), the session ids, --alt against --violate, --accept-types
 * (its commas made spaces), --sip's URI and the password file. Returns -1 when all is well,
 * else the exit code.
 */
static int check_names(struct serve_opts *o)
{
    if (!split_listen(o->listen, o->host, sizeof(o->host), o->host_in_uris, sizeof(o->host_in_uris),
                      &o->port))
        return serve_usage_error("--listen wants HOST:PORT (IPv6 as [::1]:PORT), not '%s'",
                                 o->listen);
    if (o->uri_host != NULL) {
        bool v6 = strchr(o->uri_host, ':') != NULL && o->uri_host[0] != '[';
        snprintf(o->host_in_uris, sizeof(o->host_in_uris), v6 ? "[%s]" : "%s", o->uri_host);
    }
    if (o->sip != NULL && host_unspecified(o->host_in_uris))
        /* RFC 4975 section 8.1 (MUST): c= is set to the address from the a=path URI, and a
         * peer connects to that URI: 0.0.0.0 / :: there reach nobody. */
        return serve_usage_error("--sip with --listen %s would write an unspecified address "
                                 "into the SDP's c= and a=path; give --uri-host HOST (the "
                                 "address callers reach serve at) or --listen on one address",
                                 o->listen);
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (net_addr_resolve(o->host, o->port, &ss, &sslen) != 0) {
        fprintf(stderr, "msrpload serve: cannot resolve '%s' (from --listen %s)\n", o->host,
                o->listen);
        return EXIT_USAGE;
    }
    if (o->nids == 1 && strchr(o->ids[0], '%') != NULL) {
        /* A numbered family of ids (run --target 'msrp://.../s%d;tcp' fills in the same). */
        char first[128], last[128];
        uint64_t n = o->sessions != 0 ? o->sessions : 1;
        bool ok = scenario_target_format(o->ids[0], 0, first, sizeof(first));
        scenario_target_format(o->ids[0], n - 1, last, sizeof(last));
        if (!ok || !valid_session_id(first) || !valid_session_id(last))
            return serve_usage_error("--session-id %s: a pattern holds one %%d, %%u or %%0Nd "
                                     "in session-id characters (RFC 4975 section 9)",
                                     o->ids[0]);
        o->id_pattern = o->ids[0];
        o->nids = 0;
    }
    for (size_t i = 0; i < o->nids; i++) {
        if (!valid_session_id(o->ids[i]))
            return serve_usage_error("'%s' is not a session-id (RFC 4975 section 9)", o->ids[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->ids[i], o->ids[j]) == 0)
                return serve_usage_error("--session-id %s is given twice", o->ids[i]);
    }
    if (o->alt && o->violate != NULL)
        return serve_usage_error("--alt and --violate do not go together%s", "");
    if (o->accept_types != NULL) {
        if (strlen(o->accept_types) >= sizeof(o->accept_list))
            return serve_usage_error("%s", "--accept-types is too long");
        strcpy(o->accept_list, o->accept_types);
        for (char *p = o->accept_list; *p != '\0'; p++)
            if (*p == ',')
                *p = ' ';
    } else {
        strcpy(o->accept_list, "*");
    }
    if (o->accept_wrapped_types != NULL) {
        if (strlen(o->accept_wrapped_types) >= sizeof(o->wrapped_list))
            return serve_usage_error("%s", "--accept-wrapped-types is too long");
        strcpy(o->wrapped_list, o->accept_wrapped_types);
        for (char *p = o->wrapped_list; *p != '\0'; p++)
            if (*p == ',')
                *p = ' ';
    }
    int stop = o->sip != NULL ? read_sip_uri(o) : -1;
    if (stop < 0 && o->sip_password_file != NULL)
        stop = read_sip_password(o);
    return stop;
}

int serve_read_options(int argc, char **argv, struct serve_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->idle_timeout = SERVE_IDLE_TIMEOUT_S;
    o->stall_timeout = SERVE_STALL_TIMEOUT_S;
    o->first_request_timeout = SERVE_FIRST_REQUEST_TIMEOUT_S;
    o->ids = calloc((size_t)argc, sizeof(*o->ids));
    if (o->ids == NULL)
        return EXIT_FAILED;
    for (int i = 1; i < argc; i++) {
        int stop = read_option(argc, argv, &i, o);
        if (stop >= 0)
            return stop;
    }
    int stop = check_combinations(o);
    if (stop >= 0)
        return stop;
    /* Defaults of the --sip-* options, once it is known they were not given. */
    if (o->sip_max_calls == 0)
        o->sip_max_calls = SERVE_SIP_MAX_CALLS;
    if (o->sip_bind_timeout == 0)
        o->sip_bind_timeout = SERVE_SIP_BIND_TIMEOUT_S;
    if (o->sip_expires == 0)
        o->sip_expires = SERVE_SIP_EXPIRES_S;
    return check_names(o);
}

void serve_free_options(struct serve_opts *o)
{
    free(o->ids);
    o->ids = NULL;
}
